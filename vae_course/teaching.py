"""Teachers' tools: keep the lessons' exercises ready for nbgrader, Colab and the student edition.

    python -m vae_course.teaching sync notebooks/            # write the nbgrader metadata and the Colab cell
    python -m vae_course.teaching sync notebooks/ --check    # change nothing; exit 1 when a lesson is out of step
    python -m vae_course.teaching exercises notebooks/       # list every exercise, its grade ids and its form
    python -m vae_course.teaching course ~/class/grading     # lay out an nbgrader course of the lessons

An exercise is a code cell holding a block from `### BEGIN SOLUTION` to `### END SOLUTION` (its solution
cell) and the code cell right after it, which checks the answer with `vae_course.checks` (its check cell).
`sync` gives every solution cell nbgrader's "autograded answer" metadata and every check cell nbgrader's
"autograded tests" metadata with points, under grade ids made from the lesson's number and the exercise's
place in it (`lesson02-ex1-solution`, `lesson02-ex1-check`), so running it twice changes nothing and nobody
edits the JSON by hand. A check cell tagged `points-2` (any number) is worth that many points; the
default is 1. A Markdown cell with the markers is a written answer, graded by hand. `sync` owns the cells'
`nbgrader` metadata: it removes it from cells that are no longer part of an exercise.

`sync` also puts a first code cell in every lesson that installs the course on Google Colab and does nothing
anywhere else (`colab_install_source`). The repository it installs from comes from `--repo-url`, or from
`git remote get-url origin` when that is a GitHub repository, or else from the cell as it stands; a lesson
published before the course has a GitHub home gets a cell that says so on Colab instead of failing obscurely.

The form the stubs need (checked by `exercise_form_problems`, and explained in CONTRIBUTING.md): a
function's `def` line and docstring stay outside the markers, which sit inside its body, so the stub
`raise NotImplementedError(...)` leaves the function defined; a value exercise first assigns each asked-for
name `= None` outside the markers, so that a check on the untouched stub finds the name.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import nbformat

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
CODE_STUB = 'raise NotImplementedError("Exercise: write your solution here")'
MARKDOWN_STUB = "*Your answer here.*"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
BRANCH = "main"
NBGRADER_SCHEMA_VERSION = 3
DEFAULT_POINTS = 1
POINTS_TAG = re.compile(r"^points-(\d+(?:\.\d+)?)$")
COLAB_CELL_ID = "colab-install"
COLAB_ROLE = "colab-install"


# ----------------------------------------------------------------------------------------------
# Exercises: where they are


@dataclass
class Exercise:
    """One exercise of a lesson: its solution cell and, for code, the check cell right after it."""

    number: int  # 1, 2, ... in the order of the lesson
    solution: int  # index of the solution cell
    check: int | None  # index of the check cell (None for a written answer in Markdown)
    written: bool = False  # a Markdown answer, graded by hand

    def grade_id(self, lesson: str, part: str) -> str:
        return f"lesson{lesson_number(lesson)}-ex{self.number}-{part}"


def lesson_number(name: str) -> str:
    """'02_kl_1d_gaussians.ipynb' -> '02'; a ValueError for a name that is not NN_something."""
    match = re.match(r"^(\d\d)_", Path(name).name)
    if match is None:
        raise ValueError(f"name must be a lesson's file name NN_something.ipynb, got {name!r}")
    return match.group(1)


def has_solution(cell) -> bool:
    """True for a cell that holds a solution block (or a stray marker)."""
    return BEGIN_MARKER in cell.source or END_MARKER in cell.source


def find_notebooks(source_dir: str | Path) -> list[Path]:
    """The lessons in `source_dir`, in order: files named NN_something.ipynb."""
    return sorted(Path(source_dir).glob(NOTEBOOK_GLOB))


def find_exercises(nb: nbformat.NotebookNode, name: str) -> list[Exercise]:
    """Every exercise of a lesson, in order. A ValueError names the cell when a solution cell is not
    followed by a check cell, or when the markers sit in a raw cell or in a check cell."""
    found: list[Exercise] = []
    for index, cell in enumerate(nb.cells):
        if not has_solution(cell):
            continue
        where = f"{name}, cell {index} (id {cell.get('id', '?')})"
        solution_blocks(cell.source, where)  # balanced markers, or a ValueError
        if cell.cell_type == "raw":
            raise ValueError(f"{where}: solution markers in a raw cell; put the solution in a code cell")
        if cell.cell_type == "markdown":
            found.append(Exercise(len(found) + 1, index, None, written=True))
            continue
        check = next((j for j in range(index + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"), None)
        if check is None:
            raise ValueError(f"{where}: a solution cell needs a check cell after it (a code cell that calls "
                             "vae_course.checks); found none")
        if has_solution(nb.cells[check]):
            raise ValueError(f"{where}: the code cell after a solution must check it, but cell {check} holds "
                             "another solution")
        found.append(Exercise(len(found) + 1, index, check))
    return found


def solution_blocks(source: str, where: str) -> list[tuple[int, int]]:
    """(BEGIN line, END line) of each block, 0-based; a ValueError naming `where` for unbalanced markers."""
    blocks, begin = [], None
    for number, line in enumerate(source.split("\n")):
        if BEGIN_MARKER in line:
            if begin is not None:
                raise ValueError(f"{where}: {BEGIN_MARKER!r} on line {number + 1} inside the solution opened on "
                                 f"line {begin + 1}; close it with {END_MARKER!r} first")
            begin = number
        elif END_MARKER in line:
            if begin is None:
                raise ValueError(f"{where}: {END_MARKER!r} on line {number + 1} without a {BEGIN_MARKER!r} "
                                 "before it")
            blocks.append((begin, number))
            begin = None
    if begin is not None:
        raise ValueError(f"{where}: {BEGIN_MARKER!r} on line {begin + 1} has no {END_MARKER!r} after it")
    return blocks


# ----------------------------------------------------------------------------------------------
# Stubs: what the student edition puts in place of each block


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _enclosing_function(lines: list[str], begin: int) -> str | None:
    """The name of the function whose body holds the marker on line `begin`, if any."""
    depth = len(_indent(lines[begin]))
    for line in reversed(lines[:begin]):
        if line.strip() and len(_indent(line)) < depth:
            match = re.match(r"\s*(?:async\s+)?def\s+(\w+)\s*\(", line)
            if match:
                return match.group(1)
            depth = len(_indent(line))
            if depth == 0:
                return None
    return None


def _none_names(code: str) -> list[str]:
    """Names assigned `None` at the top level of `code` (the value exercises' placeholders)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is None:
            for target in node.targets:
                for element in (target.elts if isinstance(target, ast.Tuple) else [target]):
                    if isinstance(element, ast.Name):
                        names.append(element.id)
    return names


def stub_line(lines: list[str], begin: int, end: int) -> str:
    """The line that replaces the block from `begin` to `end`: a raise that says what to write there.

    Inside a function: "write the body of NAME". At the top level, where the cell first assigns `None` to
    names that the block computes: "compute NAME, ... here". Otherwise the plain CODE_STUB.
    """
    indent = _indent(lines[begin])
    function = _enclosing_function(lines, begin) if indent else None
    if function:
        return f'{indent}raise NotImplementedError("Exercise: write the body of {function} here")'
    outside = "\n".join(line for i, line in enumerate(lines) if i < begin and not indent)
    inside = textwrap.dedent("\n".join(lines[begin + 1:end]))
    asked = [name for name in _none_names(outside) if name in _bound_names(inside)]
    if asked:
        return f'{indent}raise NotImplementedError("Exercise: compute {", ".join(asked)} here")'
    return indent + CODE_STUB


def strip_solutions(source: str, where: str, *, markdown: bool = False) -> str:
    """`source` with each block from BEGIN to END SOLUTION (markers included) replaced by its stub.

    Code gets one `raise NotImplementedError(...)` line indented like the BEGIN marker (see `stub_line`);
    Markdown gets MARKDOWN_STUB. Unbalanced or nested markers are a ValueError naming `where`.
    """
    lines = source.split("\n")
    blocks = solution_blocks(source, where)
    out, previous = [], 0
    for begin, end in blocks:
        out += lines[previous:begin]
        out.append(_indent(lines[begin]) + MARKDOWN_STUB if markdown else stub_line(lines, begin, end))
        previous = end + 1
    return "\n".join(out + lines[previous:])


# ----------------------------------------------------------------------------------------------
# The form of an exercise: would its stub leave the check a name to call, or a NameError?


class _Bindings(ast.NodeVisitor):
    """Names a piece of code binds in its own scope, and names it reads (without entering functions)."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.read: set[str] = set()
        self.functions: list[str] = []

    def visit_Name(self, node: ast.Name) -> None:
        (self.bound if isinstance(node.ctx, (ast.Store, ast.Del)) else self.read).add(node.id)

    def visit_FunctionDef(self, node) -> None:
        self.bound.add(node.name)
        self.functions.append(node.name)
        for default in node.args.defaults + node.args.kw_defaults:
            if default is not None:
                self.visit(default)
        for decorator in node.decorator_list:
            self.visit(decorator)
        # the body reads names too (a function that uses a global it never defines)
        inner = _Bindings()
        for statement in node.body:
            inner.visit(statement)
        arguments = {a.arg for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs}
        arguments |= {a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None}
        self.read |= inner.read - inner.bound - arguments

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.bound.add(node.name)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        inner = _Bindings()
        inner.visit(node.body)
        self.read |= inner.read - {a.arg for a in node.args.args}

    def visit_Import(self, node) -> None:
        for alias in node.names:
            self.bound.add((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import


def _scan(code: str) -> _Bindings | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:  # IPython magics and the like: nothing to learn from this cell
        return None
    found = _Bindings()
    found.visit(tree)
    return found


def _bound_names(code: str) -> set[str]:
    found = _scan(code)
    return found.bound if found else set()


def exercise_form_problems(nb: nbformat.NotebookNode, name: str) -> list[str]:
    """What keeps each exercise's stub from leaving the check cell something to call: one line each.

    - a `def` inside the markers at the top level: the stub removes the function, so the check meets a
      NameError instead of "replace the stub";
    - a name that the block computes and that is read after it (later in the cell or in the check cell)
      but bound nowhere outside the markers: the same NameError. Assign it `= None` before the block.
    The analysis runs on the student edition's cells, in order, so earlier stubs count as stubs.
    """
    problems: list[str] = []
    available: set[str] = set()
    exercises = {e.solution: e for e in find_exercises(nb, name)}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        exercise = exercises.get(index)
        if exercise is None:
            available |= _bound_names(cell.source)
            continue
        where = f"{name} exercise {exercise.number} (cell {index})"
        lines = cell.source.split("\n")
        blocks = solution_blocks(cell.source, where)
        in_blocks: set[str] = set()
        for begin, end in blocks:
            if _indent(lines[begin]):
                continue  # inside a function body: nothing it binds leaves the function
            block = _scan("\n".join(lines[begin + 1:end]))
            if block is None:
                problems.append(f"{where}: the solution block is not valid Python on its own")
                continue
            for function in block.functions:
                problems.append(f"{where}: `def {function}` is inside the markers; keep the def line (and "
                                f"docstring) outside and put the markers inside its body")
            in_blocks |= block.bound - set(block.functions)
        stubbed = _scan(strip_solutions(cell.source, where))
        stub_binds = stubbed.bound if stubbed else set()
        check = _scan(nb.cells[exercise.check].source)
        after_end = _scan("\n".join(lines[blocks[-1][1] + 1:])) if blocks else None
        read_after = (check.read - check.bound if check else set()) | (after_end.read if after_end else set())
        dangling = sorted((in_blocks & read_after) - stub_binds - available)
        for variable in dangling:
            problems.append(f"{where}: `{variable}` is computed only inside the markers but read after them; "
                            f"assign `{variable} = None` (with a comment on what it should hold) before "
                            f"{BEGIN_MARKER!r}")
        available |= stub_binds | (check.bound if check else set())
    return problems


# ----------------------------------------------------------------------------------------------
# nbgrader metadata


def _points(cell) -> float | int:
    for tag in cell.get("metadata", {}).get("tags", []):
        match = POINTS_TAG.match(tag)
        if match:
            value = float(match.group(1))
            return int(value) if value.is_integer() else value
    return DEFAULT_POINTS


def nbgrader_metadata(nb: nbformat.NotebookNode, name: str) -> dict[int, dict]:
    """The nbgrader metadata each cell of the lesson should carry, by cell index (other cells: none)."""
    wanted: dict[int, dict] = {}
    for exercise in find_exercises(nb, name):
        if exercise.written:  # a written answer: nbgrader's "manually graded answer"
            wanted[exercise.solution] = {
                "grade": True, "grade_id": exercise.grade_id(name, "answer"), "locked": False,
                "points": _points(nb.cells[exercise.solution]), "schema_version": NBGRADER_SCHEMA_VERSION,
                "solution": True, "task": False}
            continue
        wanted[exercise.solution] = {
            "grade": False, "grade_id": exercise.grade_id(name, "solution"), "locked": False,
            "schema_version": NBGRADER_SCHEMA_VERSION, "solution": True, "task": False}
        wanted[exercise.check] = {
            "grade": True, "grade_id": exercise.grade_id(name, "check"), "locked": True,
            "points": _points(nb.cells[exercise.check]), "schema_version": NBGRADER_SCHEMA_VERSION,
            "solution": False, "task": False}
    return wanted


# ----------------------------------------------------------------------------------------------
# Where the course is published: GitHub URLs, badges, the Colab cell


def github_repository(url: str) -> str | None:
    """'https://github.com/OWNER/REPO' for any GitHub remote URL (https, ssh, scp-like, with or without
    .git or credentials), None for anything else (another host, a local path)."""
    url = url.strip()
    patterns = (r"https?://(?:[^@/]+@)?github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?",
                r"(?:ssh://)?git@github\.com[:/]([\w.-]+)/([\w.-]+?)(?:\.git)?/?")
    for pattern in patterns:
        match = re.fullmatch(pattern, url)
        if match:
            return f"https://github.com/{match.group(1)}/{match.group(2)}"
    return None


def _redact(url: str) -> str:
    """A remote URL without any user name or token in it, for messages."""
    return re.sub(r"(https?://)[^@/]+@", r"\1", url)


def repository_from_git(root: str | Path = REPOSITORY_ROOT) -> tuple[str | None, str]:
    """(the GitHub URL of `git remote get-url origin`, a sentence saying what was found).

    The URL is None when there is no git, no remote called origin, or a remote that is not on GitHub;
    the sentence then says so and what to do.
    """
    try:
        done = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"],
                              capture_output=True, text=True, timeout=20)
    except (FileNotFoundError, subprocess.TimeoutExpired) as error:
        return None, f"git could not be asked for the repository's remote ({type(error).__name__})"
    if done.returncode != 0:
        return None, ("this checkout has no git remote 'origin', so the course does not know where it is "
                      "published (add one with `git remote add origin https://github.com/OWNER/REPO`)")
    remote = done.stdout.strip()
    url = github_repository(remote)
    if url is None:
        return None, (f"the git remote 'origin' ({_redact(remote)}) is not a GitHub repository; Colab and "
                      "Binder links need one")
    return url, f"the course is published at {url} (git remote 'origin')"


def _github_path(repo_url: str) -> str:
    url = github_repository(repo_url)
    if url is None:
        raise ValueError(f"repo_url must look like https://github.com/OWNER/REPO, got {_redact(repo_url)!r}")
    return url.removeprefix("https://github.com/")


def colab_url(notebook: str, repo_url: str, branch: str = BRANCH, folder: str = "notebooks") -> str:
    """The link that opens `folder/notebook` of the GitHub repository in Google Colab."""
    return f"https://colab.research.google.com/github/{_github_path(repo_url)}/blob/{branch}/{folder}/{notebook}"


def binder_url(notebook: str, repo_url: str, branch: str = BRANCH, folder: str = "notebooks") -> str:
    """The link that builds the repository on mybinder.org and opens `folder/notebook` in JupyterLab."""
    return (f"https://mybinder.org/v2/gh/{_github_path(repo_url)}/{branch}"
            f"?labpath={quote(f'{folder}/{notebook}', safe='')}")


def badges(notebook: str, repo_url: str, branch: str = BRANCH, folder: str = "notebooks") -> str:
    """One Markdown line with the Colab and Binder badges of a lesson."""
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(notebook, repo_url, branch, folder)}) "
            f"[![Launch on Binder](https://mybinder.org/badge_logo.svg)]({binder_url(notebook, repo_url, branch, folder)})")


_COLAB_HEAD = ("# Google Colab only: install the course package there. Anywhere else this cell does nothing\n"
               "# (`make lab` or conda installed the course already).\n"
               "import sys\n"
               "if \"google.colab\" in sys.modules:\n")


def colab_install_source(repo_url: str | None, branch: str = BRANCH) -> str:
    """The first code cell of every lesson: installs the course on Colab, does nothing elsewhere.

    Outside Colab it only reads `sys.modules` (no import of anything new, no output). With `repo_url`
    None (a course not yet published on GitHub) it raises on Colab with a sentence that says why.
    """
    if repo_url is None:
        return _COLAB_HEAD + (
            "    raise RuntimeError(\"this copy of the course does not say which GitHub repository it comes from, \"\n"
            "                       \"so Colab cannot install it; the teacher runs \"\n"
            "                       \"`python -m vae_course.teaching sync notebooks/` after publishing it\")")
    url = github_repository(repo_url)
    if url is None:
        raise ValueError(f"repo_url must look like https://github.com/OWNER/REPO, got {_redact(repo_url)!r}")
    if not re.fullmatch(r"[\w./-]+", branch):
        raise ValueError(f"branch must be a plain branch name, got {branch!r}")
    return _COLAB_HEAD + (
        "    import subprocess\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\",\n"
        f"                    \"vae-course @ git+{url}@{branch}\"], check=True)\n"
        "    from google.colab import output\n"
        "    output.enable_custom_widget_manager()  # Colab draws ipywidgets 8 with it")


def parse_colab_source(source: str) -> tuple[str | None, str] | None:
    """(repo_url, branch) of a Colab cell this module wrote, or None if `source` is not one."""
    match = re.search(r"\"vae-course @ git\+(https://github\.com/[\w.-]+/[\w.-]+)@([\w./-]+)\"", source)
    found = (match.group(1), match.group(2)) if match else (None, BRANCH)
    return found if source == colab_install_source(*found) else None


def is_colab_cell(cell) -> bool:
    return cell.get("id") == COLAB_CELL_ID or cell.get("metadata", {}).get("vae_course", {}).get("role") == COLAB_ROLE


def colab_cell(repo_url: str | None, branch: str = BRANCH) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(colab_install_source(repo_url, branch),
                                     metadata={"vae_course": {"role": COLAB_ROLE}})
    cell["id"] = COLAB_CELL_ID
    return cell


# ----------------------------------------------------------------------------------------------
# Sync: put every lesson in step


@dataclass
class SyncResult:
    name: str
    changes: list[str] = field(default_factory=list)


def sync_notebook(nb: nbformat.NotebookNode, name: str, *, colab: bool = True, repo_url: str | None = None,
                  branch: str | None = None) -> list[str]:
    """Bring one lesson in step, in place; return what changed (an empty list: it was in step).

    - nbgrader metadata on every exercise cell as `nbgrader_metadata` says, and on no other cell;
    - with colab=True, the Colab install cell first among the code cells: for `repo_url` (default: the
      URL the cell has now), on `branch` (default: the cell's, else main).
    Cell ids, outputs and every other piece of metadata are left as they are.
    """
    changes: list[str] = []
    if colab:
        present = [i for i, cell in enumerate(nb.cells) if is_colab_cell(cell)]
        current = parse_colab_source(nb.cells[present[0]].source) if present else None
        url = repo_url if repo_url is not None else (current[0] if current else None)
        wanted = colab_cell(url, branch or (current[1] if current else BRANCH))
        first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and not is_colab_cell(c)),
                          len(nb.cells))
        placed_right = (len(present) == 1 and present[0] < first_code
                        and all(c.cell_type != "code" for c in nb.cells[:present[0]]))
        if placed_right and nb.cells[present[0]].source == wanted.source \
                and nb.cells[present[0]].metadata.get("vae_course") == wanted.metadata["vae_course"]:
            pass
        else:
            for i in reversed(present):
                del nb.cells[i]
            first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
            nb.cells.insert(first_code, wanted)
            changes.append("Colab install cell " + ("updated" if present else "added"))
    wanted_meta = nbgrader_metadata(nb, name)
    for index, cell in enumerate(nb.cells):
        want = wanted_meta.get(index)
        have = cell.metadata.get("nbgrader")
        if want is None and have is not None:
            del cell.metadata["nbgrader"]
            changes.append(f"cell {index}: nbgrader metadata removed (not part of an exercise)")
        elif want is not None and have != want:
            cell.metadata["nbgrader"] = want
            changes.append(f"cell {index}: nbgrader {want['grade_id']} " + ("updated" if have else "added"))
    return changes


def sync(source_dir: str | Path, *, check: bool = False, colab: bool = True, repo_url: str | None = None,
         branch: str | None = None) -> list[SyncResult]:
    """Sync every lesson in `source_dir`; with check=True change no file, only report.

    Every lesson is read and brought in step in memory first; files are written only when all of them
    could be, and a file in step is not rewritten.
    """
    results, pending = [], []
    paths = find_notebooks(source_dir)
    if not paths:
        raise ValueError(f"source_dir must hold lessons named NN_name.ipynb, found none in {Path(source_dir).resolve()}")
    for path in paths:
        nb = read_notebook(path)
        changes = sync_notebook(nb, path.name, colab=colab, repo_url=repo_url, branch=branch)
        results.append(SyncResult(path.name, changes))
        if changes:
            nbformat.validate(nb)
            pending.append((path, nb))
    if not check:
        for path, nb in pending:
            nbformat.write(nb, path)
    return results


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """A notebook, or a ValueError naming the file (merge-conflict markers, broken JSON, wrong format)."""
    try:
        return nbformat.read(path, as_version=4)
    except (json.JSONDecodeError, nbformat.reader.NotJSONError) as error:
        raise ValueError(f"{path} is not a readable notebook ({error}); look for merge-conflict markers") from None
    except Exception as error:  # nbformat's validation and version errors
        raise ValueError(f"{path} is not a readable notebook: {type(error).__name__}: {error}") from None


# ----------------------------------------------------------------------------------------------
# An nbgrader course directory


NBGRADER_CONFIG = '''"""nbgrader configuration for vae-course (written by python -m vae_course.teaching course)."""

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = {course_id!r}
# the stub that replaces each solution, as in the course's student edition; the check after it then says
# "replace the stub" with its hint
c.ClearSolutions.code_stub = {{"python": {stub!r}}}
c.ClearSolutions.text_stub = {text_stub!r}
# the lessons run offline, from the bundled digits, and lessons 06 on may train for a few minutes
c.Execute.timeout = 900
'''


def lay_out_course(course_dir: str | Path, source_dir: str | Path | None = None, *, lessons: list[str] | None = None,
                   course_id: str = "vae-course", force: bool = False) -> list[Path]:
    """Write an nbgrader course: `course_dir`/nbgrader_config.py and source/<lesson>/<lesson>.ipynb for
    each lesson (one assignment per lesson, named after its file), synced on the way; return the
    notebooks written. `lessons` picks some by file name or number ("02"); default all.
    """
    source_dir = Path(REPOSITORY_ROOT / "notebooks" if source_dir is None else source_dir)
    course_dir = Path(course_dir)
    paths = find_notebooks(source_dir)
    if lessons is not None:
        paths = [p for p in paths if p.name in lessons or p.stem in lessons or p.name[:2] in lessons]
        if not paths:
            raise ValueError(f"lessons must name lessons in {source_dir}, got {lessons!r}")
    if not paths:
        raise ValueError(f"source_dir must hold lessons named NN_name.ipynb, found none in {source_dir}")
    if course_dir.exists() and any(course_dir.iterdir()) and not force:
        raise ValueError(f"course_dir {course_dir} is not empty; choose a new folder or pass force=True (--force)")
    notebooks = []
    for path in paths:
        nb = read_notebook(path)
        sync_notebook(nb, path.name, colab=False)
        notebooks.append((path, nb))
    written = []
    for path, nb in notebooks:
        target = course_dir / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        for cache in ("checkpoints",):  # trained models, so that lessons 06 on need not train while grading
            if (path.parent / cache).is_dir() and not (target.parent / cache).exists():
                shutil.copytree(path.parent / cache, target.parent / cache)
        written.append(target)
    (course_dir / "nbgrader_config.py").write_text(
        NBGRADER_CONFIG.format(course_id=course_id, stub=CODE_STUB, text_stub=MARKDOWN_STUB), encoding="utf-8")
    return written


# ----------------------------------------------------------------------------------------------
# Command line


def _exercise_report(source_dir: Path) -> str:
    lines = []
    for path in find_notebooks(source_dir):
        nb = read_notebook(path)
        problems = exercise_form_problems(nb, path.name)
        for exercise in find_exercises(nb, path.name):
            ids = [exercise.grade_id(path.name, "answer")] if exercise.written else \
                [exercise.grade_id(path.name, "solution"), exercise.grade_id(path.name, "check")]
            where = f"{path.name} exercise {exercise.number} "
            mine = [p.split(": ", 1)[1] for p in problems if p.startswith(where)]
            form = "ok" if not mine else "old form: " + "; ".join(mine)
            lines.append(f"{path.name}  ex{exercise.number}  cells {exercise.solution}"
                         f"{'' if exercise.check is None else f'+{exercise.check}'}  {' '.join(ids)}  {form}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_course.teaching", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sync_cmd = commands.add_parser("sync", help="write the nbgrader metadata and the Colab cell into every lesson")
    sync_cmd.add_argument("source", nargs="?", default=str(REPOSITORY_ROOT / "notebooks"), help="the lessons' folder")
    sync_cmd.add_argument("--check", action="store_true", help="change nothing; exit 1 if a lesson is out of step")
    sync_cmd.add_argument("--no-colab", action="store_true", help="leave the Colab install cell alone")
    sync_cmd.add_argument("--repo-url", default=None,
                          help="the GitHub repository the Colab cell installs from (default: git remote 'origin')")
    sync_cmd.add_argument("--branch", default=None, help=f"the branch it installs (default: the cell's, else {BRANCH})")
    list_cmd = commands.add_parser("exercises", help="list every exercise, its grade ids and whether its form suits the stubs")
    list_cmd.add_argument("source", nargs="?", default=str(REPOSITORY_ROOT / "notebooks"))
    course_cmd = commands.add_parser("course", help="lay out an nbgrader course directory of the lessons")
    course_cmd.add_argument("course_dir")
    course_cmd.add_argument("--source", default=None, help="the lessons' folder (default: the repository's notebooks/)")
    course_cmd.add_argument("--lessons", nargs="*", default=None, help="lesson numbers or file names (default: all)")
    course_cmd.add_argument("--course-id", default="vae-course")
    course_cmd.add_argument("--force", action="store_true", help="write into a non-empty folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "exercises":
            print(_exercise_report(Path(args.source)))
            return 0
        if args.command == "course":
            written = lay_out_course(args.course_dir, args.source, lessons=args.lessons, course_id=args.course_id,
                                     force=args.force)
            print(f"wrote {len(written)} assignments to {Path(args.course_dir).resolve()}/source; next, there: "
                  f"nbgrader generate_assignment {written[0].parent.name}")
            return 0
        repo_url = args.repo_url
        if repo_url is None and not args.no_colab and not args.check:
            repo_url, message = repository_from_git()
            print(f"Colab cell: {message}" + ("" if repo_url else "; the cells keep the repository they name, if any"))
        results = sync(args.source, check=args.check, colab=not args.no_colab, repo_url=repo_url, branch=args.branch)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    changed = [r for r in results if r.changes]
    for result in changed:
        print(f"{result.name}: " + "; ".join(result.changes))
    if args.check:
        if changed:
            print(f"{len(changed)} of {len(results)} lessons are out of step: run "
                  "`python -m vae_course.teaching sync notebooks/`", file=sys.stderr)
            return 1
        print(f"all {len(results)} lessons are in step")
        return 0
    print(f"{len(changed)} of {len(results)} lessons changed" if changed else f"all {len(results)} lessons were in step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
