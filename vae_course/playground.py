"""A live VAE playground: turn beta, the code size, the likelihood or the step size and watch a VAE learn.

Three layers, each usable alone:

- `TrainingRun`: the training driver. The step is `fit`'s (a shuffled batch, `model.loss(...).total`,
  Adam), but the run keeps its optimizer and its random streams between calls, so that it can stop after
  any step and go on later exactly where it was: paused and resumed, a run gives the same weights, bit
  for bit, as one that never stopped. The running sums stay on the device and are read once per epoch.
  Every random draw comes from the run's own generators, never from torch's global one, so the notebook
  can draw random numbers while the run trains in the background.
- `plot_playground(snapshot)`: one figure of a run's state: reconstruction and KL curves (nats per
  image, training and test digits), the latent means of the test digits coloured by digit, test digits
  with their reconstructions and prior samples, and each latent dimension's share of the KL with the
  active units marked. `plot_example_run` trains a short run in the foreground and returns that
  figure: the static view of a lesson, for GitHub and the course site where widgets do not run.
- `Playground`: the widget. Controls, Train / Pause / Reset, a readout and the figure, which is redrawn
  while the run trains in a background thread.

Why a thread that draws PNG images: ipywidgets documents background threads for work that must not block
the kernel, and a widget's value can be set from such a thread. Matplotlib's pyplot is not thread-safe
and the inline backend shows figures at the end of whatever cell runs next, so the thread never touches
pyplot: it draws on a bare `matplotlib.figure.Figure` with the Agg canvas (what matplotlib recommends for
web servers) and hands the PNG bytes to an `ipywidgets.Image`. Setting a value sends one comm message,
with no Output-widget capture that a thread could route into the wrong cell. The kernel stays free: the
controls (beta, the learning rate) are read by the run at the start of each epoch, and Pause sets an
event that the loop checks before every step, then waits for the thread to end, so no thread outlives
Pause, Reset or `close()`. The kernel's Interrupt button pauses the run too (while the kernel is idle,
ipykernel ignores SIGINT; the playground installs a handler of its own for as long as it trains).
"""

from __future__ import annotations

import atexit
import html
import io
import math
import signal
import sys
import threading
import time
import traceback
import weakref
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch

from .data import binarize
from .evaluate import active_units, elbo, encode_all, kl_per_dimension
from .train import History, LinearWarmup, make_optimizer, train_step
from .utils import eval_mode
from .vae import VAE
from .validate import require_images, require_labels, require_number, require_positive_int, seed_from

LIKELIHOODS = {
    "bernoulli": "binarized digits, Bernoulli pixels",  # each batch drawn as Bernoulli(x) afresh
    "grey": "grey levels, Bernoulli cross-entropy",  # the articles' BCE on grey images: no log-likelihood
}
SCORES = {  # what the test number is called: a bound on log p(x), or the value of the articles' objective
    "bernoulli": "test ELBO",
    "grey": "test −(BCE + KL)",
}
THREAD_NAME = "vae-playground"  # the name of the training thread (the tests look for it)
N_EVAL = 1000  # at most this many test digits are scored and drawn after each epoch
N_SHOW = 10  # digits per row of the image panel
WARMUP_EPOCHS = 10  # the widget's KL warm-up: beta grows from 0 over this many epochs


class Stop(Protocol):
    """What `TrainingRun.train` checks before each step: a threading.Event, or anything with is_set()."""

    def is_set(self) -> bool: ...


# ----------------------------------------------------------------------------------------------
# The training driver


@dataclass
class Snapshot:
    """What the playground's figure shows of a run at one moment (NumPy arrays, on the CPU)."""

    epoch: int  # complete epochs
    history: History  # per epoch: "train" and "val" (the test digits) means of "total", "recon", "kl"
    betas: list[float]  # the beta each epoch trained with
    events: list[tuple[int, str]]  # (epoch from which a setting applied, what changed)
    z: np.ndarray  # (N, 2) encoder means of the test digits, in the two dimensions `dims`
    dims: tuple[int, int]  # which latent dimensions z shows (0-based)
    labels: np.ndarray  # (N,) digit classes of the test digits
    digits: np.ndarray  # (n, D) test digits as the model sees them
    reconstructions: np.ndarray  # (n, D) sigmoid(decode(mu(x))) of those digits
    samples: np.ndarray  # (n, D) sigmoid(decode(z)), z ~ N(0, I), the same z at every snapshot
    kl_dims: np.ndarray  # (L,) each latent dimension's share of the KL term on the test digits, nats
    active: np.ndarray  # (L,) bool, Var_x(mu_u(x)) > 0.01 (Burda et al. 2016)
    test_elbo: float  # ELBO per test digit, nats (the negative BCE objective for grey levels)
    likelihood: str
    latent_dim: int


def _require_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _require_device(device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise (TypeError if not isinstance(device, str) else ValueError)(
            f"device must be a torch.device or a name such as 'cpu' or 'cuda', got {device!r}") from None


def _require_warmup(warmup_epochs) -> int:
    """0 (no warm-up) or a positive number of epochs."""
    if isinstance(warmup_epochs, (int, np.integer)) and not isinstance(warmup_epochs, bool) and warmup_epochs == 0:
        return 0
    return require_positive_int("warmup_epochs", warmup_epochs)


class TrainingRun:
    """A VAE (784-hidden-latent, `vae_course.vae.VAE`) and everything needed to train it step by step.

    x_train (N, D) and x_test (M, D): images in [0, 1]; y_test (M,): their digit classes (for colour).
    likelihood: "bernoulli" trains on dynamically binarized digits (each batch drawn as Bernoulli(x)) and
    scores fixed binarized test digits, so the ELBO is a bound on log p(x); "grey" trains and scores the
    grey levels with the Bernoulli cross-entropy, the articles' objective, which is no log-likelihood.
    beta: the weight of the KL term; warmup_epochs > 0 grows it from 0 (`LinearWarmup`).
    generator: an int seed (or a torch.Generator to draw one from); it fixes the initial weights, the
    shuffling and every random draw, and `reset` rewinds all of them.
    device: where the model and data live; None: x_train's device.
    """

    def __init__(self, x_train, x_test, y_test, *, latent_dim: int = 2, likelihood: str = "bernoulli",
                 beta: float = 1.0, warmup_epochs: int = 0, lr: float = 1e-3, batch_size: int = 128,
                 hidden_dim: int = 200, generator: torch.Generator | int = 0, device=None):
        x_train = require_images("x_train", x_train)
        x_test = require_images("x_test", x_test, x_train.shape[1])
        y_test = require_labels("y_test", y_test, 2**62, len(x_test))
        self.likelihood = _require_choice("likelihood", likelihood, tuple(LIKELIHOODS))
        self.latent_dim = require_positive_int("latent_dim", latent_dim)
        self.batch_size = require_positive_int("batch_size", batch_size)
        self.beta = require_number("beta", beta, minimum=0.0)
        self.warmup_epochs = _require_warmup(warmup_epochs)
        self.lr = require_number("lr", lr, minimum=0.0, strict=True)
        self.seed = seed_from("generator", generator)
        self.device = x_train.device if device is None else _require_device(device)
        with torch.random.fork_rng(devices=[]):  # initial weights from the seed; the global generator is left alone
            torch.manual_seed(self.seed)
            self.model = VAE(x_train.shape[1], require_positive_int("hidden_dim", hidden_dim), self.latent_dim)
        self.model.to(self.device)
        self.initial_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.x_train = x_train.to(self.device, torch.float32)
        n_eval = min(len(x_test), N_EVAL)
        x_eval = x_test[:n_eval].to(self.device, torch.float32)
        # the test digits every epoch is scored on: fixed binary images for the Bernoulli likelihood
        self.x_eval = binarize(x_eval, generator=self.seed) if self.likelihood == "bernoulli" else x_eval
        self.y_eval = y_test[:n_eval].cpu()
        classes = self.y_eval.numpy()
        self.shown = [int(np.flatnonzero(classes == c)[0]) for c in np.unique(classes)][:N_SHOW]  # one per class
        self.shown += [i for i in range(n_eval) if i not in self.shown][:N_SHOW - len(self.shown)]
        self.steps_per_epoch = math.ceil(len(self.x_train) / self.batch_size)
        self.reset()

    # -- state

    def reset(self) -> None:
        """Back to the initial weights, a fresh optimizer, rewound random streams and an empty history."""
        self.model.load_state_dict(self.initial_state)
        self.optimizer = make_optimizer(self.model, self.lr)
        self.shuffle = torch.Generator(device="cpu").manual_seed(self.seed)  # the order of the images
        self.noise = torch.Generator(device=self.device).manual_seed(self.seed + 1)  # binarization, z = mu + sigma eps
        self.epoch, self.step = 0, 0  # complete epochs; steps done in the epoch under way
        self.order: torch.Tensor | None = None  # the epoch's order of the images, once the epoch has started
        self.sums: torch.Tensor | None = None  # sums over the epoch's images of the loss and its parts, on the device
        self.names: list[str] = []  # what sums holds: "total" and the loss's parts
        self.history = History()
        self.betas: list[float] = []
        self.settings_log: list[tuple[float, int, float]] = []  # (beta, warmup_epochs, lr) of each epoch
        self.events: list[tuple[int, str]] = []
        self.diverged: int | None = None  # the epoch whose loss was not finite
        self.epoch_seconds: list[tuple[float, float]] = []  # wall seconds: (the steps, the test scores) per epoch

    def set(self, *, beta: float | None = None, warmup_epochs: int | None = None, lr: float | None = None) -> None:
        """Change beta, the warm-up or the learning rate; the run reads them at the start of each epoch."""
        if beta is not None:
            self.beta = require_number("beta", beta, minimum=0.0)
        if warmup_epochs is not None:
            self.warmup_epochs = _require_warmup(warmup_epochs)
        if lr is not None:
            self.lr = require_number("lr", lr, minimum=0.0, strict=True)

    def beta_at(self, epoch: int) -> float:
        """The weight of the KL term in `epoch` (1-based): beta, or the warm-up's value."""
        return LinearWarmup(self.warmup_epochs, self.beta)(epoch) if self.warmup_epochs else self.beta

    # -- training

    def _start_epoch(self) -> None:
        """Read the settings, note what changed since the last epoch, draw the epoch's order of images."""
        self._good = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        epoch = self.epoch + 1
        settings = (self.beta, self.warmup_epochs, self.lr)
        if self.settings_log and settings != self.settings_log[-1]:
            self.events.append((epoch, _describe_change(self.settings_log[-1], settings)))
        self.settings_log.append(settings)
        self.betas.append(self.beta_at(epoch))
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        self.order = torch.randperm(len(self.x_train), generator=self.shuffle).to(self.device)
        self.sums = None

    def _train_step(self) -> None:
        """One batch: fit's step (`train_step`), with the run's own generator for every random draw."""
        index = self.order[self.step * self.batch_size:(self.step + 1) * self.batch_size]
        row, self.names = train_step(self.model, self.optimizer, self.x_train, None, index, beta=self.betas[-1],
                                     binarize=self.likelihood == "bernoulli", generator=self.noise)
        self.sums = row if self.sums is None else self.sums + row
        self.step += 1

    def _end_epoch(self) -> bool:
        """Record the epoch's training means (one read from the device) and its test scores.

        False, with the weights put back to those the epoch started from, if any of them is not finite.
        """
        means = (self.sums / len(self.x_train)).tolist()
        scores = []
        if all(map(math.isfinite, means)):
            test_elbo = self._test_elbo()
            test_kl = float(kl_per_dimension(self.model, self.x_eval).sum())
            # the ELBO is E_q[log p(x | z)] - KL: its reconstruction term is -ELBO - KL
            scores = [-test_elbo, -test_elbo - test_kl, test_kl]
        if not scores or not all(map(math.isfinite, scores)):
            self.diverged = self.epoch + 1
            self.model.load_state_dict(self._good)
            return False
        self.epoch, self.step, self.order = self.epoch + 1, 0, None
        self.history.append("train", self.names, means)
        self.history.append("val", ["total", "recon", "kl"], scores)
        return True

    def _test_elbo(self) -> float:
        """The ELBO per test digit, one z per digit, the same noise at every call (smooth curves)."""
        return elbo(self.model, self.x_eval, generator=torch.Generator(device=self.device).manual_seed(self.seed))

    def train(self, epochs: int, *, stop: Stop | None = None,
              on_epoch: Callable[["TrainingRun"], bool | None] | None = None) -> str:
        """Train until `epochs` epochs are complete; return why it stopped: "done", "stopped" or "diverged".

        stop: checked before every step (a threading.Event set by Pause); the run stops there and the
        next call goes on from that very step. on_epoch(run), if given, is called after every epoch;
        it may return True to stop the run there ("stopped").
        """
        epochs = require_positive_int("epochs", epochs)
        if stop is not None and not callable(getattr(stop, "is_set", None)):
            raise TypeError(f"stop must have an is_set() method (a threading.Event), got {type(stop).__name__}")
        if on_epoch is not None and not callable(on_epoch):
            raise TypeError(f"on_epoch must be a function of the run, got {type(on_epoch).__name__}")
        if self.diverged:
            return "diverged"
        while self.epoch < epochs:
            if self.order is None:  # not yet started (a run stopped mid-epoch goes on with its order)
                self._start_epoch()
            self.model.train()
            start = time.perf_counter()
            while self.step < self.steps_per_epoch:
                if stop is not None and stop.is_set():
                    return "stopped"
                self._train_step()
            trained = time.perf_counter()
            if not self._end_epoch():
                return "diverged"
            self.epoch_seconds.append((trained - start, time.perf_counter() - trained))
            if on_epoch is not None and on_epoch(self):
                return "stopped"
        return "done"

    # -- what the figure shows

    def snapshot(self) -> Snapshot:
        """The state of the run for `plot_playground` (the model is evaluated, not changed)."""
        mu, _ = encode_all(self.model, self.x_eval)
        kl_dims = kl_per_dimension(self.model, self.x_eval)
        units = active_units(self.model, self.x_eval)
        # more than two dimensions: show the two that carry the most KL (ties: the lower index first)
        largest = np.argsort(-kl_dims.numpy(), kind="stable")[:2]
        dims = tuple(sorted(largest.tolist())) if self.latent_dim > 2 else (0, 1)
        dims = (0, 0) if self.latent_dim == 1 else dims
        shown = self.x_eval[self.shown]
        with eval_mode(self.model):
            # the decoder's mean at z = mu(x), and at the same prior draws z ~ N(0, I) every time
            reconstructions = torch.sigmoid(self.model.decode(self.model.encode(shown)[0]))
            samples = self.model.sample(len(self.shown), generator=torch.Generator().manual_seed(self.seed))
        val = self.history.val.get("total", [])
        return Snapshot(
            epoch=self.epoch,
            history=History({k: list(v) for k, v in self.history.train.items()},
                            {k: list(v) for k, v in self.history.val.items()}),
            betas=list(self.betas[:self.epoch]), events=list(self.events), z=mu[:, list(dims)].cpu().numpy(),
            dims=dims, labels=self.y_eval.numpy(), digits=shown.cpu().numpy(),
            reconstructions=reconstructions.cpu().numpy(), samples=samples.cpu().numpy(),
            kl_dims=kl_dims.numpy(), active=units.active.numpy(),
            test_elbo=-val[-1] if val else self._test_elbo(),
            likelihood=self.likelihood, latent_dim=self.latent_dim)


def _describe_change(before: tuple[float, int, float], after: tuple[float, int, float]) -> str:
    """'β 1 → 8, learning rate 0.001 → 0.003' from two (beta, warmup_epochs, lr) settings."""
    parts = []
    if before[0] != after[0]:
        parts.append(f"β {before[0]:g} → {after[0]:g}")
    if before[1] != after[1]:
        parts.append(f"KL warm-up over {after[1]} epochs" if after[1] else "KL warm-up off")
    if before[2] != after[2]:
        parts.append(f"learning rate {before[2]:g} → {after[2]:g}")
    return ", ".join(parts)


# ----------------------------------------------------------------------------------------------
# The figure


def plot_playground(snapshot: Snapshot, fig=None, title: str | None = None):
    """Draw a run's state on `fig` (a new pyplot figure when None) and return the figure.

    Top: the reconstruction term and the KL term per epoch (nats per image; training digits solid, test
    digits dashed; a dotted line where a setting changed), and the encoder means of the test digits.
    Bottom: test digits, their reconstructions and prior samples; each dimension's share of the KL.
    """
    from .plots import PART_TITLES, plot_labelled_grid, plot_latent_scatter
    from matplotlib.ticker import MaxNLocator

    if not isinstance(snapshot, Snapshot):
        raise TypeError(f"snapshot must be a Snapshot (TrainingRun.snapshot()), got {type(snapshot).__name__}")
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=FIGSIZE)
    top = fig.add_gridspec(1, 3, left=0.06, right=0.9, top=0.9, bottom=0.55, wspace=0.38, width_ratios=[1, 1, 1.1])
    bottom = fig.add_gridspec(1, 2, left=0.1, right=0.9, top=0.4, bottom=0.08, wspace=0.25, width_ratios=[2.1, 1])
    ax_recon, ax_kl, ax_z = (fig.add_subplot(top[0, i]) for i in range(3))
    ax_images, ax_units = fig.add_subplot(bottom[0, 0]), fig.add_subplot(bottom[0, 1])
    epochs = np.arange(1, snapshot.epoch + 1)
    for ax, key in ((ax_recon, "recon"), (ax_kl, "kl")):
        ax.plot(epochs, snapshot.history.train.get(key, []), "-", color="C0", label="training digits")
        ax.plot(epochs, snapshot.history.val.get(key, []), "--", color="C1", label="test digits")
        ax.set(xlabel="epoch", ylabel="nats per image", xlim=(0.5, max(5, snapshot.epoch) + 0.5))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_title(PART_TITLES[key], fontsize="medium")
        for epoch, text in snapshot.events:
            ax.axvline(epoch - 0.5, color="0.4", ls=":", lw=1)
    values = snapshot.history.train.get("recon", []) + snapshot.history.val.get("recon", [])
    if values:  # the first epochs start far above where the curve settles: keep the rest readable
        ax_recon.set_ylim(0.97 * min(values), min(max(values), 1.5 * min(values)) * 1.02)
    ax_kl.set_ylim(bottom=0)
    for epoch, text in snapshot.events:
        ax_kl.annotate(text.split(",")[0], (epoch - 0.5, 1.0), xycoords=("data", "axes fraction"),
                       fontsize="x-small", rotation=90, ha="right", va="top", color="0.3")
    ax_recon.legend(fontsize="small", loc="upper right")
    beta = snapshot.betas[-1] if snapshot.betas else None
    if beta is not None:
        ax_kl.text(0.98, 0.96, f"β = {beta:g}", transform=ax_kl.transAxes, ha="right", va="top", fontsize="small")

    limit = max(3.0, math.ceil(float(np.quantile(np.abs(snapshot.z), 0.99)) if len(snapshot.z) else 3.0))
    plot_latent_scatter(snapshot.z, snapshot.labels, ax=ax_z, limit=limit)
    i, j = snapshot.dims
    ax_z.set(xlabel=f"$z_{{{i + 1}}}$", ylabel=f"$z_{{{j + 1}}}$")
    ax_z.set_title("test digits' means μ(x)" if snapshot.latent_dim == 2 else
                   f"μ(x): the 2 of {snapshot.latent_dim} dims with most KL", fontsize="small")
    ax_z.legend(fontsize="x-small", title="digit", title_fontsize="x-small", markerscale=2, loc="upper left",
                bbox_to_anchor=(1.0, 1.03), handletextpad=0.1, borderpad=0.3, labelspacing=0.25)

    rows = np.concatenate([snapshot.digits, snapshot.reconstructions, snapshot.samples])
    plot_labelled_grid(rows, len(snapshot.digits), ["test digit", "reconstruction", "prior sample"], ax=ax_images)

    dims = np.arange(1, snapshot.latent_dim + 1)
    colours = np.where(snapshot.active, "C2", "0.7")
    ax_units.bar(dims, snapshot.kl_dims, color=colours)
    ax_units.set(xlabel="latent dimension", ylabel="KL share (nats)", ylim=(0, max(1.0, 1.15 * snapshot.kl_dims.max())))
    ax_units.set_xticks(dims if snapshot.latent_dim <= 10 else dims[:: math.ceil(snapshot.latent_dim / 10)])
    ax_units.set_title(f"active units: {int(snapshot.active.sum())} of {snapshot.latent_dim} (green)",
                       fontsize="medium")

    fig.suptitle(title or f"epoch {snapshot.epoch} · {SCORES[snapshot.likelihood]} {snapshot.test_elbo:.1f} nats · "
                 f"{LIKELIHOODS[snapshot.likelihood]}", fontsize="medium")
    return fig


FIGSIZE = (10.5, 5.8)  # inches: three panels a row, readable on a projector
LIVE_DPI = 84  # the live figure: 882 x 487 pixels, a PNG of some 80 kB per redraw


def render_png(snapshot: Snapshot, dpi: int = LIVE_DPI) -> bytes:
    """`plot_playground` drawn off-screen (a bare Figure on the Agg canvas, no pyplot) as PNG bytes.

    Safe in a background thread: nothing here touches pyplot's global state.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=require_positive_int("dpi", dpi))
    FigureCanvasAgg(fig)
    plot_playground(snapshot, fig=fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def plot_example_run(x_train, x_test, y_test, *, epochs: int = 15, **settings):
    """Train a short run in the foreground and return the figure of its final state.

    The static companion of `Playground`: what the widget shows after `epochs` epochs with `settings`
    (those of `TrainingRun`: latent_dim, likelihood, beta, warmup_epochs, lr, generator, device, ...).
    """
    run = TrainingRun(x_train, x_test, y_test, **settings)
    run.train(epochs)
    if run.diverged:
        raise RuntimeError(f"the example run's loss became non-finite in epoch {run.diverged}: try a smaller lr")
    snapshot = run.snapshot()
    warmup = f" (warmed up over {run.warmup_epochs} epochs)" if run.warmup_epochs else ""
    return plot_playground(snapshot, title=f"a finished run: {epochs} epochs, β = {run.beta:g}{warmup}, latent size "
                           f"{run.latent_dim}, {LIKELIHOODS[run.likelihood]} · {SCORES[run.likelihood]} "
                           f"{snapshot.test_elbo:.1f} nats")


# ----------------------------------------------------------------------------------------------
# The widget


def _kernel_loop():
    """The running ipykernel's tornado IOLoop (for work that must run on the main thread), or None."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    loop = getattr(getattr(shell, "kernel", None), "io_loop", None)
    return loop if callable(getattr(loop, "add_callback", None)) else None


class Playground:
    """The live playground: `Playground(x_train, x_test, y_test)` as the last line of a cell shows it.

    Controls: beta (log scale) with an optional KL warm-up, the latent size, the likelihood, the learning
    rate and the epoch the run stops at; Train, Pause and Reset. While the run trains (in a background
    thread) the figure is redrawn after an epoch whenever the drawing would take at most a third of the
    time, and at the end. beta, the warm-up and the learning rate apply from the next epoch; a new latent
    size or likelihood starts a new run. `train()`, `pause()`, `reset()` and `close()` do what the
    buttons do (close also removes the widget). Only one playground trains at a time.
    """

    _instances: "weakref.WeakSet[Playground]" = weakref.WeakSet()

    def __init__(self, x_train, x_test, y_test, *, latent_dim: int = 2, likelihood: str = "bernoulli",
                 beta: float = 1.0, warmup: bool = False, lr: float = 1e-3, epochs: int = 30,
                 generator: torch.Generator | int = 0, device=None):
        import ipywidgets as widgets

        from .widgets import FIGURE_CLASS, READOUT_CLASS, WIDGET_CLASS

        epochs = require_positive_int("epochs", epochs)
        require_number("beta", beta, minimum=0.01, maximum=100.0)  # the range of the slider
        require_number("lr", lr, minimum=1e-4, maximum=1e-2)
        if not isinstance(warmup, (bool, np.bool_)):
            raise TypeError(f"warmup must be True or False, got {type(warmup).__name__} {warmup!r}")
        self._data = (x_train, x_test, y_test)
        self._fixed = {"generator": seed_from("generator", generator), "device": device}
        self.run = TrainingRun(x_train, x_test, y_test, latent_dim=latent_dim, likelihood=likelihood, beta=beta,
                               warmup_epochs=WARMUP_EPOCHS if warmup else 0, lr=lr, **self._fixed)
        self._lock = threading.RLock()  # one writer at a time for the readout and the figure
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._why = ""  # why the last training stopped
        self._note = "press Train"  # what just changed
        self._drawn_at, self._last_draw = 0.0, 0.0
        self._drawn_epoch = -1
        self.draw_seconds: list[float] = []  # wall seconds of each redraw (snapshot and PNG)
        self._sigint = None  # the SIGINT handler ours replaced, while ours is installed
        self._finishing = False  # the thread has stopped training and only tidies up
        self._closed = False

        style, wide = {"description_width": "initial"}, widgets.Layout(width="300px")
        self.controls = {
            "beta": widgets.FloatLogSlider(value=beta, base=10, min=-2, max=2, step=0.1, description="β (KL weight)",
                                           continuous_update=False, style=style, layout=wide),
            "warmup": widgets.Checkbox(value=bool(warmup), description=f"KL warm-up over {WARMUP_EPOCHS} epochs",
                                       indent=False, layout=widgets.Layout(width="300px")),
            "latent_dim": widgets.Dropdown(options=sorted({2, 5, 10, 20, self.run.latent_dim}),
                                           value=self.run.latent_dim, description="latent size", style=style,
                                           layout=wide),
            "likelihood": widgets.Dropdown(options=[(text, key) for key, text in LIKELIHOODS.items()],
                                           value=self.run.likelihood, description="likelihood", style=style,
                                           layout=widgets.Layout(width="390px")),
            "lr": widgets.FloatLogSlider(value=lr, base=10, min=-4, max=-2, step=0.25, description="learning rate",
                                         continuous_update=False, readout_format=".1e", style=style, layout=wide),
            "epochs": widgets.IntSlider(value=epochs, min=1, max=max(200, epochs), description="stop at epoch",
                                        continuous_update=False, style=style, layout=wide),
        }
        self.buttons = {
            "train": widgets.Button(description="Train", icon="play", button_style="success"),
            "pause": widgets.Button(description="Pause", icon="pause", disabled=True),
            "reset": widgets.Button(description="Reset", icon="undo"),
        }
        for name, control in self.controls.items():
            control.observe(lambda change, name=name: self._control_changed(name, change["old"], change["new"]),
                            names="value")
        for name, button in self.buttons.items():
            button.on_click(lambda _, name=name: self._pressed(name))
        self.readout = widgets.HTML().add_class(READOUT_CLASS)
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.errors = widgets.Output()
        figure = widgets.Box([self.image], layout=widgets.Layout(min_height="480px")).add_class(FIGURE_CLASS)
        grid = widgets.GridBox(list(self.controls.values()), layout=widgets.Layout(grid_template_columns="auto auto"))
        row = widgets.HBox(list(self.buttons.values()))
        self.widget = widgets.VBox([grid, row, self.readout, figure, self.errors])
        self.widget.add_class(WIDGET_CLASS).add_class("vae-playground")
        self._widgets = [self.widget, grid, row, figure, self.readout, self.image, self.errors,
                         *self.controls.values(), *self.buttons.values()]  # what close() closes
        self._redraw()
        if not Playground._instances:  # at exit (a kernel shut down or restarted), stop any run before the end
            atexit.unregister(Playground._pause_all)
            atexit.register(Playground._pause_all)
        Playground._instances.add(self)

    @staticmethod
    def _pause_all() -> None:
        for playground in list(Playground._instances):
            playground.pause()

    # -- display: the widget in JupyterLab, a sentence where widgets do not run (GitHub, nbconvert)

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = "VAE playground (a live widget: run the notebook in JupyterLab to train it)"
        return bundle

    # -- the buttons

    @property
    def training(self) -> bool:
        """Whether the training thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def train(self) -> None:
        """Start (or go on with) training in a background thread, up to the 'stop at epoch' control."""
        if self._closed:
            raise RuntimeError("this playground is closed")
        if self.training and self._finishing:
            self._thread.join()  # it is about to end: a click now must not be lost
        if self.training:
            return
        if self.run.diverged:
            return self._say(f"the loss became non-finite in epoch {self.run.diverged}: lower the learning rate "
                             "and press Reset")
        if self.run.epoch >= self.controls["epochs"].value:
            return self._say(f"the run has reached epoch {self.run.epoch}: move 'stop at epoch' further, or Reset")
        for other in list(Playground._instances):
            if other is not self:
                other.pause()  # two runs on the same cores would each crawl
        self._stop = threading.Event()
        self._why = ""
        self._last_draw = 0.0  # the first epoch redraws and times a drawing (the first one here paid for imports)
        self._finishing = False
        self._thread = threading.Thread(target=self._work, name=THREAD_NAME, daemon=True)
        self._set_buttons(training=True)
        self._say("training…")
        self._thread.start()
        loop = _kernel_loop()
        if loop is not None:  # after this message's handler: ipykernel restores its own SIGINT handler then
            loop.add_callback(self._install_sigint)

    def pause(self) -> None:
        """Stop training after the current step and wait for the thread to end (the run keeps its place)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._stop.set()
        thread.join()

    def reset(self) -> None:
        """Stop training; back to the initial weights, the start of the random streams, an empty history."""
        self.pause()
        self.run.reset()
        self._drawn_epoch = -1
        self._note = "reset to the initial weights"
        self._redraw()

    def close(self) -> None:
        """Stop training and close the widget."""
        self.pause()
        self._closed = True
        Playground._instances.discard(self)
        for widget in self._widgets:
            widget.close()

    def _pressed(self, name: str) -> None:
        try:
            {"train": self.train, "pause": self.pause, "reset": self.reset}[name]()
        except Exception as error:
            self._show_error(error)

    # -- the controls

    def _control_changed(self, name: str, old, new) -> None:
        try:
            if name in ("latent_dim", "likelihood"):
                self.pause()
                settings = {"latent_dim": self.controls["latent_dim"].value,
                            "likelihood": self.controls["likelihood"].value, "beta": self.run.beta,
                            "warmup_epochs": self.run.warmup_epochs, "lr": self.run.lr}
                self.run = TrainingRun(*self._data, **settings, **self._fixed)
                self._drawn_epoch = -1
                shown = LIKELIHOODS.get(old, old), LIKELIHOODS.get(new, new)
                self._note = (f"{'latent size' if name == 'latent_dim' else 'likelihood'} {shown[0]} → {shown[1]}: "
                              f"a new model, from its initial weights (press Train)")
                self._redraw()
                return
            when = "from the next epoch"
            if name == "beta":
                self.run.set(beta=new)
                self._say(f"β {old:g} → {new:g} ({when})")
            elif name == "warmup":
                self.run.set(warmup_epochs=WARMUP_EPOCHS if new else 0)
                what = f"on: β grows from 0 over epochs 1-{WARMUP_EPOCHS}" if new else "off"
                self._say(f"KL warm-up {what} ({when})")
            elif name == "lr":
                self.run.set(lr=new)
                self._say(f"learning rate {old:.1e} → {new:.1e} ({when})")
            elif name == "epochs":
                self._say(f"the run stops at epoch {new}")
        except Exception as error:
            self._show_error(error)

    # -- the training thread

    def _work(self) -> None:
        why = "stopped"
        try:
            why = self.run.train(self.controls["epochs"].max, stop=self._stop, on_epoch=self._epoch_done)
        except Exception as error:  # shown in the widget, not lost in the kernel's log
            why = "failed"
            self._show_error(error)
        finally:
            self._finishing = True
            loop = _kernel_loop()
            if loop is not None:
                loop.add_callback(self._restore_sigint)
            if why != "failed":
                self._finish(why)
            self._set_buttons(training=False)

    def _epoch_done(self, run: TrainingRun) -> bool:
        """After each epoch: redraw if drawing would take at most a third of the time; stop at the last epoch."""
        now = time.perf_counter()
        last = run.epoch >= self.controls["epochs"].value
        if last or now - self._drawn_at >= 2 * self._last_draw:
            self._redraw()
        return last

    def _finish(self, why: str) -> None:
        if why == "diverged":
            self._note = (f"the loss became non-finite in epoch {self.run.diverged}; the model is back at the end of "
                          f"epoch {self.run.epoch}: lower the learning rate and press Reset")
        elif self._why == "interrupted":
            self._note = f"kernel interrupted: paused at {self._where()} (press Train to go on)"
        elif why == "stopped" and self._stop.is_set():
            self._note = f"paused at {self._where()} (press Train to go on)"
        else:
            self._note = f"done: {self.run.epoch} epochs"
        if self._drawn_epoch != self.run.epoch:
            self._redraw()
        else:
            self._say(self._note)

    def _where(self) -> str:
        if self.run.step:
            return f"epoch {self.run.epoch + 1}, step {self.run.step} of {self.run.steps_per_epoch}"
        return f"the end of epoch {self.run.epoch}"

    # -- drawing

    def _redraw(self) -> None:
        """Draw the run's state into the image and refresh the readout (from either thread)."""
        start = time.perf_counter()
        snapshot = self.run.snapshot()
        png = render_png(snapshot)
        with self._lock:
            self.image.value = png
            events = [(epoch, text) for epoch, text in snapshot.events if self._drawn_epoch < epoch <= snapshot.epoch]
            if events and self.training:
                self._note = f"{events[-1][1]}, from epoch {events[-1][0]}"
            self._drawn_epoch = snapshot.epoch
            self._snapshot = snapshot
            self.readout.value = self._readout_html()
        self._drawn_at = time.perf_counter()
        self._last_draw = self._drawn_at - start
        self.draw_seconds.append(self._last_draw)

    def _say(self, note: str) -> None:
        with self._lock:
            self._note = note
            self.readout.value = self._readout_html()

    def _readout_html(self) -> str:
        s = self._snapshot
        kl = s.history.val["kl"][-1] if s.epoch else float(s.kl_dims.sum())
        beta = s.betas[-1] if s.betas else self.run.beta_at(1)
        line = (f"epoch <b>{s.epoch}</b> · {SCORES[s.likelihood]} <b>{s.test_elbo:.1f}</b> nats · "
                f"KL <b>{kl:.2f}</b> nats (test digits) · <b>{int(s.active.sum())}</b> of {s.latent_dim} units "
                f"active · β = {beta:g}")
        return f"{line}<br><i>{html.escape(self._note)}</i>"

    def _set_buttons(self, *, training: bool) -> None:
        with self._lock:
            self.buttons["train"].disabled = training
            self.buttons["pause"].disabled = not training

    def _show_error(self, error: BaseException) -> None:
        with self._lock:
            self.readout.value = f"<b style='color:#b00'>error: {html.escape(repr(error))}</b>"
            self.errors.append_stderr("".join(traceback.format_exception(type(error), error, error.__traceback__)))

    # -- the kernel's Interrupt button

    def _install_sigint(self) -> None:
        """On the kernel's main thread: while the run trains, SIGINT (Interrupt) pauses it."""
        if not self.training or self._sigint is not None:
            return
        try:
            previous = signal.signal(signal.SIGINT, self._on_sigint)
        except (ValueError, OSError):  # not the main thread, or no signals here
            return
        self._sigint = previous

    def _on_sigint(self, signum, frame) -> None:
        self._why = "interrupted"
        self._stop.set()

    def _restore_sigint(self) -> None:
        if self._sigint is None:
            return
        try:
            if signal.getsignal(signal.SIGINT) == self._on_sigint:
                signal.signal(signal.SIGINT, self._sigint)
        except (ValueError, OSError):
            return
        self._sigint = None
