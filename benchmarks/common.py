"""What the benchmark scripts share: the command line, the machine line, tables, and the lessons' models."""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
LESSON_CHECKPOINTS = NOTEBOOKS / "checkpoints"  # where the notebooks, run in place, save their models
CACHE_VAR = "VAE_COURSE_BENCH_CACHE"
MAIN_MODEL = "06_vae_latent10"  # lesson 06's VAE: the model the NLL target is about


def parser(description: str) -> argparse.ArgumentParser:
    """The options every table takes: --quick (a smoke run at tiny sizes) and --threads."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that the script runs, numbers mean little")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads for every contender (default: torch's own choice, usually all cores)")
    return p


def set_threads(threads: int | None) -> int:
    """Use `threads` torch threads (None keeps torch's default); return the number in use."""
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def machine_line() -> str:
    """One line naming the machine, so that a table says where its numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:  # the model name is more useful than "x86_64" where Linux tells it
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count()
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (f"{cpu}, {cores} cores{load}; Python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads")


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    """'median unit (min-max)' of repeated measurements."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f} {unit}"
    return f"{statistics.median(values):.{digits}f} {unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def print_table(title: str, headers: list[str], rows: list[list[str]], notes: list[str] = ()) -> None:
    """A Markdown table (it reads in a terminal and pastes into docs/BENCHMARKS.md), its title and notes."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(f"\n### {title}\n")
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    sys.stdout.flush()


# ----------------------------------------------------------------------------------------------
# The lessons' trained models


def cache_dir() -> Path:
    """Where the benchmarks run the training notebooks and keep their checkpoints (outside the repository)."""
    from vae_course.data import DEFAULT_ROOT

    return Path(os.environ.get(CACHE_VAR, DEFAULT_ROOT / "benchmarks"))


def training_notebooks() -> list[Path]:
    """The lessons that train a model: every notebook whose code calls load_or_train."""
    import nbformat

    found = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        if any(c.cell_type == "code" and "load_or_train(" in c.source for c in cells):
            found.append(path)
    return found


def _offline_checkpoints(folder: Path, prefix: str) -> list[Path]:
    """The checkpoints in `folder` written by lesson `prefix` ("06") from the offline digits."""
    from vae_course.checkpoints import CheckpointError, read_checkpoint

    paths = []
    for path in sorted(folder.glob(f"{prefix}_*.pt")):
        try:
            if read_checkpoint(path)["key"].get("source") == "offline":
                paths.append(path)
        except CheckpointError:
            pass
    return paths


def execute_notebook(path: Path, workdir: Path, timeout: int = 1800) -> None:
    """Run a copy of notebook `path` in `workdir` (a fresh kernel, offline digits); its checkpoints land there."""
    import nbformat
    from nbclient import NotebookClient

    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / path.name
    shutil.copy(path, copy)
    notebook = nbformat.read(copy, as_version=4)
    os.environ["VAE_COURSE_DATA"] = "offline"  # the kernel inherits this process's environment
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()


def lesson_checkpoints(reuse: bool = False, log=print) -> tuple[list[Path], list[str]]:
    """The checkpoints of every model the lessons train on the offline digits, at the lessons' current settings.

    Each training notebook is executed in the cache folder, where its own load_or_train reuses a
    checkpoint whose settings match the notebook (seeded from notebooks/checkpoints) and trains the rest.
    reuse=True (the quick mode) skips executing a lesson that already has offline checkpoints there.
    Returns (checkpoint paths, problems: one line per notebook that failed to run).
    """
    workdir = cache_dir()
    checkpoints = workdir / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    found, problems = [], []
    for notebook in training_notebooks():
        prefix = notebook.name[:2]
        for path in _offline_checkpoints(LESSON_CHECKPOINTS, prefix):
            if not (checkpoints / path.name).exists():
                shutil.copy2(path, checkpoints / path.name)
        if not (reuse and _offline_checkpoints(checkpoints, prefix)):
            log(f"running {notebook.name} in {workdir} (its load_or_train trains what it cannot reuse) ...")
            try:
                execute_notebook(notebook, workdir)
            except Exception as error:  # a lesson that fails is reported in the table, not hidden
                lines = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()  # without terminal colours
                problems.append(f"{notebook.name} failed to run: {type(error).__name__}: {lines[-1] if lines else ''}")
        found += _offline_checkpoints(checkpoints, prefix)
    return found, problems
