"""The student edition: built from the real lessons, valid, without solutions, and every check fails on its stub.

The lessons are found when pytest collects this file (notebooks/NN_*.ipynb), so a new lesson is tested
as soon as it lands. Executing the exercises runs each lesson twice, once per edition, cell by cell in
the venv's kernel, and records which cells raised. Lessons from 06 on train models and take minutes:
they are executed only with VAE_COURSE_SLOW=1 (their structure is always tested).

Stubs that help: once a lesson's exercises have the form the stubs need (a function's `def` outside the
markers, each asked-for value assigned `= None` before them; `teaching.exercise_form_problems`), every check
run on an untouched stub must say "replace the stub" (with its hint), never NameError. A lesson whose
exercises are still in the old form is skipped by those tests, and the skip names each exercise and what to
change. Every lesson is converted, so OLD_FORM_FAILS is True: an exercise in the old form fails, and a
lesson can never slip back.
"""

import asyncio
import concurrent.futures
import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from vae_course import student_edition as se
from vae_course import teaching

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
LESSONS = se.find_notebooks(NOTEBOOK_DIR)
FIRST_TRAINING_LESSON = 6
SLOW = os.environ.get("VAE_COURSE_SLOW") == "1"
CELL_TIMEOUT_S = 300
STUB_FAILURE = ("NotImplementedError", "replace the stub")
STUB_RAISE = 'raise NotImplementedError("Exercise: '
# True: every lesson is in the stubs' form, so an exercise in the old form fails (it skipped while lessons were converted).
OLD_FORM_FAILS = True


def lesson_param(path: Path):
    slow = int(path.name[:2]) >= FIRST_TRAINING_LESSON and not SLOW
    marks = [pytest.mark.skip(reason="trains models: run with VAE_COURSE_SLOW=1")] if slow else []
    return pytest.param(path, id=path.stem, marks=marks)


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def exercises(nb: nbformat.NotebookNode, name: str = "lesson") -> list[tuple[int, int]]:
    """(solution cell, check cell) index pairs of the code exercises (teaching.find_exercises)."""
    return [(e.solution, e.check) for e in teaching.find_exercises(nb, name) if not e.written]


def old_form(nb: nbformat.NotebookNode, name: str) -> None:
    """Skip (or fail, with OLD_FORM_FAILS) when exercises of the lesson are not yet in the stubs' form."""
    problems = teaching.exercise_form_problems(nb, name)
    if problems:
        message = (f"{len(problems)} exercise problem(s) still in the old form, so their stubs leave names "
                   "undefined:\n  " + "\n  ".join(problems))
        (pytest.fail if OLD_FORM_FAILS else pytest.skip)(message)


def solution_lines(source: str) -> list[str]:
    """The non-blank lines strictly between the markers."""
    lines, inside = [], False
    for line in source.split("\n"):
        if teaching.BEGIN_MARKER in line:
            inside = True
        elif teaching.END_MARKER in line:
            inside = False
        elif inside and line.strip():
            lines.append(line)
    return lines


@pytest.fixture(scope="module")
def lessons(tmp_path_factory) -> Path:
    """A copy of the lessons taken once: edits made while the tests run cannot mix two versions."""
    folder = tmp_path_factory.mktemp("lessons")
    for path in LESSONS:
        shutil.copy2(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def edition(lessons, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition") / "student"
    written = se.build_student_edition(out, lessons)
    assert [p.name for p in written] == [p.name for p in LESSONS]
    return out


# ---------------------------------------------------------------------------------------------
# Every lesson has checked exercises


@pytest.mark.parametrize("lesson", [pytest.param(p, id=p.stem) for p in LESSONS])
def test_lesson_ends_with_two_to_four_checked_exercises(lessons, lesson):
    nb = read(lessons / lesson.name)
    pairs = exercises(nb)
    assert 2 <= len(pairs) <= 4, f"{lesson.name} has {len(pairs)} exercises with solutions, wanted 2 to 4"
    headings = [i for i, c in enumerate(nb.cells)
                if c.cell_type == "markdown" and any(line.strip() == "## Exercises" for line in c.source.split("\n"))]
    assert headings and headings[-1] < pairs[0][0], f"{lesson.name}: the exercises must follow a '## Exercises' heading"


# ---------------------------------------------------------------------------------------------
# The built edition: valid, marked, cleared, without solutions, otherwise identical


@pytest.mark.parametrize("lesson", [pytest.param(p, id=p.stem) for p in LESSONS])
def test_edition_is_valid_marked_and_cleared(edition, lesson):
    nb = read(edition / lesson.name)
    nbformat.validate(nb)
    assert nb.metadata["vae_course"] == {"edition": "student", "source": lesson.name}
    assert "widgets" not in nb.metadata
    assert nb.cells[0].id == se.BANNER_ID and "Student edition" in nb.cells[0].source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None and "execution" not in cell.metadata


@pytest.mark.parametrize("lesson", [pytest.param(p, id=p.stem) for p in LESSONS])
def test_no_solution_survives(lessons, edition, lesson):
    original, student = read(lessons / lesson.name), read(edition / lesson.name)
    text = "\n".join(cell.source for cell in student.cells)
    assert teaching.BEGIN_MARKER not in text and teaching.END_MARKER not in text
    for solution_index, _ in exercises(original):
        cell = student.cells[solution_index + 1]
        block = solution_lines(original.cells[solution_index].source)
        assert block, f"{lesson.name} cell {solution_index}: an empty solution"
        assert "\n".join(block) not in text, f"{lesson.name} cell {solution_index}: the solution is still there"
        leaked = [line for line in block if line in cell.source.split("\n")]
        assert not leaked, f"{lesson.name} cell {solution_index}: solution lines left in the stub cell: {leaked}"
        assert STUB_RAISE in cell.source


@pytest.mark.parametrize("lesson", [pytest.param(p, id=p.stem) for p in LESSONS])
def test_everything_else_is_identical(lessons, edition, lesson):
    original, student = read(lessons / lesson.name), read(edition / lesson.name)
    assert len(student.cells) == len(original.cells) + 1
    assert {k: v for k, v in student.metadata.items() if k != "vae_course"} == \
        {k: v for k, v in original.metadata.items() if k != "widgets"}
    for index, (before, after) in enumerate(zip(original.cells, student.cells[1:])):
        assert (after.cell_type, after.id) == (before.cell_type, before.id), f"cell {index}"
        assert after.metadata == {k: v for k, v in before.metadata.items() if k != "execution"}, f"cell {index}"
        assert after.get("attachments") == before.get("attachments"), f"cell {index}"
        if not se.has_solution(before):
            assert after.source == before.source, f"{lesson.name} cell {index} changed"
            continue
        # around the block, the solution cell is unchanged: same lines before BEGIN and after END
        lines, stub_lines = before.source.split("\n"), after.source.split("\n")
        begin = next(i for i, line in enumerate(lines) if teaching.BEGIN_MARKER in line)
        end = next(i for i, line in enumerate(lines) if teaching.END_MARKER in line)
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        assert stub_lines[:begin] == lines[:begin]
        assert stub_lines[begin] == teaching.stub_line(lines, begin, end)
        assert stub_lines[begin].startswith(indent + STUB_RAISE)
        if before.source.count(teaching.BEGIN_MARKER) == 1:
            assert stub_lines[begin + 1:] == lines[end + 1:]


def test_pytest_does_not_collect_the_edition(edition):
    done = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--collect-only", "-q",
                           "-p", "no:cacheprovider", str(edition)],
                          cwd=edition, capture_output=True, text=True, timeout=120)
    assert done.returncode == 5, f"expected 'no tests collected' (exit 5):\n{done.stdout}\n{done.stderr}"


# ---------------------------------------------------------------------------------------------
# Executing the exercises: solutions pass their checks, stubs fail them


_runs: dict[str, dict[str, list[dict | None]]] = {}


async def errors_by_cell(nb: nbformat.NotebookNode) -> list[dict | None]:
    """Run every cell in order in a fresh kernel, going on after errors; the error output of each cell."""
    nb = copy.deepcopy(nb)
    env = {**os.environ, "VAE_COURSE_DATA": os.environ.get("VAE_COURSE_DATA", "offline")}  # no download attempts
    await NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                         resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).async_execute(env=env)
    return [next((o for o in cell.get("outputs", []) if o.output_type == "error"), None) for cell in nb.cells]


async def _run_both(solutions: nbformat.NotebookNode, student: nbformat.NotebookNode) -> dict:
    results = await asyncio.gather(errors_by_cell(solutions), errors_by_cell(student))
    return dict(zip(("solutions", "student"), results))


def run(lessons: Path, edition: Path, lesson: Path, which: str) -> list[dict | None]:
    """The errors of one edition of a lesson; both editions run once, side by side, in two kernels."""
    if lesson.name not in _runs:
        both = _run_both(read(lessons / lesson.name), read(edition / lesson.name))
        # a thread of its own: asyncio.run refuses to start where another loop runs (e.g. playwright's)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            _runs[lesson.name] = pool.submit(asyncio.run, both).result()
    return _runs[lesson.name][which]


def describe(error: dict) -> str:
    return f"{error['ename']}: {error['evalue']}"


@pytest.mark.parametrize("lesson", [lesson_param(p) for p in LESSONS])
def test_solutions_pass_their_checks(lessons, edition, lesson):
    errors = run(lessons, edition, lesson, "solutions")
    failed = {i: describe(e) for i, e in enumerate(errors) if e is not None}
    assert not failed, f"{lesson.name}: cells that raised with the solutions in place: {failed}"


@pytest.mark.parametrize("lesson", [lesson_param(p) for p in LESSONS])
def test_stubs_fail_their_checks_and_nothing_else_fails(lessons, edition, lesson):
    errors = run(lessons, edition, lesson, "student")[1:]  # drop the banner: indices now match the original's
    exercise_cells = set()
    for solution, check in exercises(read(lessons / lesson.name)):
        cells = range(solution, check + 1)
        exercise_cells.update(cells)
        first = next((errors[i] for i in cells if errors[i] is not None), None)
        assert first is not None, f"{lesson.name}: nothing fails on the stub of the exercise in cell {solution}"
        assert any(s in describe(first) for s in STUB_FAILURE), \
            f"{lesson.name} cell {solution}: the stub's first failure does not point at the stub: {describe(first)}"
        assert errors[check] is not None, \
            f"{lesson.name}: the check in cell {check} passes on the stub, so it cannot fail"
    others = {i: describe(e) for i, e in enumerate(errors) if e is not None and i not in exercise_cells}
    assert not others, f"{lesson.name}: cells outside the exercises fail in the student edition: {others}"


# ---------------------------------------------------------------------------------------------
# The pieces, on small made-up notebooks


def notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) if not c.startswith("#md ") else nbformat.v4.new_markdown_cell(c[4:])
                for c in cells]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i}"
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="out\n")]
            cell.execution_count = i + 1
            cell.metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
            cell.metadata["tags"] = ["keep-me"]
    return nb


def test_strip_keeps_the_def_and_raises_inside_the_body():
    source = ('def f(x):\n    """Add one."""\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n'
              '    ### END SOLUTION\nprint(f)')
    stub = 'def f(x):\n    """Add one."""\n    raise NotImplementedError("Exercise: write the body of f here")\nprint(f)'
    assert se.strip_solutions(source, "nb") == stub
    namespace: dict = {}
    exec(stub.replace("print(f)", ""), namespace)  # the stub still defines f, and calling it says what to do
    with pytest.raises(NotImplementedError, match="write the body of f"):
        namespace["f"](1)


def test_strip_names_the_values_a_top_level_block_must_compute():
    source = ("b_star = None  # the b < 0.5 with KL = 0.1\nn = None\n### BEGIN SOLUTION\nb_star = 0.29\nn = 4\n"
              "### END SOLUTION\nprint(b_star)")
    assert se.strip_solutions(source, "nb") == ("b_star = None  # the b < 0.5 with KL = 0.1\nn = None\n"
                                                'raise NotImplementedError("Exercise: compute b_star, n here")\n'
                                                "print(b_star)")


def test_strip_handles_two_blocks_and_module_level_assignments():
    source = "### BEGIN SOLUTION\na = 1\n### END SOLUTION\nb = 2\n### BEGIN SOLUTION\nc = 3\n### END SOLUTION"
    assert se.strip_solutions(source, "nb") == f"{teaching.CODE_STUB}\nb = 2\n{teaching.CODE_STUB}"


def test_the_form_check_finds_defs_and_names_the_stub_would_remove():
    old = notebook("x = 2",
                   "### BEGIN SOLUTION\ndef f(x):\n    return x\nvalue = f(x)\nhelper = 1\n### END SOLUTION",
                   "check_function(f, abs, [(1,)])\ncheck_value('value', value, 2)")
    problems = teaching.exercise_form_problems(old, "03_demo.ipynb")
    assert len(problems) == 2 and all(p.startswith("03_demo.ipynb exercise 1 (cell 1): ") for p in problems)
    assert "`def f` is inside the markers" in problems[0] and "`value = None`" in problems[1]
    new = notebook("x = 2",
                   "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
                   "value = None  # f(x)\n### BEGIN SOLUTION\nvalue = f(x)\nhelper = 1\n### END SOLUTION",
                   "check_function(f, abs, [(1,)])\ncheck_value('value', value, 2)")
    assert teaching.exercise_form_problems(new, "03_demo.ipynb") == []


@pytest.mark.parametrize(("source", "problem"), [
    ("### BEGIN SOLUTION\nx = 1", "'### BEGIN SOLUTION' on line 1 has no '### END SOLUTION' after it"),
    ("x = 1\n### END SOLUTION", "'### END SOLUTION' on line 2 without a '### BEGIN SOLUTION' before it"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "on line 2 inside the solution opened on line 1"),
])
def test_unbalanced_markers_name_the_notebook_and_the_cell(source, problem):
    nb = notebook("x = 0", source)
    with pytest.raises(ValueError, match=r"03_demo\.ipynb, cell 1 \(id c1\): .*" + re.escape(problem)):
        se.student_notebook(nb, "03_demo.ipynb")


def test_student_notebook_clears_outputs_and_widget_state_and_keeps_the_rest():
    nb = notebook("x = 0", "### BEGIN SOLUTION\ny = 1\n### END SOLUTION", "#md Some *text*.")
    student = se.student_notebook(nb, "03_demo.ipynb")
    assert nb.cells[0].outputs, "the input notebook must not be changed"
    assert [c.source for c in student.cells[1:]] == ["x = 0", teaching.CODE_STUB, "Some *text*."]
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
    assert all(c.metadata == {"tags": ["keep-me"]} for c in student.cells if c.cell_type == "code")
    assert "widgets" not in student.metadata and student.metadata["vae_course"]["edition"] == "student"


def test_markdown_answers_become_a_prompt():
    nb = notebook("#md Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")
    assert se.student_notebook(nb, "x.ipynb").cells[1].source == f"Why?\n{teaching.MARKDOWN_STUB}"


def test_build_refuses_folders_that_pytest_collects_and_non_empty_folders(tmp_path):
    source = tmp_path / "lessons"
    source.mkdir()
    nbformat.write(notebook("### BEGIN SOLUTION\ny = 1\n### END SOLUTION"), source / "00_demo.ipynb")
    for bad in (se.REPOSITORY_ROOT / "notebooks" / "student", se.REPOSITORY_ROOT / "tests" / "student",
                source / "student"):
        with pytest.raises(ValueError, match="out_dir must not lie inside"):
            se.build_student_edition(bad, source)
        assert not bad.exists()
    with pytest.raises(ValueError, match="out_dir must not contain the source notebooks"):
        se.build_student_edition(tmp_path, source)
    with pytest.raises(ValueError, match="source_dir must hold lessons named NN_name.ipynb"):
        se.build_student_edition(tmp_path / "out", tmp_path / "empty")
    out = tmp_path / "out"
    assert [p.name for p in se.build_student_edition(out, source)] == ["00_demo.ipynb"]
    assert sorted(p.name for p in out.iterdir()) == ["00_demo.ipynb", "README.md", "conftest.py"]
    with pytest.raises(ValueError, match="is not empty"):
        se.build_student_edition(out, source)
    se.build_student_edition(out, source, force=True)


def test_checkpoints_are_copied_only_on_request(tmp_path):
    source = tmp_path / "lessons"
    (source / "checkpoints").mkdir(parents=True)
    nbformat.write(notebook("y = 1"), source / "06_demo.ipynb")
    with pytest.raises(ValueError, match="holds no .pt files"):
        se.build_student_edition(tmp_path / "a", source, checkpoints=True)
    (source / "checkpoints" / "06_vae.pt").write_bytes(b"weights")
    se.build_student_edition(tmp_path / "b", source)
    assert not (tmp_path / "b" / "checkpoints").exists()
    se.build_student_edition(tmp_path / "c", source, checkpoints=True)
    assert (tmp_path / "c" / "checkpoints" / "06_vae.pt").read_bytes() == b"weights"


def test_a_broken_lesson_writes_nothing(tmp_path):
    source = tmp_path / "lessons"
    source.mkdir()
    nbformat.write(notebook("y = 1"), source / "00_good.ipynb")
    nbformat.write(notebook("### BEGIN SOLUTION\ny = 1"), source / "01_bad.ipynb")
    with pytest.raises(ValueError, match=r"01_bad\.ipynb, cell 0"):
        se.build_student_edition(tmp_path / "out", source)
    assert not (tmp_path / "out").exists()


def test_command_line_builds_and_reports_errors(tmp_path):
    source = tmp_path / "lessons"
    source.mkdir()
    nbformat.write(notebook("### BEGIN SOLUTION\ny = 1\n### END SOLUTION"), source / "00_demo.ipynb")
    assert se.main([str(tmp_path / "out"), "--source", str(source)]) == 0
    assert (tmp_path / "out" / "00_demo.ipynb").is_file()
    assert se.main([str(tmp_path / "out"), "--source", str(source)]) == 2  # not empty


# ---------------------------------------------------------------------------------------------
# The README and the Colab cell


def test_readme_mentions_the_colab_cell_only_when_the_lessons_have_one(tmp_path):
    source = tmp_path / "lessons"
    source.mkdir()
    nb = notebook("### BEGIN SOLUTION\ny = 1\n### END SOLUTION", "check(y)")
    nbformat.write(nb, source / "00_demo.ipynb")
    se.build_student_edition(tmp_path / "plain", source)
    readme = (tmp_path / "plain" / "README.md").read_text()
    assert "Colab" not in readme and "make lab" in readme and "replace the stub" in readme
    teaching.sync_notebook(nb, "00_demo.ipynb")
    nbformat.write(nb, source / "00_demo.ipynb")
    se.build_student_edition(tmp_path / "colab", source, repo_url="https://github.com/ada/vae-student")
    readme = (tmp_path / "colab" / "README.md").read_text()
    assert "On Google Colab, the first code cell of each lesson installs the package" in readme
    cell = read(tmp_path / "colab" / "00_demo.ipynb").cells[1]
    assert teaching.is_colab_cell(cell) and "git+https://github.com/ada/vae-student@main" in cell.source


# ---------------------------------------------------------------------------------------------
# Stubs that help: the form of the exercises, and what each check says on its untouched stub


@pytest.mark.parametrize("lesson", [pytest.param(p, id=p.stem) for p in LESSONS])
def test_every_stub_leaves_the_names_its_check_reads(lessons, lesson):
    old_form(read(lessons / lesson.name), lesson.name)


def check_calls_a_hint(source: str) -> bool:
    return re.search(r"\bhint\s*=", source) is not None


@pytest.mark.parametrize("lesson", [lesson_param(p) for p in LESSONS])
def test_every_check_on_its_stub_says_replace_the_stub(lessons, edition, lesson):
    original = read(lessons / lesson.name)
    old_form(original, lesson.name)
    errors = run(lessons, edition, lesson, "student")[1:]
    wrong = []
    for solution, check in exercises(original, lesson.name):
        error = errors[check]
        if error is None:
            wrong.append(f"cell {check}: the check passed on the stub")
            continue
        text = describe(error)
        if error["ename"] != "AssertionError" or "replace the stub" not in text:
            wrong.append(f"cell {check}: {text[:300]}")
        elif check_calls_a_hint(original.cells[check].source) and "hint:" not in text:
            wrong.append(f"cell {check}: says 'replace the stub' without the check's hint: {text[:300]}")
    assert not wrong, f"{lesson.name}: checks that do not say 'replace the stub' on an untouched stub:\n" + \
        "\n".join(wrong)


def test_an_unreadable_lesson_is_named(tmp_path):
    source = tmp_path / "lessons"
    source.mkdir()
    (source / "02_conflict.ipynb").write_text('<<<<<<< HEAD\n{"cells": []}\n=======\n{}\n>>>>>>> theirs\n')
    with pytest.raises(ValueError, match=r"02_conflict\.ipynb is not a readable notebook .*merge-conflict markers"):
        se.build_student_edition(tmp_path / "out", source)
    assert not (tmp_path / "out").exists()
