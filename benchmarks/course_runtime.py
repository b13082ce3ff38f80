"""Seconds to execute each notebook from a fresh kernel, and the total: what a learner (and CI) waits.

    .venv/bin/python benchmarks/course_runtime.py [notebooks/06_vae_mnist.ipynb ...]

Each notebook runs in a temporary copy (the committed one is never touched), in this environment's
kernel, offline unless VAE_COURSE_DATA says otherwise.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run_notebook(path: Path, timeout: int = 1800) -> float:
    """Execute a copy of `path` in a fresh kernel whose working directory is a temporary folder."""
    with tempfile.TemporaryDirectory() as workdir:
        copy = Path(workdir) / path.name
        shutil.copy(path, copy)
        notebook = nbformat.read(copy, as_version=4)
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": workdir}})
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    os.environ.setdefault("VAE_COURSE_DATA", "offline")
    print(f"Course runtime: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, VAE_COURSE_DATA={os.environ['VAE_COURSE_DATA']}")
    print(f"{'notebook':<40} {'seconds':>8}")
    total = 0.0
    for path in paths:
        seconds = run_notebook(path)
        total += seconds
        print(f"{path.name:<40} {seconds:8.1f}", flush=True)
    print(f"{'total':<40} {total:8.1f}")


if __name__ == "__main__":
    sys.exit(main())
