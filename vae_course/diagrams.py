"""Two pictures drawn with matplotlib: the latent-variable model and the VAE built on it.

`plot_graphical_model()` shows the two directions of lesson 04: the generative model p(z) p(x | z)
(solid) and the approximate posterior q(z | x) that inference runs backwards (dashed).
`plot_vae_diagram()` shows the network of lesson 06, from an image x through the encoder to
(mu, log sigma^2), the reparameterized z = mu + sigma * eps with the noise entering from the side, and
the decoder back to p(x | z), each labelled with its size. Both return a Figure; nothing is read or saved.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from .validate import require_positive_int

FONT = 15  # large enough to read on a projector at the figures' sizes
LATENT_COLOR, DATA_COLOR, NOISE_COLOR = "#d6e4f5", "#bdbdbd", "#fbe3c4"
ENCODER_COLOR, DECODER_COLOR = "#cfe8cf", "#f5d0d0"


def _box(ax, xy: tuple[float, float], size: tuple[float, float], text: str, color: str, fontsize: float = FONT):
    """A rounded box centred at xy with centred text."""
    (x, y), (w, h) = xy, size
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=color, edgecolor="black", lw=1.5))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, *, dashed: bool = False, rad: float = 0.0, color: str = "black", label: str = ""):
    """An arrow from start to end; `label` names the edge (e.g. "z -> x") for readers of the figure object."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=22, lw=2, color=color,
                                 linestyle="--" if dashed else "-", connectionstyle=f"arc3,rad={rad}",
                                 shrinkA=0, shrinkB=0, label=label))


def _canvas(width: float, height: float, xlim: tuple[float, float], ylim: tuple[float, float]):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")
    ax.axis("off")
    return fig, ax


def plot_graphical_model():
    """The latent-variable model as a graph: z -> x generates (p(z), p(x | z)), x -> z infers (q(z | x), dashed).

    z is an unobserved (white) node, x an observed (shaded) one; the box around them is repeated for
    every data point. Returns the figure.
    """
    fig, ax = _canvas(7.0, 4.8, (0.8, 7.2), (0.1, 4.6))
    z_center, x_center, radius = (4.0, 3.7), (4.0, 1.0), 0.55
    ax.add_patch(Circle(z_center, radius, facecolor=LATENT_COLOR, edgecolor="black", lw=2))
    ax.add_patch(Circle(x_center, radius, facecolor=DATA_COLOR, edgecolor="black", lw=2))
    ax.text(*z_center, "$z$", ha="center", va="center", fontsize=FONT + 7)
    ax.text(*x_center, "$x$", ha="center", va="center", fontsize=FONT + 7)
    ax.text(z_center[0] + 0.75, z_center[1] + 0.35, "prior $p(z) = \\mathcal{N}(0, I)$", ha="left", va="center",
            fontsize=FONT)
    ax.text(z_center[0] - 0.75, z_center[1], "latent", ha="right", va="center", fontsize=FONT - 2, color="0.3")
    ax.text(x_center[0] - 0.75, x_center[1], "observed", ha="right", va="center", fontsize=FONT - 2, color="0.3")
    # generative direction on the left (solid), inference direction on the right (dashed)
    _arrow(ax, (3.65, 3.2), (3.65, 1.5), rad=0.35, label="z -> x")
    _arrow(ax, (4.35, 1.5), (4.35, 3.2), rad=0.35, dashed=True, color="C0", label="x -> z")
    ax.text(2.75, 2.35, "generative\n$p(x \\mid z)$", ha="right", va="center", fontsize=FONT)
    ax.text(5.25, 2.35, "inference\n$q(z \\mid x)$", ha="left", va="center", fontsize=FONT, color="C0")
    # the plate: one (z, x) pair per data point
    ax.add_patch(FancyBboxPatch((1.0, 0.2), 6.0, 4.3, boxstyle="round,pad=0,rounding_size=0.15",
                                facecolor="none", edgecolor="0.5", lw=1.2))
    ax.text(6.85, 0.35, "one (z, x) pair\nper data point", ha="right", va="bottom", fontsize=FONT - 3, color="0.35")
    fig.tight_layout()
    return fig


def plot_vae_diagram(input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10):
    """The VAE: x -> encoder -> (mu, log sigma^2) -> z = mu + sigma * eps -> decoder -> p(x | z), with sizes.

    eps ~ N(0, I) enters from below, so the noise is added after the encoder (erratum 4). Pass the
    sizes of the model you draw (`model.latent_dim`, `x.shape[1]`); the defaults are the articles'
    784-200-10 network. Returns the figure.
    """
    input_dim = require_positive_int("input_dim", input_dim)
    hidden_dim = require_positive_int("hidden_dim", hidden_dim)
    latent_dim = require_positive_int("latent_dim", latent_dim)
    fig, ax = _canvas(15.0, 5.4, (0.0, 15.0), (0.0, 5.4))
    mid = 3.0
    _box(ax, (1.0, mid), (1.5, 1.3), f"$x$\n{input_dim}", DATA_COLOR)
    _box(ax, (3.7, mid), (2.6, 1.9), f"encoder\n{input_dim} → {hidden_dim}\n→ 2 × {latent_dim}", ENCODER_COLOR)
    _box(ax, (6.55, mid + 1.0), (1.7, 1.0), f"$\\mu$\n{latent_dim}", LATENT_COLOR)
    _box(ax, (6.55, mid - 1.0), (1.7, 1.0), f"$\\log \\sigma^2$\n{latent_dim}", LATENT_COLOR)
    _box(ax, (9.0, mid), (2.3, 1.5), f"$z = \\mu + \\sigma \\odot \\varepsilon$\n{latent_dim}", LATENT_COLOR)
    _box(ax, (9.0, 0.55), (2.3, 0.8), "$\\varepsilon \\sim \\mathcal{N}(0, I)$", NOISE_COLOR)
    _box(ax, (11.75, mid), (2.4, 1.9), f"decoder\n{latent_dim} → {hidden_dim}\n→ {input_dim}", DECODER_COLOR)
    _box(ax, (14.0, mid), (1.6, 1.3), f"$p(x \\mid z)$\n{input_dim}", DATA_COLOR)
    _arrow(ax, (1.75, mid), (2.4, mid))
    _arrow(ax, (5.0, mid + 0.5), (5.7, mid + 1.0))
    _arrow(ax, (5.0, mid - 0.5), (5.7, mid - 1.0))
    _arrow(ax, (7.4, mid + 1.0), (7.85, mid + 0.4))
    _arrow(ax, (7.4, mid - 1.0), (7.85, mid - 0.4))
    _arrow(ax, (9.0, 0.95), (9.0, mid - 0.75), color="C1")
    _arrow(ax, (10.15, mid), (10.55, mid))
    _arrow(ax, (12.95, mid), (13.2, mid))
    ax.text(6.55, mid + 1.65, "$q(z \\mid x) = \\mathcal{N}(\\mu, \\mathrm{diag}(\\sigma^2))$", ha="center",
            va="bottom", fontsize=FONT - 1)
    ax.text(0.25, 0.3, "numbers: the size of each vector and layer", ha="left", va="bottom", fontsize=FONT - 3,
            color="0.35")
    ax.text(9.55, 1.55, "noise from\nthe side", ha="left", va="center", fontsize=FONT - 3, color="C1")
    fig.tight_layout()
    return fig
