"""Build the student edition of the lessons: solutions replaced by stubs, outputs cleared, the rest unchanged.

    .venv/bin/python -m vae_course.student_edition OUTDIR                # from the repository root
    .venv/bin/python -m vae_course.student_edition --links --repo-url https://github.com/OWNER/REPO

In every code cell, the lines from `### BEGIN SOLUTION` to `### END SOLUTION` (markers included) become
one line, `raise NotImplementedError("Exercise: write your solution here")`, indented like the BEGIN
marker; in a Markdown cell they become "*Your answer here.*". Every output, execution count and
execution timing is cleared, and so is the saved widget state; every other cell, its id and its metadata
are copied unchanged. Each notebook is marked as the student edition (a first Markdown cell and
`metadata.vae_course.edition = "student"`), and the folder gets a `conftest.py` that stops pytest and
nbval from running the stubs by accident. The build refuses to write into a folder pytest collects
notebooks from (the repository's notebooks/ and tests/) and into a non-empty folder unless forced.

The Colab and Binder links of the course are built here too, from one constant, REPO_URL.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

import nbformat

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
CODE_STUB = 'raise NotImplementedError("Exercise: write your solution here")'
MARKDOWN_STUB = "*Your answer here.*"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]

# The public repository. Its URL is not known yet: set it here once, and every link follows.
REPO_URL = "https://github.com/OWNER/vae-course"
BRANCH = "main"

BANNER_ID = "student-edition-banner"
BANNER = ("> **Student edition.** The solutions of the exercises are removed: each cell that says "
          "`raise NotImplementedError(...)` is yours to fill in, and the cell after it checks your answer. "
          "Run the lesson top to bottom first; outputs appear as you go.")
CONFTEST = '''"""The student edition: its exercise cells raise NotImplementedError until they are solved.

pytest (and nbval) must not run these notebooks as tests; the course's own notebooks are tested instead.
"""

collect_ignore_glob = ["*.ipynb"]
'''
README = """# vae-course: student edition

These are the lessons of vae-course with the exercise solutions removed. Each exercise has a cell that
raises `NotImplementedError("Exercise: write your solution here")`: replace that line with your solution,
run the cell, then run the check cell after it, which tells you what is right or what is off.

Install the course package first (`pip install -e .` in the course repository, or run the notebook's
install cell on Colab), then open the notebooks in order, starting at 00.
"""


# ----------------------------------------------------------------------------------------------
# One cell, one notebook


def strip_solutions(source: str, where: str, *, stub: str = CODE_STUB) -> str:
    """`source` with each block from BEGIN to END SOLUTION (markers included) replaced by `stub`.

    The stub takes the indentation of the BEGIN marker. Unbalanced or nested markers are a ValueError
    naming `where` (the notebook and the cell).
    """
    out: list[str] = []
    begin_line: int | None = None
    for number, line in enumerate(source.split("\n"), start=1):
        if BEGIN_MARKER in line:
            if begin_line is not None:
                raise ValueError(f"{where}: {BEGIN_MARKER!r} on line {number} inside the solution opened on line "
                                 f"{begin_line}; close it with {END_MARKER!r} first")
            begin_line = number
            out.append(line[: len(line) - len(line.lstrip())] + stub)
        elif END_MARKER in line:
            if begin_line is None:
                raise ValueError(f"{where}: {END_MARKER!r} on line {number} without a {BEGIN_MARKER!r} before it")
            begin_line = None
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise ValueError(f"{where}: {BEGIN_MARKER!r} on line {begin_line} has no {END_MARKER!r} after it")
    return "\n".join(out)


def has_solution(cell) -> bool:
    """True for a cell that holds a solution block."""
    return BEGIN_MARKER in cell.source or END_MARKER in cell.source


def student_notebook(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The student edition of one notebook (a new object; `nb` is not changed)."""
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        where = f"{name}, cell {index} (id {cell.get('id', '?')})"
        if has_solution(cell):
            if cell.cell_type == "raw":
                raise ValueError(f"{where}: solution markers in a raw cell; put the solution in a code cell")
            cell.source = strip_solutions(cell.source, where,
                                          stub=CODE_STUB if cell.cell_type == "code" else MARKDOWN_STUB)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)  # the timings of the last run
    student.metadata.pop("widgets", None)  # the saved widget state belongs to the outputs
    student.metadata["vae_course"] = {"edition": "student", "source": name}
    banner = nbformat.v4.new_markdown_cell(BANNER, metadata={"vae_course": {"role": "edition-banner"}})
    banner["id"] = BANNER_ID
    student.cells.insert(0, banner)
    nbformat.validate(student)
    return student


# ----------------------------------------------------------------------------------------------
# The whole edition


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _check_out_dir(out_dir: Path, source_dir: Path, force: bool) -> None:
    forbidden = {source_dir, REPOSITORY_ROOT / "notebooks", REPOSITORY_ROOT / "tests"}
    for folder in sorted(forbidden):
        if _inside(out_dir, folder.resolve()):
            raise ValueError(f"out_dir must not lie inside {folder}: pytest would collect the stubs there as "
                             f"notebooks to test, got {out_dir}")
    if _inside(source_dir, out_dir):
        raise ValueError(f"out_dir must not contain the source notebooks ({source_dir}), got {out_dir}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir must be a folder, got the file {out_dir}")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise ValueError(f"out_dir {out_dir} is not empty; choose a new folder or pass force=True (--force) "
                         "to overwrite the edition's files in it")


def find_notebooks(source_dir: str | Path) -> list[Path]:
    """The lessons in `source_dir`, in order: files named NN_something.ipynb."""
    return sorted(Path(source_dir).glob(NOTEBOOK_GLOB))


def build_student_edition(out_dir: str | Path, source_dir: str | Path | None = None, *,
                          force: bool = False, checkpoints: bool = False) -> list[Path]:
    """Write the student edition of every lesson in `source_dir` (default: the repository's notebooks/)
    into `out_dir`, with a README.md and a conftest.py; return the notebooks written.

    checkpoints=True also copies the trained models in `source_dir`/checkpoints/*.pt, so that lessons
    06 and later load them instead of training (see docs/TEACHING.md).
    """
    source_dir = Path(REPOSITORY_ROOT / "notebooks" if source_dir is None else source_dir).resolve()
    out_dir = Path(out_dir).resolve()
    notebooks = find_notebooks(source_dir)
    if not notebooks:
        raise ValueError(f"source_dir must hold lessons named NN_name.ipynb, found none in {source_dir}")
    _check_out_dir(out_dir, source_dir, force)
    editions = [(path.name, student_notebook(nbformat.read(path, as_version=4), path.name)) for path in notebooks]
    out_dir.mkdir(parents=True, exist_ok=True)  # only once every notebook has been converted
    written = []
    for name, nb in editions:
        nbformat.write(nb, out_dir / name)
        written.append(out_dir / name)
    (out_dir / "README.md").write_text(README, encoding="utf-8")
    (out_dir / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    if checkpoints:
        saved = sorted((source_dir / "checkpoints").glob("*.pt"))
        if not saved:
            raise ValueError(f"checkpoints=True but {source_dir / 'checkpoints'} holds no .pt files: "
                             "run lessons 06 and later once to train them")
        (out_dir / "checkpoints").mkdir(exist_ok=True)
        for path in saved:
            shutil.copy2(path, out_dir / "checkpoints" / path.name)
    return written


# ----------------------------------------------------------------------------------------------
# Colab and Binder links


def _github_path(repo_url: str) -> str:
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repo_url)
    if match is None:
        raise ValueError(f"repo_url must look like https://github.com/OWNER/REPO, got {repo_url!r}")
    return f"{match.group(1)}/{match.group(2)}"


def colab_url(notebook: str, repo_url: str = REPO_URL, branch: str = BRANCH, folder: str = "notebooks") -> str:
    """The link that opens `folder/notebook` of the GitHub repository in Google Colab."""
    return f"https://colab.research.google.com/github/{_github_path(repo_url)}/blob/{branch}/{folder}/{notebook}"


def binder_url(notebook: str, repo_url: str = REPO_URL, branch: str = BRANCH, folder: str = "notebooks") -> str:
    """The link that builds the repository on mybinder.org and opens `folder/notebook` in JupyterLab."""
    return (f"https://mybinder.org/v2/gh/{_github_path(repo_url)}/{branch}"
            f"?labpath={quote(f'{folder}/{notebook}', safe='')}")


def badges(notebook: str, repo_url: str = REPO_URL, branch: str = BRANCH, folder: str = "notebooks") -> str:
    """One Markdown line with the two badges, for the README's table and the top of the notebook."""
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(notebook, repo_url, branch, folder)}) "
            f"[![Launch on Binder](https://mybinder.org/badge_logo.svg)]({binder_url(notebook, repo_url, branch, folder)})")


def colab_install_cell(repo_url: str = REPO_URL, branch: str = BRANCH) -> str:
    """The code cell that installs the course package on Colab and does nothing anywhere else."""
    return (
        "# On Google Colab only: install the course package (elsewhere `make lab` has done it already).\n"
        "import sys\n"
        "if \"google.colab\" in sys.modules:\n"
        "    import subprocess\n"
        "    from google.colab import output\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\",\n"
        f"                    \"vae-course @ git+{repo_url}@{branch}\"], check=True)\n"
        "    output.enable_custom_widget_manager()  # Colab draws ipywidgets 8 with it"
    )


def links_report(source_dir: str | Path | None = None, repo_url: str = REPO_URL, branch: str = BRANCH) -> str:
    """The badge line of every lesson, as Markdown, for the README and the notebooks' first cells."""
    source_dir = REPOSITORY_ROOT / "notebooks" if source_dir is None else Path(source_dir)
    lines = [f"{path.name}: {badges(path.name, repo_url, branch)}" for path in find_notebooks(source_dir)]
    return "\n".join(lines + ["", "Colab install cell:", colab_install_cell(repo_url, branch)])


# ----------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_course.student_edition", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?", help="the folder to write the student edition into")
    parser.add_argument("--source", default=None, help="the lessons' folder (default: the repository's notebooks/)")
    parser.add_argument("--force", action="store_true", help="overwrite the edition's files in a non-empty folder")
    parser.add_argument("--checkpoints", action="store_true",
                        help="also copy the trained models in the lessons' checkpoints/ folder")
    parser.add_argument("--links", action="store_true", help="print the Colab and Binder badges of every lesson")
    parser.add_argument("--repo-url", default=REPO_URL, help=f"the public GitHub repository (default {REPO_URL})")
    parser.add_argument("--branch", default=BRANCH, help=f"the branch the links open (default {BRANCH})")
    args = parser.parse_args(argv)
    if args.links:
        print(links_report(args.source, args.repo_url, args.branch))
        return 0
    if args.out_dir is None:
        parser.error("give the folder to write the student edition into (or --links)")
    try:
        written = build_student_edition(args.out_dir, args.source, force=args.force, checkpoints=args.checkpoints)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote the student edition of {len(written)} lessons to {Path(args.out_dir).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
