"""Build the student edition of the lessons: solutions replaced by stubs, outputs cleared, the rest unchanged.

    .venv/bin/python -m vae_course.student_edition OUTDIR                # from the repository root
    .venv/bin/python -m vae_course.student_edition OUTDIR --repo-url https://github.com/OWNER/STUDENT-REPO
    .venv/bin/python -m vae_course.student_edition --links               # the lessons' Colab and Binder badges

In every code cell, the lines from `### BEGIN SOLUTION` to `### END SOLUTION` (markers included) become one
line that raises NotImplementedError, indented like the BEGIN marker and saying what to write: "write the
body of NAME here" inside a function, "compute NAME here" where the cell first sets NAME = None, else
"write your solution here" (`vae_course.teaching.stub_line`). In a Markdown cell they become "*Your answer
here.*". The function's `def` line and the `= None` placeholders stay, so the check after an untouched stub
finds the names it checks and says "replace the stub". Every output, execution count and execution timing
is cleared, and so is the saved widget state; every other cell, its id and its metadata are copied
unchanged. Each notebook is marked as the student edition (a first Markdown cell and
`metadata.vae_course.edition = "student"`), and the folder gets a README.md and a `conftest.py` that stops
pytest and nbval from running the stubs by accident. The build refuses to write into a folder pytest
collects notebooks from (the repository's notebooks/ and tests/) and into a non-empty folder unless forced.
With `repo_url`, the lessons' Colab install cells install from that repository (the edition's own).
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
from pathlib import Path

import nbformat

from .teaching import (BRANCH, REPOSITORY_ROOT, is_colab_cell, badges, colab_install_source, find_notebooks,
                       has_solution, read_notebook, repository_from_git, strip_solutions)

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
raises `NotImplementedError("Exercise: ...")`: replace that line with your solution (the function's `def`
line, or the names the exercise asks for, are already there), run the cell, then run the check cell
after it, which tells you what is right or what is off. An untouched stub makes the check say
"replace the stub".

{install}
Then open the notebooks in order, starting at 00.
"""
INSTALL_LOCAL = ("Install the course package first: in the course repository, `make lab` sets up a virtual "
                 "environment, installs the package and opens JupyterLab (or `pip install -e .` in an "
                 "environment of your own).")
INSTALL_COLAB = (INSTALL_LOCAL + " On Google Colab, the first code cell of each lesson installs the package "
                 "for you; run it first.")


# ----------------------------------------------------------------------------------------------
# One notebook


def student_notebook(nb: nbformat.NotebookNode, name: str, *, repo_url: str | None = None,
                     branch: str = BRANCH) -> nbformat.NotebookNode:
    """The student edition of one notebook (a new object; `nb` is not changed). With `repo_url`, its Colab
    install cell (if it has one) installs from that GitHub repository."""
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        if repo_url is not None and is_colab_cell(cell):
            cell.source = colab_install_source(repo_url, branch)
        where = f"{name}, cell {index} (id {cell.get('id', '?')})"
        if has_solution(cell):
            if cell.cell_type == "raw":
                raise ValueError(f"{where}: solution markers in a raw cell; put the solution in a code cell")
            cell.source = strip_solutions(cell.source, where, markdown=cell.cell_type == "markdown")
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


def build_student_edition(out_dir: str | Path, source_dir: str | Path | None = None, *, force: bool = False,
                          checkpoints: bool = False, repo_url: str | None = None,
                          branch: str = BRANCH) -> list[Path]:
    """Write the student edition of every lesson in `source_dir` (default: the repository's notebooks/)
    into `out_dir`, with a README.md and a conftest.py; return the notebooks written.

    checkpoints=True also copies the trained models in `source_dir`/checkpoints/*.pt, so that lessons
    06 and later load them instead of training (see docs/TEACHING.md). repo_url: the GitHub repository
    the edition is published in, for the lessons' Colab install cells.
    """
    source_dir = Path(REPOSITORY_ROOT / "notebooks" if source_dir is None else source_dir).resolve()
    out_dir = Path(out_dir).resolve()
    notebooks = find_notebooks(source_dir)
    if not notebooks:
        raise ValueError(f"source_dir must hold lessons named NN_name.ipynb, found none in {source_dir}")
    _check_out_dir(out_dir, source_dir, force)
    editions = [(path.name, student_notebook(read_notebook(path), path.name, repo_url=repo_url, branch=branch))
                for path in notebooks]
    out_dir.mkdir(parents=True, exist_ok=True)  # only once every notebook has been converted
    written = []
    for name, nb in editions:
        nbformat.write(nb, out_dir / name)
        written.append(out_dir / name)
    on_colab = all(any(is_colab_cell(cell) for cell in nb.cells) for _, nb in editions)
    (out_dir / "README.md").write_text(README.format(install=INSTALL_COLAB if on_colab else INSTALL_LOCAL),
                                       encoding="utf-8")
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


def links_report(source_dir: str | Path | None = None, repo_url: str | None = None, branch: str = BRANCH) -> str:
    """The badge line of every lesson, as Markdown, for a README (repo_url default: git remote 'origin')."""
    if repo_url is None:
        repo_url, message = repository_from_git()
        if repo_url is None:
            raise ValueError(f"{message}; or pass --repo-url https://github.com/OWNER/REPO")
    source_dir = REPOSITORY_ROOT / "notebooks" if source_dir is None else Path(source_dir)
    return "\n".join(f"{path.name}: {badges(path.name, repo_url, branch)}" for path in find_notebooks(source_dir))


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
    parser.add_argument("--repo-url", default=None,
                        help="the GitHub repository the edition is published in (for --links, default: git remote 'origin')")
    parser.add_argument("--branch", default=BRANCH, help=f"the branch the links and the Colab cell use (default {BRANCH})")
    args = parser.parse_args(argv)
    try:
        if args.links:
            print(links_report(args.source, args.repo_url, args.branch))
            return 0
        if args.out_dir is None:
            parser.error("give the folder to write the student edition into (or --links)")
        written = build_student_edition(args.out_dir, args.source, force=args.force, checkpoints=args.checkpoints,
                                        repo_url=args.repo_url, branch=args.branch)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote the student edition of {len(written)} lessons to {Path(args.out_dir).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
