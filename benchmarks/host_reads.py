"""Device-to-host reads per training step, and the epoch time of `fit`, on lesson 06's VAE.

    .venv/bin/python benchmarks/host_reads.py [--quick] [--threads N] [--epochs 5]

On a GPU every `float(t)`, `t.item()`, `int(t)`, `bool(t)`, `t.tolist()` (and `if t:`) makes the host wait
until the device has finished all the work queued so far: one such read per step stalls every step. On the
CPU the reads cost little, but they can be counted: this script wraps those tensor methods with counters,
trains lesson 06's VAE (784-200-10, batch 128, dynamic binarization, the offline digits) with `fit`, and
reports the reads per training step, with and without a validation set. Target (issue 13): at most one read
per 20 steps on average. It also times an epoch of `fit` (median of the repeats) with the counters off.
"""

from __future__ import annotations

import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_line, parser, print_table, set_threads
from vae_course.data import load_offline_mnist
from vae_course.train import fit
from vae_course.vae import VAE

READS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__")


@contextmanager
def counting_reads():
    """Count calls of the tensor methods that copy a value from the device to the host."""
    counts = dict.fromkeys(READS, 0)
    originals = {name: getattr(torch.Tensor, name) for name in READS}

    def counted(name):
        original = originals[name]

        def wrapper(self, *args, **kwargs):
            counts[name] += 1
            return original(self, *args, **kwargs)

        return wrapper

    for name in READS:
        setattr(torch.Tensor, name, counted(name))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def train(x: torch.Tensor, epochs: int, x_val: torch.Tensor | None = None) -> float:
    torch.manual_seed(0)
    model = VAE()
    start = time.perf_counter()
    fit(model, x, epochs=epochs, batch_size=128, lr=1e-3, binarize=True, x_val=x_val, progress=False)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=5, help="epochs per timed call (default 5)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls (default 5)")
    args = p.parse_args(argv)
    set_threads(args.threads)
    data = load_offline_mnist()
    x, x_val = data.x_train, data.x_test
    epochs, repeats = (1, 1) if args.quick else (args.epochs, args.repeats)
    per_epoch = -(-len(x) // 128)
    steps = epochs * per_epoch
    rows, verdicts = [], []
    for label, val in (("training only", None), ("with x_val", x_val)):
        # two runs, of E and 2E epochs: the extra reads of the longer one are the training steps' own, the rest
        # is what a call pays once (the checks of its arguments at the entry point)
        totals = []
        for n_epochs in (epochs, 2 * epochs):
            with counting_reads() as counts:
                train(x, n_epochs, val)
            totals.append((sum(counts.values()), counts))
        (total, counts), (total_2, _) = totals
        per_step = (total_2 - total) / steps
        once = total - per_step * steps
        detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        rows.append([label, str(steps), str(total), f"{total / steps:.3f}", f"{per_step:.3f} (1 per {1 / max(per_step, 1e-9):.0f})",
                     f"{once:.0f}", detail or "none"])
        verdicts.append(f"{label}: {'met' if per_step <= 1 / 20 else 'MISSED'} (1 read per {1 / max(per_step, 1e-9):.0f} steps)")
    times = [train(x, epochs) / epochs for _ in range(repeats)]
    print(f"machine: {machine_line()}")
    print_table(f"Device-to-host reads in fit ({epochs} epochs of {len(x):,} offline digits, batch 128)",
                ["run", "steps", "reads", "reads per step", "of which the steps' own", "once per call", "which (E epochs)"], rows,
                [f"epoch time of fit (no validation, counters off): median {statistics.median(times):.3f} s "
                 f"({min(times):.3f}-{max(times):.3f}) over {repeats} calls of {epochs} epochs",
                 "target (issue 13): the training steps make at most one read per 20 steps on average: " + "; ".join(verdicts)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
