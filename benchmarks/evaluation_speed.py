"""Evaluation: how fast the importance-weighted bound runs, and where it settles as k grows.

    .venv/bin/python benchmarks/evaluation_speed.py [--quick] [--repeats 3] [--threads N]

On lesson 06's VAE and the offline test digits (binarized once, seed 0, as the lesson does), it runs
`vae_course.evaluate.iwae_bound` at k = 1, 100, 1000, 5000 and prints the bound (nats per digit, with
its standard error over the digits), the seconds it took and the throughput in microseconds per
digit-sample (one digit-sample: one z drawn, decoded and weighed).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import MAIN_MODEL, lesson_checkpoints, machine_line, parser, print_table, set_threads
from vae_course.checkpoints import load_checkpoint
from vae_course.data import binarize, load_offline_mnist
from vae_course.evaluate import iwae_bound

KS = (1, 100, 1000, 5000)
QUICK_KS, QUICK_DIGITS = (1, 10, 100), 100
BUDGET_S = 30.0  # seconds per k after which no further repeat starts


def standard_error(values: torch.Tensor) -> float:
    """Standard error of the mean of per-digit values."""
    return float(values.std() / math.sqrt(len(values)))


def main_model():
    """Lesson 06's VAE (from the lesson's checkpoint, trained by running the lesson if need be) and its key."""
    paths, problems = lesson_checkpoints(reuse=True, log=lambda line: print(line, file=sys.stderr, flush=True))
    match = [p for p in paths if p.stem == MAIN_MODEL]
    if not match:
        raise SystemExit(f"no checkpoint {MAIN_MODEL}.pt: lesson 06 did not produce it. {' '.join(problems)}")
    model, _, key = load_checkpoint(match[0])
    return model, key


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--repeats", type=int, default=3,
                   help="timed runs per k, each with fresh noise; no new run starts after %(budget)s s on one k "
                        "(default %(default)s)".replace("%(budget)s", str(BUDGET_S)))
    args = p.parse_args(argv)
    set_threads(args.threads)
    model, key = main_model()
    x_eval = binarize(load_offline_mnist().x_test, generator=0)  # lesson 06's fixed binary test digits
    ks, repeats = (QUICK_KS, 1) if args.quick else (KS, args.repeats)
    if args.quick:
        x_eval = x_eval[:QUICK_DIGITS]
    n = len(x_eval)
    rows, per_digit = [], {}
    for k in ks:
        seconds = []
        for repeat in range(repeats):
            if sum(seconds) > BUDGET_S:
                break
            generator = torch.Generator().manual_seed(repeat)
            start = time.perf_counter()
            values = iwae_bound(model, x_eval, k, generator=generator, reduction="none")
            seconds.append(time.perf_counter() - start)
            per_digit.setdefault(k, values)  # the bound from the first run (seed 0)
        values, median = per_digit[k], statistics.median(seconds)
        rows.append([f"{k:,}", f"{float(values.mean()):.2f} +- {standard_error(values):.2f}",
                     f"{-float(values.mean()):.2f}", f"{median:.2f}", f"{median / (n * k) * 1e6:.2f}"])
    top, below = ks[-1], ks[-2]
    gain = per_digit[top] - per_digit[below]  # the same digits: a paired difference
    print_table(
        f"Evaluation: the importance-weighted bound L_k on {n} offline test digits (lesson 06's VAE)",
        ["k", "L_k (nats per digit)", "NLL estimate -L_k", f"seconds (median of <= {repeats})", "us per digit-sample"], rows,
        [f"machine: {machine_line()}",
         f"model: VAE {model.input_dim}-{model.hidden_dim}-{model.latent_dim}, trained {key.get('epochs')} epochs on "
         f"{key.get('n_train')} {key.get('source')} digits (lesson 06's checkpoint); L_1 is a one-sample ELBO",
         "digits: binarized once, each pixel ~ Bernoulli(grey level), vae_course.data.binarize(generator=0); "
         "+- is one standard error over the digits",
         f"L_{top} - L_{below} = {float(gain.mean()):.3f} +- {standard_error(gain):.3f} nats (paired over the digits): "
         "how much the bound still moves"]
        + (["QUICK RUN: tiny sizes, the numbers only show that the script works."] if args.quick else []))
    return 0


if __name__ == "__main__":
    sys.exit(main())
