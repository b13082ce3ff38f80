"""`fit`: the one training loop of the course, for every model that has `loss(x, y=None, beta=1.0)`.

The data sit on the device as two tensors; each epoch draws one permutation and cuts batches from it
by index slicing (no per-sample DataLoader). Per-epoch means of the loss terms are accumulated on the
device and read once per epoch, so the loop does not wait on the device at every step.
"""

from __future__ import annotations

import copy
import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .validate import require_positive_int, require_tensor

TERMS = ("total", "recon", "kl")


@dataclass
class History:
    """Per-epoch means over images (nats) of each loss term, for the training data and the validation data."""

    train: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TERMS})
    val: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TERMS})
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.train["total"])

    def as_dict(self) -> dict:
        """Plain lists and floats (what a checkpoint stores)."""
        return {"train": {k: list(v) for k, v in self.train.items()},
                "val": {k: list(v) for k, v in self.val.items()}, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        return cls({k: list(v) for k, v in data["train"].items()},
                   {k: list(v) for k, v in data["val"].items()}, float(data["seconds"]))


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the model was put back to the weights of the last good epoch."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


@dataclass(frozen=True)
class TrainConfig:
    """The hyper-parameters of `fit`, for notebooks that keep them in one place (`fit(model, x, **vars(cfg))`)."""

    epochs: int
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0
    binarize: bool = False
    seed: int = 0


def _as_data(name: str, value, device: torch.device, *, labels: bool = False,
             dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if labels:
        if not isinstance(value, torch.Tensor) or value.is_floating_point():
            raise ValueError(f"{name} must be an integer tensor of labels, got {getattr(value, 'dtype', type(value).__name__)}")
        return value.to(device)
    return require_tensor(name, value, min_dim=2).to(device=device, dtype=dtype)  # the model's dtype


def _check_pair(x_name: str, x: torch.Tensor | None, y_name: str, y: torch.Tensor | None) -> None:
    if x is not None and y is not None and len(y) != len(x):
        raise ValueError(f"{y_name} must have one label per row of {x_name}: {len(y)} labels for {len(x)} rows")


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
        if isinstance(self.beta_max, bool) or not isinstance(self.beta_max, (int, float)) \
                or not math.isfinite(self.beta_max) or self.beta_max < 0:
            raise ValueError(f"beta_max must be a finite number >= 0, got {self.beta_max!r}")

    def __call__(self, epoch: int) -> float:
        epoch = require_positive_int("epoch", epoch)
        return float(self.beta_max) * min(1.0, (epoch - 1) / self.warmup_epochs)


def _loss_options(model: nn.Module, free_bits: float) -> dict:
    """The extra keyword arguments of model.loss: free_bits only when it is used (the loss checks its value)."""
    if isinstance(free_bits, (int, float)) and free_bits == 0:
        return {}
    if "free_bits" not in inspect.signature(model.loss).parameters:
        raise ValueError(f"free_bits needs a model whose loss takes free_bits; {type(model).__name__}.loss does not")
    return {"free_bits": free_bits}


def _beta_at(beta: float | Callable[[int], float], epoch: int) -> float:
    value = float(beta(epoch) if callable(beta) else beta)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {value} for epoch {epoch}")
    return value


@torch.no_grad()
def evaluate_terms(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *, beta: float = 1.0,
                   batch_size: int = 1000, free_bits: float = 0.0) -> dict[str, float]:
    """Means over the images of x of each loss term, in eval mode and without gradients (one z per image).

    With free_bits > 0 the total uses the free-bits KL of each batch of `batch_size` images.
    """
    options = _loss_options(model, free_bits)
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, device=x.device)
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        yb = None if y is None else y[start:start + batch_size]
        sums += torch.stack(model.loss(xb, yb, beta=beta, **options)) * len(xb)
    model.train(was_training)
    return dict(zip(TERMS, (sums / len(x)).tolist()))


def _finite_parameters(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam, in its fused form where this torch and device have one (about 20% faster per CPU epoch)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch, or no fused kernel for this device or dtype
        return torch.optim.Adam(model.parameters(), lr=lr)


def fit(model: nn.Module, x_train, y_train=None, *, epochs: int, batch_size: int = 128, lr: float = 1e-3,
        beta: float | Callable[[int], float] = 1.0, x_val=None, y_val=None, binarize: bool = False,
        optimizer: torch.optim.Optimizer | None = None, device: torch.device | str | None = None,
        seed: int = 0, progress: bool = True, refresh_every: int = 20, free_bits: float = 0.0,
        callback: Callable[[int, nn.Module, History], None] | None = None) -> History:
    """Train `model` by minimizing `model.loss(x, y, beta).total` with Adam; return the per-epoch History.

    x_train: (N, D) float images; y_train: (N,) integer labels, passed to the loss (conditional models).
    beta: the weight of the KL term, a number or a function of the epoch (1-based) for annealing, e.g.
    `LinearWarmup(10)`. free_bits: nats per latent dimension that the KL term does not charge for
    (`vae_course.models.free_bits_kl`); History's "kl" stays the true KL, its "total" is what was minimized.
    binarize: draw each batch as Bernoulli(x) afresh (dynamic binarization), so that a Bernoulli model
    is trained on binary images. x_val / y_val: evaluated after every epoch.
    seed: the shuffling and every random draw inside the loop come from it; the same seed and the same
    initial weights give identical weights (torch's global generator is restored afterwards).
    A NaN or infinite loss stops training with NonFiniteLossError, naming the epoch, and the model keeps
    the weights it had at the end of the last finite epoch.
    callback(epoch, model, history), if given, is called after every epoch (after validation), e.g. to
    draw samples as training goes; its random draws leave the training's random stream untouched.
    """
    epochs = require_positive_int("epochs", epochs)
    batch_size = require_positive_int("batch_size", batch_size)
    refresh_every = require_positive_int("refresh_every", refresh_every)
    if not callable(getattr(model, "loss", None)):
        raise ValueError(f"model must have a loss(x, y=None, beta=1.0) method, got {type(model).__name__}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be > 0, got {lr!r}")
    options = _loss_options(model, free_bits)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    dtype = next(model.parameters()).dtype
    x, y = _as_data("x_train", x_train, device, dtype=dtype), _as_data("y_train", y_train, device, labels=True)
    xv, yv = _as_data("x_val", x_val, device, dtype=dtype), _as_data("y_val", y_val, device, labels=True)
    _check_pair("x_train", x, "y_train", y)
    _check_pair("x_val", xv, "y_val", yv)
    if yv is not None and xv is None:
        raise ValueError("y_val was given without x_val")
    optimizer = optimizer or make_optimizer(model, lr)
    n = len(x)
    steps = math.ceil(n / batch_size)
    history = History()
    start_time = time.perf_counter()
    cuda = [device.index or 0] if device.type == "cuda" else []
    bar = tqdm(total=epochs * steps, desc="training", unit="batch", disable=not progress, leave=True)
    with torch.random.fork_rng(devices=cuda):  # seeds here, restores the caller's generator on exit
        torch.manual_seed(seed)
        shuffle = torch.Generator(device="cpu").manual_seed(seed)
        for epoch in range(1, epochs + 1):
            beta_now = _beta_at(beta, epoch)
            good_weights = copy.deepcopy(model.state_dict())
            model.train()
            sums = torch.zeros(3, device=device)
            order = torch.randperm(n, generator=shuffle).to(device)
            finite = True
            for step in range(steps):
                index = order[step * batch_size:(step + 1) * batch_size]
                xb = x.index_select(0, index)
                if binarize:
                    xb = torch.bernoulli(xb)
                try:
                    terms = model.loss(xb, None if y is None else y[index], beta=beta_now, **options)
                except ValueError:  # the model's own checks refuse NaN weights (e.g. a NaN mu)
                    if _finite_parameters(model):
                        raise
                    finite = False
                    break
                optimizer.zero_grad(set_to_none=True)
                terms.total.backward()
                optimizer.step()
                sums += torch.stack([t.detach() for t in terms]) * len(index)
                if (step + 1) % refresh_every == 0 or step + 1 == steps:
                    running = sums[0].item() / min(n, (step + 1) * batch_size)
                    finite = math.isfinite(running)
                    bar.update(step + 1 - bar.n + (epoch - 1) * steps)
                    bar.set_postfix(epoch=epoch, loss=f"{running:.2f}")
                    if not finite:
                        break
            means = (sums / n).tolist()
            if not finite or not all(math.isfinite(m) for m in means):
                bar.close()
                model.load_state_dict(good_weights)
                history.seconds = time.perf_counter() - start_time
                kept = f"the end of epoch {epoch - 1}" if epoch > 1 else "before training"
                raise NonFiniteLossError(
                    f"the loss became non-finite (NaN or inf) in epoch {epoch}; training stopped and the model "
                    f"keeps its weights from {kept}. Try a smaller lr (now {lr}) or check the data.", history)
            for name, value in zip(TERMS, means):
                history.train[name].append(value)
            if xv is not None:
                for name, value in evaluate_terms(model, xv, yv, beta=beta_now, free_bits=free_bits).items():
                    history.val[name].append(value)
            if callback is not None:
                with torch.random.fork_rng(devices=cuda):  # the callback cannot change what training draws next
                    callback(epoch, model, history)
    bar.close()
    history.seconds = time.perf_counter() - start_time
    return history
