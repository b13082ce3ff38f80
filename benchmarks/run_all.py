"""All four benchmark tables in one command: training speed, evaluation speed, quality, course runtime.

    .venv/bin/python -m benchmarks [--quick] [--tables training evaluation quality runtime] [--threads N]
    .venv/bin/python benchmarks/run_all.py ...      (the same)

--quick is a smoke run at tiny sizes (a few minutes): every table prints, the numbers mean little.
Run the full set on a quiet machine: other work on the same cores slows the contenders unevenly.
The tables are Markdown, ready for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import evaluation_speed, quality, training_speed
from benchmarks.common import NOTEBOOKS, ROOT, machine_line, parser, set_threads

TABLES = ("training", "evaluation", "quality", "runtime")
QUICK_NOTEBOOKS = ("00_setup_check.ipynb",)


def course_runtime(quick: bool) -> int:
    """The lead's benchmarks/course_runtime.py, in its own process (each notebook in a fresh kernel)."""
    paths = [str(NOTEBOOKS / name) for name in QUICK_NOTEBOOKS] if quick else []
    print("\n### Course runtime: seconds to execute each notebook from a fresh kernel (offline digits)\n", flush=True)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "course_runtime.py"), *paths], cwd=ROOT)
    target = "target: the whole course in <= 300 s on two CPU cores (compare the total above)"
    print(f"\n- {target}" + ("\n- QUICK RUN: notebook 00 only." if quick else ""), flush=True)
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES), help="which tables (default: all)")
    args = p.parse_args(argv)
    threads = set_threads(args.threads)
    shared = (["--quick"] if args.quick else []) + ["--threads", str(threads)]
    print(f"# vae-course benchmarks{' (QUICK RUN)' if args.quick else ''}\n\nmachine: {machine_line()}", flush=True)
    scripts = {"training": training_speed.main, "evaluation": evaluation_speed.main, "quality": quality.main,
               "runtime": lambda argv: course_runtime(args.quick)}
    codes = {}
    for name in args.tables:
        start = time.perf_counter()
        try:
            codes[name] = scripts[name](shared)
        except SystemExit as stop:  # a table that cannot run says why; the others still run
            print(f"\n{name} table did not run: {stop}", flush=True)
            codes[name] = 1
        print(f"\n({name}: {time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    failed = [name for name, code in codes.items() if code]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
