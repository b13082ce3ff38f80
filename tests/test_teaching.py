"""vae_course.teaching: exercises found, nbgrader metadata in step, the Colab cell, the repository's URL.

The sync is tried on copies of the real lessons (in a temporary folder: the lessons in notebooks/ are
never written here) and on small made-up notebooks. Real nbgrader runs in tests/test_nbgrader.py.
"""

import io
import shutil
import subprocess
import sys
import types
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import nbformat
import pytest

from vae_course import teaching

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
LESSONS = teaching.find_notebooks(NOTEBOOK_DIR)


def notebook(*sources: str, tags: dict[int, list[str]] | None = None) -> nbformat.NotebookNode:
    """Code cells (Markdown when a source starts with '#md '), ids c0, c1, ..., one output each."""
    nb = nbformat.v4.new_notebook()
    for i, source in enumerate(sources):
        if source.startswith("#md "):
            cell = nbformat.v4.new_markdown_cell(source[4:])
        else:
            cell = nbformat.v4.new_code_cell(source)
            cell.outputs = [nbformat.v4.new_output("stream", text=f"out {i}\n")]
        cell.id = f"c{i}"
        cell.metadata["tags"] = (tags or {}).get(i, [])
        nb.cells.append(cell)
    return nb


EXERCISE = ["#md # 01 · Demo", "import numpy as np", "#md ## Exercises",
            "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION", "check_function(f, abs, [(1,)])",
            "#md Explain.\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
            "y = None  # twice 2\n### BEGIN SOLUTION\ny = 4\n### END SOLUTION", "check_value('y', y, 4)"]


@pytest.fixture
def lessons(tmp_path) -> Path:
    folder = tmp_path / "lessons"
    folder.mkdir()
    for path in LESSONS:
        shutil.copy2(path, folder / path.name)
    return folder


# ---------------------------------------------------------------------------------------------
# Exercises and their metadata


def test_exercises_are_found_in_order_with_their_check_cells():
    found = teaching.find_exercises(notebook(*EXERCISE), "01_demo.ipynb")
    assert [(e.number, e.solution, e.check, e.written) for e in found] == \
        [(1, 3, 4, False), (2, 5, None, True), (3, 6, 7, False)]


@pytest.mark.parametrize(("cells", "problem"), [
    (["### BEGIN SOLUTION\ny = 1\n### END SOLUTION"], "needs a check cell after it"),
    (["### BEGIN SOLUTION\ny = 1\n### END SOLUTION", "#md text", "### BEGIN SOLUTION\nz = 1\n### END SOLUTION",
      "check(z)"], "cell 2 holds another solution"),
    (["x = 1\n### END SOLUTION"], "without a '### BEGIN SOLUTION' before it"),
])
def test_broken_exercises_are_named(cells, problem):
    with pytest.raises(ValueError, match=r"04_demo\.ipynb, cell 0 \(id c0\): .*" + problem):
        teaching.find_exercises(notebook(*cells), "04_demo.ipynb")


def test_nbgrader_metadata_marks_solutions_checks_and_written_answers():
    nb = notebook(*EXERCISE, tags={7: ["points-2.5"]})
    wanted = teaching.nbgrader_metadata(nb, "01_demo.ipynb")
    assert sorted(wanted) == [3, 4, 5, 6, 7]
    assert wanted[3] == {"grade": False, "grade_id": "lesson01-ex1-solution", "locked": False, "schema_version": 3,
                         "solution": True, "task": False}
    assert wanted[4] == {"grade": True, "grade_id": "lesson01-ex1-check", "locked": True, "points": 1,
                         "schema_version": 3, "solution": False, "task": False}
    assert wanted[5]["grade_id"] == "lesson01-ex2-answer" and wanted[5]["grade"] and wanted[5]["solution"]
    assert wanted[7]["points"] == 2.5 and wanted[7]["grade_id"] == "lesson01-ex3-check"


def test_sync_writes_metadata_once_and_removes_stale_metadata():
    nb = notebook(*EXERCISE)
    nb.cells[1].metadata["nbgrader"] = {"grade": False, "grade_id": "old", "locked": True, "solution": False,
                                        "schema_version": 3}
    before = [(c.id, c.get("outputs")) for c in nb.cells]
    changes = teaching.sync_notebook(nb, "01_demo.ipynb")
    assert "Colab install cell added" in changes and any("nbgrader metadata removed" in c for c in changes)
    assert teaching.sync_notebook(nb, "01_demo.ipynb") == []  # a second run changes nothing
    assert nb.cells[1].id == teaching.COLAB_CELL_ID and nb.cells[0].cell_type == "markdown"
    assert [(c.id, c.get("outputs")) for c in nb.cells if c.id != teaching.COLAB_CELL_ID] == before
    assert "nbgrader" not in nb.cells[2].metadata  # the old cell 1, import numpy


def unsynced(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The lesson as it was before any sync: no Colab cell, no nbgrader metadata."""
    nb.cells = [c for c in nb.cells if not teaching.is_colab_cell(c)]
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return nb


def test_sync_of_the_real_lessons_is_idempotent_and_checkable(lessons, capsys):
    for path in lessons.glob("*.ipynb"):
        nbformat.write(unsynced(nbformat.read(path, as_version=4)), path)
    assert teaching.main(["sync", str(lessons), "--check"]) == 1
    assert "out of step" in capsys.readouterr().err
    teaching.sync(lessons)
    written = {p.name: p.read_bytes() for p in lessons.glob("*.ipynb")}
    assert teaching.main(["sync", str(lessons), "--check"]) == 0
    assert teaching.main(["sync", str(lessons)]) == 0
    assert {p.name: p.read_bytes() for p in lessons.glob("*.ipynb")} == written, "a second sync rewrote a file"
    for path in LESSONS:
        original = unsynced(nbformat.read(path, as_version=4))
        synced = nbformat.read(lessons / path.name, as_version=4)
        kept = [c for c in synced.cells if not teaching.is_colab_cell(c)]
        assert [(c.id, c.source, c.get("outputs")) for c in kept] == \
            [(c.id, c.source, c.get("outputs")) for c in original.cells], f"{path.name}: a cell changed"
        graded = [c.metadata["nbgrader"]["grade_id"] for c in synced.cells if "nbgrader" in c.metadata]
        assert len(graded) == len(set(graded)) == 2 * len(teaching.find_exercises(original, path.name))


def test_the_lessons_are_in_step():
    """Once the lessons have been synced, they must stay in step (a lesson edited without re-running the
    sync fails here). Until the first sync is committed, the test says so and skips."""
    synced = [p.name for p in LESSONS
              if any("nbgrader" in c.metadata or teaching.is_colab_cell(c) for c in nbformat.read(p, as_version=4).cells)]
    if not synced:
        pytest.skip("no lesson has been synced yet: run `python -m vae_course.teaching sync notebooks/` and commit "
                    "the result (phase 2 of the teachers' tools, after the lesson rewrites)")
    out_of_step = [r for r in teaching.sync(NOTEBOOK_DIR, check=True) if r.changes]
    assert not out_of_step, "lessons out of step, run `python -m vae_course.teaching sync notebooks/`:\n" + \
        "\n".join(f"{r.name}: {'; '.join(r.changes)}" for r in out_of_step)


def test_sync_check_writes_nothing(lessons):
    for path in lessons.glob("*.ipynb"):
        nbformat.write(unsynced(nbformat.read(path, as_version=4)), path)
    before = {p.name: p.read_bytes() for p in lessons.glob("*.ipynb")}
    results = teaching.sync(lessons, check=True)
    assert all(r.changes for r in results)
    assert {p.name: p.read_bytes() for p in lessons.glob("*.ipynb")} == before


def test_sync_refuses_a_broken_lesson_and_writes_nothing(tmp_path):
    nbformat.write(notebook("#md # 00", "x = 1"), tmp_path / "00_good.ipynb")
    (tmp_path / "01_bad.ipynb").write_text("<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> other\n")
    before = (tmp_path / "00_good.ipynb").read_bytes()
    with pytest.raises(ValueError, match=r"01_bad\.ipynb is not a readable notebook"):
        teaching.sync(tmp_path)
    assert (tmp_path / "00_good.ipynb").read_bytes() == before
    with pytest.raises(ValueError, match="found none"):
        teaching.sync(tmp_path / "nothing-here")


# ---------------------------------------------------------------------------------------------
# The Colab cell


def run_cell(source: str) -> tuple[dict, str]:
    namespace: dict = {}
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        exec(compile(source, "colab-cell", "exec"), namespace)
    return namespace, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("repo_url", ["https://github.com/ada/vae-course", None])
def test_colab_cell_does_nothing_outside_colab(repo_url):
    source = teaching.colab_install_source(repo_url)
    namespace, printed = run_cell(source)
    assert printed == "" and set(namespace) - {"__builtins__"} == {"sys"}
    # in a fresh interpreter too: it imports nothing beyond sys (so it costs nothing), prints nothing
    done = subprocess.run([sys.executable, "-c", source + "\nprint(sorted(k for k in globals() if not k.startswith('_')))"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "['sys']" and done.stderr == ""


@pytest.fixture
def fake_colab(monkeypatch):
    calls = []
    google, colab = types.ModuleType("google"), types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append("widgets"))
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append(args))
    return calls


def test_colab_cell_installs_the_course_on_colab(fake_colab):
    run_cell(teaching.colab_install_source("git@github.com:ada/vae-course.git", branch="v1"))
    assert fake_colab == [[sys.executable, "-m", "pip", "install", "--quiet",
                           "vae-course @ git+https://github.com/ada/vae-course@v1"], "widgets"]


def test_unpublished_colab_cell_says_why_on_colab(fake_colab):
    with pytest.raises(RuntimeError, match="does not say which GitHub repository"):
        run_cell(teaching.colab_install_source(None))
    assert fake_colab == []


def test_colab_cell_round_trips_and_keeps_its_repository():
    for url, branch in [("https://github.com/ada/vae-course", "main"), (None, "main")]:
        assert teaching.parse_colab_source(teaching.colab_install_source(url, branch)) == (url, branch)
    assert teaching.parse_colab_source("import sys") is None
    nb = notebook("#md # 02", "x = 1")
    teaching.sync_notebook(nb, "02_demo.ipynb", repo_url="https://github.com/ada/vae-course")
    assert teaching.sync_notebook(nb, "02_demo.ipynb") == []  # no URL given: the cell keeps its own
    assert "git+https://github.com/ada/vae-course@main" in nb.cells[1].source
    assert teaching.sync_notebook(nb, "02_demo.ipynb", repo_url="https://github.com/bo/fork") == \
        ["Colab install cell updated"]
    with pytest.raises(ValueError, match="repo_url must look like https://github.com/OWNER/REPO"):
        teaching.colab_install_source("https://gitlab.com/ada/vae-course")


# ---------------------------------------------------------------------------------------------
# Where the course is published


@pytest.mark.parametrize(("remote", "url"), [
    ("https://github.com/ada/vae-course", "https://github.com/ada/vae-course"),
    ("https://github.com/ada/vae-course.git/", "https://github.com/ada/vae-course"),
    ("https://ada:ghp_secret@github.com/ada/vae-course.git", "https://github.com/ada/vae-course"),
    ("git@github.com:ada/vae.course.git", "https://github.com/ada/vae.course"),
    ("ssh://git@github.com/ada/vae-course", "https://github.com/ada/vae-course"),
    ("https://gitlab.com/ada/vae-course", None),
    ("/work/ci/clone-of-main", None),
])
def test_github_urls_are_recognised(remote, url):
    assert teaching.github_repository(remote) == url


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def test_repository_comes_from_the_git_remote(tmp_path):
    git(tmp_path, "init", "-q")
    url, message = teaching.repository_from_git(tmp_path)
    assert url is None and "no git remote 'origin'" in message
    git(tmp_path, "remote", "add", "origin", "https://ada:ghp_secret@gitlab.com/ada/vae-course.git")
    url, message = teaching.repository_from_git(tmp_path)
    assert url is None and "not a GitHub repository" in message and "ghp_secret" not in message
    git(tmp_path, "remote", "set-url", "origin", "git@github.com:ada/vae-course.git")
    assert teaching.repository_from_git(tmp_path) == \
        ("https://github.com/ada/vae-course", "the course is published at https://github.com/ada/vae-course "
                                              "(git remote 'origin')")


def test_links_follow_the_services_url_schemes():
    url = "https://github.com/ada/vae-course"
    assert teaching.colab_url("02_kl_1d_gaussians.ipynb", url) == \
        "https://colab.research.google.com/github/ada/vae-course/blob/main/notebooks/02_kl_1d_gaussians.ipynb"
    assert teaching.binder_url("02_kl_1d_gaussians.ipynb", url, branch="v1") == \
        "https://mybinder.org/v2/gh/ada/vae-course/v1?labpath=notebooks%2F02_kl_1d_gaussians.ipynb"
    assert teaching.colab_url("x.ipynb", url + ".git") == teaching.colab_url("x.ipynb", url + "/")
    line = teaching.badges("00_setup_check.ipynb", url)
    assert line.count("](https://") == 4 and "colab-badge.svg" in line and "badge_logo.svg" in line
    with pytest.raises(ValueError, match="repo_url must look like https://github.com/OWNER/REPO"):
        teaching.colab_url("x.ipynb", "https://gitlab.com/ada/vae-course")


# ---------------------------------------------------------------------------------------------
# An nbgrader course directory


def test_course_layout_has_one_synced_assignment_per_lesson(tmp_path):
    written = teaching.lay_out_course(tmp_path / "course", lessons=["01", "02_kl_1d_gaussians.ipynb"])
    assert [p.relative_to(tmp_path / "course").as_posix() for p in written] == \
        ["source/01_kl_divergence/01_kl_divergence.ipynb", "source/02_kl_1d_gaussians/02_kl_1d_gaussians.ipynb"]
    for path in written:
        nb = nbformat.read(path, as_version=4)
        assert teaching.sync_notebook(nb, path.name, colab=False) == []
    config = (tmp_path / "course" / "nbgrader_config.py").read_text()
    assert repr(teaching.CODE_STUB) in config and "course_id = 'vae-course'" in config
    with pytest.raises(ValueError, match="is not empty"):
        teaching.lay_out_course(tmp_path / "course", lessons=["01"])
    with pytest.raises(ValueError, match="lessons must name lessons"):
        teaching.lay_out_course(tmp_path / "other", lessons=["99"])


def test_exercise_listing_names_every_grade_id(capsys):
    assert teaching.main(["exercises", str(NOTEBOOK_DIR)]) == 0
    listing = capsys.readouterr().out
    for path in LESSONS:
        count = len(teaching.find_exercises(nbformat.read(path, as_version=4), path.name))
        assert listing.count(f"{path.name}  ex") == count
        assert f"lesson{path.name[:2]}-ex{count}-check" in listing


# ---------------------------------------------------------------------------------------------
# Binder


def test_binder_installs_the_course_after_the_cpu_build_of_pytorch():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    binder = ROOT / "binder"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = {line.split(">=")[0]: line for line in project["dependencies"] if line.startswith("torch")}
    requirements = (binder / "requirements.txt").read_text().split("\n")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert set(floors.values()) <= set(requirements), "binder/requirements.txt must keep pyproject's torch floors"
    post_build = binder / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert "python -m pip install --no-cache-dir -e .\n" in post_build.read_text()
    version = (binder / "runtime.txt").read_text().strip()
    required = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, version.removeprefix("python-").split("."))) >= tuple(map(int, required.split(".")))
