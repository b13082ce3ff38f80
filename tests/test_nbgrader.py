"""Real nbgrader on two lessons: generate the release, autograde a scripted submission, validate stubs.

The lessons are copied into a temporary nbgrader course (`vae_course.teaching.lay_out_course`, which
syncs their metadata on the way); the repository's notebooks are only read. For each lesson a student
submits the release with one exercise solved (its solution cell copied back from the source) and the rest
left as stubs; autograde must give exactly that exercise's points. `nbgrader validate` must fail a
notebook of stubs and pass one with every solution in place.

nbgrader comes with the `teach` extra (`make install-teach`). Without it these tests skip, saying so;
with VAE_COURSE_TEACH=require (set by CI) they fail instead.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from vae_course import teaching

ROOT = Path(__file__).resolve().parents[1]
# two lessons that run in seconds; each entry: the exercise the scripted student solves
LESSONS = {"01_kl_divergence": 1, "02_kl_1d_gaussians": 2}
STUDENT = "ada"


def _missing_nbgrader() -> str | None:
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        return "nbgrader is not installed: `make install-teach` (pip install -e '.[teach]') installs it"
    return None


MISSING = _missing_nbgrader()
REQUIRED = os.environ.get("VAE_COURSE_TEACH") == "require"
pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=MISSING or "")


@pytest.fixture(autouse=True)
def _nbgrader_required():
    if MISSING:
        pytest.fail(f"VAE_COURSE_TEACH=require but {MISSING}")


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the nbgrader command line in `course`; its helpers (alembic) come from this Python's bin/."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "VAE_COURSE_DATA": os.environ.get("VAE_COURSE_DATA", "offline")}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def graded_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.get("metadata", {})}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """An nbgrader course with the two lessons generated and one student's submission autograded."""
    course = tmp_path_factory.mktemp("nbgrader-course")
    teaching.lay_out_course(course, lessons=list(LESSONS), force=True)
    for lesson, solved in LESSONS.items():
        nbgrader(course, "generate_assignment", lesson)
        release = nbformat.read(course / "release" / lesson / f"{lesson}.ipynb", as_version=4)
        source = graded_cells(nbformat.read(course / "source" / lesson / f"{lesson}.ipynb", as_version=4))
        solution_id = f"lesson{lesson[:2]}-ex{solved}-solution"
        graded_cells(release)[solution_id].source = source[solution_id].source  # the student solves one
        submitted = course / "submitted" / STUDENT / lesson / f"{lesson}.ipynb"
        submitted.parent.mkdir(parents=True)
        nbformat.write(release, submitted)
        nbgrader(course, "autograde", lesson, "--student", STUDENT)
    return course


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_release_has_stubs_and_locked_checks(course, lesson):
    source = nbformat.read(course / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    release = nbformat.read(course / "release" / lesson / f"{lesson}.ipynb", as_version=4)
    text = "\n".join(c.source for c in release.cells)
    assert teaching.BEGIN_MARKER not in text and teaching.END_MARKER not in text
    exercises = teaching.find_exercises(source, f"{lesson}.ipynb")
    cells = graded_cells(release)
    for exercise in exercises:
        assert teaching.CODE_STUB in cells[exercise.grade_id(lesson, "solution")].source
        check = cells[exercise.grade_id(lesson, "check")]
        assert check.metadata["nbgrader"]["locked"] and check.metadata["nbgrader"]["checksum"]
        assert check.source == source.cells[exercise.check].source


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_autograde_gives_the_points_of_the_solved_exercise_only(course, lesson):
    from nbgrader.api import Gradebook

    solved = LESSONS[lesson]
    source = nbformat.read(course / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    exercises = teaching.find_exercises(source, f"{lesson}.ipynb")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission_notebook(lesson, lesson, STUDENT)
        scores = {grade.name: (grade.auto_score, grade.max_score) for grade in submission.grades}
        total, maximum = submission.score, submission.max_score
    assert scores == {e.grade_id(lesson, "check"): (1.0 if e.number == solved else 0.0, 1.0) for e in exercises}
    assert (total, maximum) == (1.0, float(len(exercises)))


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_validate_fails_stubs_and_passes_solutions(course, lesson, tmp_path):
    release = nbformat.read(course / "release" / lesson / f"{lesson}.ipynb", as_version=4)
    stubs = tmp_path / f"{lesson}-stubs.ipynb"
    nbformat.write(release, stubs)
    done = nbgrader(course, "validate", str(stubs))
    assert "VALIDATION FAILED" in done.stdout and "Success!" not in done.stdout, done.stdout[-2000:]
    source = graded_cells(nbformat.read(course / "source" / lesson / f"{lesson}.ipynb", as_version=4))
    for grade_id, cell in graded_cells(release).items():
        if grade_id.endswith("-solution"):
            cell.source = source[grade_id].source
    solved = tmp_path / f"{lesson}-solved.ipynb"
    nbformat.write(release, solved)
    done = nbgrader(course, "validate", str(solved))
    assert "Success! Your notebook passes all the tests." in done.stdout, done.stdout[-2000:]


def test_course_folder_needs_nothing_outside_it(course):
    """The course folder holds what nbgrader needs: its config, the sources, the gradebook."""
    assert (course / "nbgrader_config.py").is_file() and (course / "gradebook.db").is_file()
    assert shutil.which("alembic", path=str(Path(sys.executable).parent)), \
        "nbgrader runs `alembic` from the environment's bin/ folder: put it on PATH when running nbgrader"
