"""`fit`: the one training loop of the course, for every model with `loss(x, y=None, beta=1.0) -> Loss`.

The data sit on the device as tensors; each epoch draws one permutation and cuts batches from it by index
slicing (no per-sample DataLoader). The running numbers (the loss and its parts, per epoch) stay on the
device and are read back together once every READ_EVERY steps, which is also when the progress line moves
and when a NaN is noticed: on a GPU each read makes the host wait for the device, so the loop reads rarely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .progress import Progress
from .utils import eval_mode, model_device
from .validate import (
    require_images,
    require_labels,
    require_number,
    require_positive_int,
    seed_from,
)

READ_EVERY = 25  # training steps between two reads of the running numbers (device -> host)
Beta = float | Callable[[int], float]


@dataclass
class History:
    """Per-epoch means over images (nats) of the loss ("total") and of each of its parts ("recon", "kl", ...),
    for the training data and for the validation data."""

    train: dict[str, list[float]] = field(default_factory=dict)
    val: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.train.get("total", []))

    def append(self, split: str, names: list[str], values: list[float]) -> None:
        """Record one epoch's means of `names` in `split` ("train" or "val")."""
        rows = getattr(self, split)
        for name, value in zip(names, values):
            rows.setdefault(name, []).append(value)

    def as_dict(self) -> dict:
        """Plain lists and floats (what a checkpoint stores)."""
        return {"train": {k: list(v) for k, v in self.train.items()},
                "val": {k: list(v) for k, v in self.val.items()}, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        """The History that `as_dict` wrote; ValueError if `data` is not of that form."""
        try:
            splits = [{str(k): [float(v) for v in values] for k, values in data[split].items()} for split in ("train", "val")]
            return cls(*splits, float(data["seconds"]))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"data is not a History written by History.as_dict: {error!r}") from None


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the model was put back to the weights of the last good epoch."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


@dataclass(frozen=True)
class LinearWarmup:
    """A KL-annealing schedule for `fit(beta=...)`: beta(epoch) = beta_max * min(1, (epoch - 1) / warmup_epochs).

    Epochs count from 1: the first epoch trains with beta = 0 (a plain autoencoder), beta then grows in
    equal steps and stays at beta_max from epoch warmup_epochs + 1 on (Bowman et al. 2016 warm the KL up
    this way). Its repr names both numbers, so it can go into a checkpoint key.
    """

    warmup_epochs: int
    beta_max: float = 1.0

    def __post_init__(self):
        require_positive_int("warmup_epochs", self.warmup_epochs)
        require_number("beta_max", self.beta_max, minimum=0.0)

    def __call__(self, epoch: int) -> float:
        epoch = require_positive_int("epoch", epoch)
        return float(self.beta_max) * min(1.0, (epoch - 1) / self.warmup_epochs)


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam, in its fused form where this torch and device have one (about 20% faster per CPU epoch).

    A model with `parameter_groups(lr)` gives some parameters a step size of their own (GaussianVAE's variance).
    """
    groups = model.parameter_groups(lr) if callable(getattr(model, "parameter_groups", None)) else model.parameters()
    groups = list(groups)
    try:
        return torch.optim.Adam(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch, or no fused kernel for this device or dtype
        return torch.optim.Adam(groups, lr=lr)


# ----------------------------------------------------------------------------------------------
# Checks at the entry: the model, the data, the settings


def _require_trainable(model) -> nn.Module:
    """A module with parameters and a loss(x, y=None, beta=1.0) method (the course's loss protocol)."""
    if not isinstance(model, nn.Module) or not callable(getattr(model, "loss", None)):
        raise TypeError(f"model must be an nn.Module with a loss(x, y=None, beta=1.0) method, got {type(model).__name__}")
    if next(model.parameters(), None) is None:
        raise ValueError(f"model must have parameters to train, {type(model).__name__} has none")
    return model


def _training_data(model: nn.Module, x_name: str, x, y_name: str, y) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images x (N, D) in [0, 1] and, for a model that takes labels, their labels y (N,): checked, and moved
    to the model's device and floating-point type."""
    x = require_images(x_name, x, getattr(model, "input_dim", None))
    parameter = next(model.parameters())
    x = x.to(device=parameter.device, dtype=parameter.dtype)
    takes_labels = getattr(model, "takes_labels", None)
    if y is None:
        if takes_labels:
            raise ValueError(f"{y_name} must be given: {type(model).__name__} needs one label per image")
        return x, None
    if takes_labels is False:
        raise ValueError(f"{y_name} was given, but {type(model).__name__} takes no labels")
    n_classes = getattr(model, "n_classes", None)
    y = require_labels(y_name, y, n_classes if isinstance(n_classes, int) else 2**62, len(x))
    return x, y.to(parameter.device)


def _beta_schedule(beta: Beta) -> Callable[[int], float]:
    """beta as a function of the epoch: a number is checked now, a schedule's values at each epoch."""
    if callable(beta):
        return lambda epoch: require_number(f"beta (the schedule's value for epoch {epoch})", beta(epoch), minimum=0.0)
    value = require_number("beta", beta, minimum=0.0)
    return lambda epoch: value


# ----------------------------------------------------------------------------------------------
# Mean loss over a data set


def _loss_sums(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, beta: float,
              batch_size: int) -> tuple[list[str], torch.Tensor]:
    """Sums over the images of x of the loss and of each part, on the device: (names, tensor (1 + parts,))."""
    sums, names = None, None
    with eval_mode(model):
        for start in range(0, len(x), batch_size):
            loss = model.loss(x[start:start + batch_size], None if y is None else y[start:start + batch_size], beta=beta)
            names = ["total", *loss.parts]
            row = torch.stack([loss.total, *loss.parts.values()]) * len(x[start:start + batch_size])
            sums = row if sums is None else sums + row
    return names, sums


def evaluate_terms(model: nn.Module, x, y=None, *, beta: float = 1.0, batch_size: int = 1000) -> dict[str, float]:
    """Means over the images of x of the loss and of each of its parts (nats), in eval mode, one z per image."""
    _require_trainable(model)
    x, y = _training_data(model, "x", x, "y", y)
    batch_size = require_positive_int("batch_size", batch_size)
    names, sums = _loss_sums(model, x, y, require_number("beta", beta, minimum=0.0), batch_size)
    return dict(zip(names, (sums / len(x)).tolist()))


# ----------------------------------------------------------------------------------------------
# The training loop


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor | None,
               index: torch.Tensor, *, beta: float, binarize: bool = False,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, list[str]]:
    """One step of training on the batch x[index]: minimize `model.loss(...).total` with the optimizer.

    binarize: draw the batch as Bernoulli(x) afresh. generator: every random draw of the step (the
    binarization, the noise of z = mu + sigma * eps); torch's global generator when None. Returns the sums
    over the batch of the loss and of each part, on the device (no read), and their names.
    """
    xb = x.index_select(0, index)
    if binarize:
        xb = torch.bernoulli(xb, generator=generator)
    loss = model.loss(xb, None if y is None else y[index], beta=beta, generator=generator)
    optimizer.zero_grad(set_to_none=True)
    loss.total.backward()
    optimizer.step()
    row = torch.stack([loss.total.detach(), *(part.detach() for part in loss.parts.values())]) * len(index)
    return row, ["total", *loss.parts]


class _Ledger:
    """The running numbers of one `fit`, kept on the device until `read` fetches them all in one transfer.

    It also keeps the last good weights: at the end of every epoch whose numbers (and weights) are all finite
    so far, the weights are copied in place into a buffer, on the device, without waiting for a read.
    """

    def __init__(self, model: nn.Module, history: History):
        self.params = list(model.parameters())
        self.good = [p.detach().clone() for p in self.params]  # the weights before training
        self.healthy = torch.ones((), dtype=torch.bool, device=self.good[0].device)
        self.history = history
        self.names: list[str] = []
        self.pending: list[tuple[str, int, torch.Tensor]] = []  # (split, epoch, means) not read back yet

    def end_epoch(self, epoch: int, names: list[str], train_means: torch.Tensor, val_means: torch.Tensor | None) -> None:
        self.names = names
        self.pending.append(("train", epoch, train_means))
        if val_means is not None:
            self.pending.append(("val", epoch, val_means))
        # healthy stays True while every number and every weight so far is finite; then good = the weights now
        weights = torch.stack([p.detach().sum() for p in self.params]).sum()
        self.healthy &= torch.isfinite(train_means).all() & torch.isfinite(weights)
        for good, p in zip(self.good, self.params):
            torch.where(self.healthy, p.detach(), good, out=good)

    def read(self, running: torch.Tensor | None = None) -> list[float]:
        """Fetch the pending epoch means and `running` in one transfer; record finite epochs in the History.

        NonFiniteLossError (with the weights put back) if any number read is NaN or infinite.
        """
        rows = [means for _, _, means in self.pending] + ([running] if running is not None else [])
        values = torch.cat(rows).tolist() if rows else []
        width = len(self.names)
        for i, (split, epoch, _) in enumerate(self.pending):
            epoch_values = values[i * width:(i + 1) * width]
            if not all(map(math.isfinite, epoch_values)):
                self._stop(epoch)
            self.history.append(split, self.names, epoch_values)
        self.pending = []
        tail = values[len(values) - (len(running) if running is not None else 0):]
        if not all(map(math.isfinite, tail)):
            self._stop(self.history.epochs + 1)
        return tail

    def _stop(self, epoch: int) -> None:
        with torch.no_grad():
            for good, p in zip(self.good, self.params):
                p.copy_(good)
        for split in (self.history.train, self.history.val):  # keep only the epochs before the bad one
            for values in split.values():
                del values[epoch - 1:]
        kept = f"the end of epoch {epoch - 1}" if epoch > 1 else "before training"
        raise NonFiniteLossError(f"the loss became non-finite (NaN or inf) in epoch {epoch}; training stopped and "
                                 f"the model keeps its weights from {kept}. Try a smaller lr or check the data.",
                                 self.history)


def fit(model: nn.Module, x_train, y_train=None, *, epochs: int, batch_size: int = 128, lr: float = 1e-3,
        beta: Beta = 1.0, x_val=None, y_val=None, binarize: bool = False,
        generator: torch.Generator | int = 0, progress: bool = True,
        callback: Callable[[int, nn.Module, History], None] | None = None) -> History:
    """Train `model` by minimizing `model.loss(x, y, beta).total` with Adam; return the per-epoch History.

    x_train: (N, D) images in [0, 1]; y_train: (N,) integer labels, for models that take labels.
    beta: the weight of the KL term, a number or a function of the epoch (1-based), e.g. `LinearWarmup(10)`.
    binarize: draw each batch as Bernoulli(x) afresh (dynamic binarization), so that a Bernoulli model is
    trained on binary images. x_val / y_val: evaluated after every epoch (monitored, never trained on).
    generator: a seed or a torch.Generator; the shuffling and every random draw inside the loop come from it,
    so the same seed and initial weights give the same weights (torch's global generator is restored after).
    progress: a progress line that ends as a one-line summary of the run.
    A NaN or infinite loss stops training with NonFiniteLossError (noticed within READ_EVERY steps), naming
    the epoch; the model keeps the weights it had at the end of the last finite epoch.
    callback(epoch, model, history), if given, is called after every epoch (after validation), e.g. to draw
    samples as training goes; its random draws leave the training's random stream untouched.
    """
    _require_trainable(model)
    epochs, batch_size = require_positive_int("epochs", epochs), require_positive_int("batch_size", batch_size)
    lr = require_number("lr", lr, minimum=0.0, strict=True)
    beta_at = _beta_schedule(beta)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function (epoch, model, history), got {type(callback).__name__}")
    seed = seed_from("generator", generator)
    x, y = _training_data(model, "x_train", x_train, "y_train", y_train)
    if x_val is None and y_val is not None:
        raise ValueError("y_val was given without x_val")
    xv, yv = (None, None) if x_val is None else _training_data(model, "x_val", x_val, "y_val", y_val)
    optimizer = make_optimizer(model, lr)
    n, device = len(x), model_device(model)
    steps = math.ceil(n / batch_size)
    history = History()
    ledger = _Ledger(model, history)
    bar = Progress(epochs * steps, "training", unit="batch", enabled=progress)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # seeds here, restores the caller's generator on exit
        torch.manual_seed(seed)
        shuffle = torch.Generator(device="cpu").manual_seed(seed)
        done = 0
        for epoch in range(1, epochs + 1):
            beta_now = beta_at(epoch)
            model.train()
            sums = None
            order = torch.randperm(n, generator=shuffle).to(device)
            for step in range(steps):
                index = order[step * batch_size:(step + 1) * batch_size]
                row, names = train_step(model, optimizer, x, y, index, beta=beta_now, binarize=binarize)
                sums = row if sums is None else sums + row
                done += 1
                if done % READ_EVERY == 0:
                    seen = min(n, (step + 1) * batch_size)
                    running = ledger.read(sums[:1] / seen)[0]
                    bar.update(done, f"epoch {epoch}/{epochs} · loss {running:.2f} nats")
            val_means = None
            if xv is not None:
                val_means = _loss_sums(model, xv, yv, beta_now, 1000)[1] / len(xv)
            ledger.end_epoch(epoch, names, sums / n, val_means)
            if callback is not None:
                ledger.read()
                with torch.random.fork_rng(devices=cuda):  # the callback cannot change what training draws next
                    callback(epoch, model, history)
        ledger.read()
    history.seconds = bar.seconds
    bar.finish(_summary(history, steps, batch_size))
    return history


def _summary(history: History, steps: int, batch_size: int) -> str:
    """'trained 40 epochs (1,440 steps of 128 images) in 5.1 s · last epoch: loss 120.9 (validation 124.5) nats'."""
    last = f"loss {history.train['total'][-1]:.2f}"
    if history.val.get("total"):
        last += f" (validation {history.val['total'][-1]:.2f})"
    return (f"trained {history.epochs} epochs ({history.epochs * steps:,} steps of {batch_size} images) in "
            f"{history.seconds:.1f} s · last epoch: {last} nats per image")
