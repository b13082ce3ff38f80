"""Figures for the lessons. Importing this module changes no matplotlib setting; `set_style()` does."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .validate import (as_finite_array, as_mean_and_covariance, as_positive_array, as_probability_vector,
                       broadcast_arrays, require_number, require_positive_int)
from .kl import kl_mvn, kl_normal_1d, normal_logpdf_1d
from .toy import LinearGaussian


def set_style(dpi: int = 110) -> None:
    """Modest, readable defaults for every lesson: small PNGs keep the notebooks under 1 MB."""
    plt.rcParams.update({
        "figure.dpi": dpi,
        "figure.figsize": (6.4, 3.6),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })


# ----------------------------------------------------------------------------------------------
# The KL lessons (01-03): two distributions side by side, and how their KL moves


def _axis(ax, figsize: tuple[float, float]):
    """`ax`, or a new figure's single axis when `ax` is None."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    elif not isinstance(ax, plt.Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def plot_discrete_pair(p, q, labels=None, ax=None, names: tuple[str, str] = ("p", "q")):
    """Two probability vectors as side-by-side bars on one axis (a new figure if `ax` is None); returns the figure."""
    p, q = as_probability_vector("p", p), as_probability_vector("q", q)
    if p.shape != q.shape:
        raise ValueError(f"p and q must be 1-D vectors of the same length, got shapes {p.shape} and {q.shape}")
    if labels is not None and len(labels) != p.size:
        raise ValueError(f"labels must have {p.size} entries, one per outcome, got {len(labels)}")
    if isinstance(names, str) or len(names) != 2:
        raise ValueError(f"names must hold two legend entries, one for p and one for q, got {names!r}")
    ax = _axis(ax, (5.5, 3.0))
    x, width = np.arange(p.size), 0.4
    ax.bar(x - width / 2, p, width, label=str(names[0]))
    ax.bar(x + width / 2, q, width, label=str(names[1]))
    ax.set_xticks(x, [str(i) for i in x] if labels is None else [str(v) for v in labels])
    ax.set(xlabel="outcome", ylabel="probability")
    ax.legend()
    return ax.figure


def _check_range(name: str, value) -> tuple[float, float]:
    array = as_finite_array(name, value).reshape(-1)
    if array.size != 2 or not array[0] < array[1]:
        raise ValueError(f"{name} must be (low, high) with low < high, got {value!r}")
    return float(array[0]), float(array[1])


def _positive(name: str, value) -> float:
    return require_number(name, value, minimum=0.0, strict=True)


def _kl_top(*values: float) -> float:
    # the top of a KL axis: room above the marked points, which may be inf (a KL beyond float64)
    finite = [v for v in values if np.isfinite(v)]
    return max([1.0] + [1.5 * v for v in finite])


def plot_normal_kl_1d(mu1: float, sigma1: float, mu2: float, sigma2: float,
                      mu1_range=(-4.0, 4.0), sigma1_range=(0.2, 3.0)):
    """Lesson 02's figure for p = N(mu1, sigma1^2) and q = N(mu2, sigma2^2); returns the figure.

    Left: both densities. Middle and right: KL(p || q) and KL(q || p) as mu1, then sigma1, move over
    their range with the other arguments held, the current point marked.
    """
    mu1, mu2 = require_number("mu1", mu1), require_number("mu2", mu2)
    sigma1, sigma2 = _positive("sigma1", sigma1), _positive("sigma2", sigma2)
    kl_pq, kl_qp = kl_normal_1d(mu1, sigma1, mu2, sigma2), kl_normal_1d(mu2, sigma2, mu1, sigma1)
    mu_lo, mu_hi = _check_range("mu1_range", mu1_range)
    sigma_lo, sigma_hi = _check_range("sigma1_range", sigma1_range)
    if sigma_lo <= 0:
        raise ValueError(f"sigma1_range must lie above 0, got ({sigma_lo}, {sigma_hi})")
    fig, (ax_pdf, ax_mu, ax_sigma) = plt.subplots(1, 3, figsize=(11, 3.4))
    x = np.linspace(min(mu1 - 4 * sigma1, mu2 - 4 * sigma2), max(mu1 + 4 * sigma1, mu2 + 4 * sigma2), 400)
    for mu, sigma, name in ((mu1, sigma1, "p"), (mu2, sigma2, "q")):
        density = np.exp(normal_logpdf_1d(x, mu, sigma))
        ax_pdf.fill_between(x, density, alpha=0.25)
        ax_pdf.plot(x, density, label=f"{name} = N({mu:.2g}, {sigma:.2g}$^2$)")
    ax_pdf.set(xlabel="x", ylabel="density")
    ax_pdf.legend(fontsize="small")
    mu_grid, sigma_grid = np.linspace(mu_lo, mu_hi, 201), np.linspace(sigma_lo, sigma_hi, 201)
    curves = ((ax_mu, mu_grid, mu1, kl_normal_1d(mu_grid, sigma1, mu2, sigma2),
               kl_normal_1d(mu2, sigma2, mu_grid, sigma1), r"$\mu_1$ (mean of p)"),
              (ax_sigma, sigma_grid, sigma1, kl_normal_1d(mu1, sigma_grid, mu2, sigma2),
               kl_normal_1d(mu2, sigma2, mu1, sigma_grid), r"$\sigma_1$ (standard deviation of p)"))
    for ax, grid, now, pq, qp, xlabel in curves:
        ax.plot(grid, pq, label="KL(p || q)")
        ax.plot(grid, qp, label="KL(q || p)")
        ax.plot([now, now], [kl_pq, kl_qp], "ko", ms=4)
        ax.set(xlabel=xlabel, ylabel="KL (nats)", ylim=(0, _kl_top(kl_pq, kl_qp)))
    ax_mu.legend(fontsize="small")
    fig.tight_layout()
    return fig


def covariance_2d(sigma_x: float, sigma_y: float, rho: float) -> np.ndarray:
    """[[sigma_x^2, rho sigma_x sigma_y], [rho sigma_x sigma_y, sigma_y^2]]: a 2-D covariance from two standard
    deviations and a correlation."""
    sigma_x, sigma_y = _positive("sigma_x", sigma_x), _positive("sigma_y", sigma_y)
    rho = require_number("rho", rho)
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must lie strictly between -1 and 1, got {rho}")
    return np.array([[sigma_x**2, rho * sigma_x * sigma_y], [rho * sigma_x * sigma_y, sigma_y**2]])


def ellipse_points(mu, cov, n_sigma: float = 1.0, n_points: int = 100) -> np.ndarray:
    """The n_sigma contour of a 2-D Gaussian: points x with (x - mu)^T cov^-1 (x - mu) = n_sigma^2.

    Returns an array of shape (n_points, 2); the first and last points coincide (a closed curve).
    """
    mu, cov, chol = as_mean_and_covariance("mu", as_finite_array("mu", mu), "cov", as_finite_array("cov", cov))
    if mu.shape != (2,):
        raise ValueError(f"mu must have shape (2,) for an ellipse in the plane, got {mu.shape}")
    n_sigma = _positive("n_sigma", n_sigma)
    n_points = require_positive_int("n_points", n_points)
    if n_points < 3:
        raise ValueError(f"n_points must be >= 3 to draw a closed curve, got {n_points}")
    t = np.linspace(0.0, 2.0 * np.pi, n_points)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, n_points), |u| = 1
    # x = mu + n_sigma L u with cov = L L^T gives |L^-1 (x - mu)| = |n_sigma u| = n_sigma
    return (mu[:, None] + n_sigma * chol @ circle).T


def plot_gaussian_ellipses(mu, cov, n_sigmas=(1.0, 2.0), label: str | None = None, color=None, ax=None):
    """Draw the 1- and 2-sigma contours (solid, then dashed) of N(mu, cov) and its mean on one axis (a new
    figure if `ax` is None); returns the figure."""
    if isinstance(mu, plt.Axes):  # the axis used to come first
        raise TypeError("mu must be a 2-D mean, got a matplotlib Axes: the axis goes last, as ax=...")
    if isinstance(n_sigmas, (str, bytes)) or not hasattr(n_sigmas, "__len__") or len(n_sigmas) == 0:
        raise ValueError(f"n_sigmas must be a non-empty sequence of contour levels, got {n_sigmas!r}")
    contours = [ellipse_points(mu, cov, n_sigma) for n_sigma in n_sigmas]  # checks mu, cov and each level first
    ax = _axis(ax, (4.5, 4.0))
    for i, points in enumerate(contours):
        (line,) = ax.plot(points[:, 0], points[:, 1], color=color, ls="-" if i == 0 else "--",
                          label=label if i == 0 else None)
        color = line.get_color()
    ax.plot(*np.asarray(mu, dtype=float), "+", color=color, ms=10)
    return ax.figure


def plot_mvn_kl_2d(mu1, sigma1, rho1: float, mu2, cov2, rho_range=(-0.95, 0.95), xy_limit: float | None = None):
    """Lesson 03's figure for p = N(mu1, covariance_2d(*sigma1, rho1)) and q = N(mu2, cov2); returns it.

    `sigma1` holds p's two standard deviations (along x1 and x2). Left: 1- and 2-sigma ellipses of p and
    q. Right: KL(p || q) and KL(q || p) as p's correlation moves over rho_range with everything else held,
    the current point marked. `xy_limit` fixes the left view to [-xy_limit, xy_limit]^2 (so that it does
    not jump while a slider moves).
    """
    sigma1 = as_finite_array("sigma1", sigma1)
    if sigma1.shape != (2,):
        raise ValueError(f"sigma1 must hold the two standard deviations of p, got shape {sigma1.shape}")
    cov1 = covariance_2d(sigma1[0], sigma1[1], rho1)
    kl_pq, kl_qp = kl_mvn(mu1, cov1, mu2, cov2), kl_mvn(mu2, cov2, mu1, cov1)
    lo, hi = _check_range("rho_range", rho_range)
    limit = None if xy_limit is None else _positive("xy_limit", xy_limit)
    fig, (ax_xy, ax_rho) = plt.subplots(1, 2, figsize=(9.5, 4.0), gridspec_kw={"width_ratios": [1, 1.3]})
    plot_gaussian_ellipses(mu1, cov1, label="p", ax=ax_xy)
    plot_gaussian_ellipses(mu2, cov2, label="q", ax=ax_xy)
    ax_xy.set(xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    if limit is not None:
        ax_xy.set(xlim=(-limit, limit), ylim=(-limit, limit))
    ax_xy.legend(fontsize="small", loc="upper left")
    rhos = np.linspace(lo, hi, 121)
    covs = [covariance_2d(sigma1[0], sigma1[1], r) for r in rhos]
    ax_rho.plot(rhos, [kl_mvn(mu1, c, mu2, cov2) for c in covs], label="KL(p || q)")
    ax_rho.plot(rhos, [kl_mvn(mu2, cov2, mu1, c) for c in covs], label="KL(q || p)")
    ax_rho.plot([rho1, rho1], [kl_pq, kl_qp], "ko", ms=4)
    ax_rho.set(xlabel=r"correlation $\rho$ of p", ylabel="KL (nats)", ylim=(0, _kl_top(kl_pq, kl_qp)))
    ax_rho.legend(fontsize="small")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------
# The ELBO and reparameterization lessons (04-05)


def plot_elbo_gap_1d(model, x, q_mean: float, q_sigma: float, mean_range=None):
    """Lesson 04's figure for a LinearGaussian model with a 1-D latent and q = N(q_mean, q_sigma^2).

    Left: the exact posterior p(z | x) and q. Right: the ELBO as q's mean sweeps `mean_range` (q_sigma
    held), under the line log p(x); the gap at the current q is drawn and labelled with its value,
    which is KL(q || p(z | x)). `mean_range` defaults to the posterior mean +- 3, which does not move
    with q, so the view stays put while a slider moves. Returns the figure.
    """
    if not isinstance(model, LinearGaussian):
        raise TypeError(f"model must be a LinearGaussian, got {type(model).__name__}")
    if model.latent_dim != 1:
        raise ValueError(f"model must have a 1-D latent for this figure, got latent_dim={model.latent_dim}")
    q_mean = require_number("q_mean", q_mean)
    q_sigma = require_number("q_sigma", q_sigma, minimum=0.0, strict=True)
    post_mean, post_cov = model.posterior(x)
    post_mean, post_sigma = float(post_mean[0]), float(post_cov[0, 0]) ** 0.5
    lo, hi = _check_range("mean_range", (post_mean - 3, post_mean + 3) if mean_range is None else mean_range)
    log_px = model.log_evidence(x)
    elbo = model.elbo(x, [q_mean], [[q_sigma**2]])
    fig, (ax_z, ax_elbo) = plt.subplots(1, 2, figsize=(10, 3.6))
    z = np.linspace(min(lo, q_mean - 4 * q_sigma), max(hi, q_mean + 4 * q_sigma), 400)
    for mu, sigma, name in ((post_mean, post_sigma, "posterior p(z | x)"), (q_mean, q_sigma, "q(z)")):
        density = np.exp(normal_logpdf_1d(z, mu, sigma))
        ax_z.fill_between(z, density, alpha=0.25)
        ax_z.plot(z, density, label=f"{name} = N({mu:.2f}, {sigma:.2f}$^2$)")
    ax_z.set(xlabel="z", ylabel="density", xlim=(lo, hi))
    ax_z.legend(fontsize="small", loc="upper left")
    means = np.linspace(lo, hi, 121)
    ax_elbo.plot(means, [model.elbo(x, [m], [[q_sigma**2]]) for m in means],
                 label=rf"ELBO, q's $\sigma$ held at {q_sigma:.2f}")
    ax_elbo.axhline(log_px, color="k", lw=1, label=f"log p(x) = {log_px:.3f}")
    ax_elbo.plot([q_mean, q_mean], [elbo, log_px], color="C3", lw=2,
                 label=rf"gap = KL(q $\|$ p(z|x)) = {log_px - elbo:.3f}")
    ax_elbo.plot(q_mean, elbo, "o", color="C3", ms=5)
    ax_elbo.set(xlabel="mean of q", ylabel="nats", xlim=(lo, hi), ylim=(min(elbo, log_px - 4) - 0.5, log_px + 1))
    ax_elbo.legend(fontsize="small", loc="lower center")
    fig.tight_layout()
    return fig


def _figure_and_axis(ax, figsize: tuple[float, float]):
    """The axis to draw on (a new figure's when `ax` is None) and its figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_iwae_bounds(ks, means, stderrs, log_evidence: float, elbo: float | None = None, ax=None):
    """The importance-weighted bound against k (log axis) with +-2 standard errors, under log p(x).

    With `elbo`, a dashed line marks the ELBO (the bound at k = 1). Returns the figure.
    """
    ks, means, stderrs = broadcast_arrays(ks=as_positive_array("ks", ks), means=as_finite_array("means", means),
                                          stderrs=as_finite_array("stderrs", stderrs))
    if ks.ndim != 1 or ks.size == 0:
        raise ValueError(f"ks must be a non-empty 1-D sequence, got shape {ks.shape}")
    log_evidence = require_number("log_evidence", log_evidence)
    fig, ax = _figure_and_axis(ax, (5.5, 3.4))
    ax.errorbar(ks, means, yerr=2 * stderrs, fmt="o-", ms=4, capsize=3,
                label=r"IWAE bound $\mathcal{L}_k$ ($\pm$2 s.e.)")
    ax.axhline(log_evidence, color="k", lw=1, label=f"log p(x) = {log_evidence:.3f}")
    if elbo is not None:
        elbo = require_number("elbo", elbo)
        ax.axhline(elbo, color="C1", ls="--", lw=1, label=f"ELBO = {elbo:.3f}")
    ax.set(xscale="log", xlabel="k (importance samples)", ylabel="nats")
    ax.legend(fontsize="small", loc="lower right")
    return fig


def plot_gradient_variance(sample_counts, variances: dict, stderrs: dict | None = None, exact: dict | None = None,
                           ax=None):
    """Variance of each gradient estimator against the number of samples n, on log-log axes; returns the figure.

    `variances` maps an estimator's name to its measured variances, one per sample count; `stderrs`
    (optional) to their standard errors, drawn as +-2 s.e. bars; `exact` (optional) to the exact
    variances, drawn as lines in the same colour (the measured values are then drawn as points).
    """
    counts = as_positive_array("sample_counts", sample_counts)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"sample_counts must be a non-empty 1-D sequence, got shape {counts.shape}")
    if not variances:
        raise ValueError("variances must name at least one estimator, got an empty mapping")

    def per_count(what: str, name: str, values, check=as_positive_array) -> np.ndarray:
        values = check(f"{what}[{name!r}]", values)
        if values.shape != counts.shape:
            raise ValueError(f"{what}[{name!r}] must have one value per sample count ({counts.size}), "
                             f"got shape {values.shape}")
        return values

    for extra, what in ((stderrs, "stderrs"), (exact, "exact")):
        if extra is not None and set(extra) != set(variances):
            raise ValueError(f"{what} must have the same estimator names as variances, got {sorted(extra)} "
                             f"and {sorted(variances)}")
    fig, ax = _figure_and_axis(ax, (6.0, 3.8))
    for i, (name, values) in enumerate(variances.items()):
        values, color = per_count("variances", name, values), f"C{i}"
        yerr = None if stderrs is None else 2 * per_count("stderrs", name, stderrs[name], as_finite_array)
        if exact is None:
            ax.errorbar(counts, values, yerr=yerr, fmt="o-", ms=4, capsize=3, color=color, label=name)
        else:
            ax.plot(counts, per_count("exact", name, exact[name]), "-", color=color, lw=1.5, label=f"{name} (exact)")
            ax.errorbar(counts, values, yerr=yerr, fmt="o", ms=4, capsize=3, color=color)
    if exact is not None:
        ax.plot([], [], "o", ms=4, color="0.4", label="measured" + ("" if stderrs is None else r" ($\pm$2 s.e.)"))
    ax.set(xscale="log", yscale="log", xlabel="samples per estimate n", ylabel="variance of the gradient estimate")
    ax.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------------------------
# The MNIST lessons (06-09): images, loss curves, latent spaces


def image_shape(n_pixels: int, shape: tuple[int, int] | None = None) -> tuple[int, int]:
    """The (height, width) of an image of n_pixels: `shape` when given, else the square side (28 x 28 for 784)."""
    if shape is not None:
        h, w = (require_positive_int("shape[0]", shape[0]), require_positive_int("shape[1]", shape[1]))
        if h * w != n_pixels:
            raise ValueError(f"shape {tuple(shape)} has {h * w} pixels, but the images have {n_pixels}")
        return h, w
    side = round(n_pixels ** 0.5)
    if side * side != n_pixels:
        raise ValueError(f"images of {n_pixels} pixels are not square: pass shape=(height, width)")
    return side, side


def _as_images(name: str, images, shape: tuple[int, int] | None) -> np.ndarray:
    """(N, H*W) or (N, H, W) tensors or arrays -> (N, H, W) float array."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    array = as_finite_array(name, images)
    if array.ndim == 3:
        shape = image_shape(array.shape[1] * array.shape[2], shape or array.shape[1:])
        return array.reshape(-1, *shape)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (N, pixels) or (N, height, width), got {array.shape}")
    return array.reshape(-1, *image_shape(array.shape[1], shape))


def _figure(ax, figsize: tuple[float, float]):
    """The axis to draw on: `ax`, or a new figure's single axis of size `figsize` (inches)."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _tile_images(images, ncol: int, shape: tuple[int, int] | None = None, pad: int = 1) -> np.ndarray:
    """Lay N images out row by row, `ncol` per row, on one canvas (padding = 1.0, white); returns (H', W')."""
    array = _as_images("images", images, shape)
    ncol = require_positive_int("ncol", ncol)
    nrow = -(-len(array) // ncol)
    h, w = array.shape[1:]
    canvas = np.ones((nrow * (h + pad) + pad, ncol * (w + pad) + pad))
    for i, image in enumerate(array):
        r, c = divmod(i, ncol)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = image
    return canvas


DIGIT_INCHES = 0.62  # the printed size of one digit in the grids: about 68 pixels at set_style's dpi


def plot_image_grid(images, ncol: int = 10, ax=None, title: str | None = None, shape: tuple[int, int] | None = None):
    """Images (grey levels or probabilities in [0, 1]) in a grid, dark ink on white; returns the figure."""
    array = _as_images("images", images, shape)
    canvas = _tile_images(array, ncol)
    nrow = -(-len(array) // ncol)
    ax = _figure(ax, (DIGIT_INCHES * min(ncol, len(array)) + 0.3, DIGIT_INCHES * nrow + 0.45))
    ax.imshow(canvas, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize="medium")
    return ax.figure


def plot_image_rows(rows, row_labels, col_labels=None, title: str | None = None, shape: tuple[int, int] | None = None):
    """One labelled row of images per entry of `rows` (each (N, pixels), same N): perturbations, interpolations.

    The rows are drawn by `plot_labelled_grid` on one canvas; returns the figure.
    """
    arrays = [_as_images(f"rows[{i}]", r, shape) for i, r in enumerate(rows)]
    if len({len(a) for a in arrays}) != 1:
        raise ValueError(f"rows must hold equally long rows of images, got lengths {[len(a) for a in arrays]}")
    if len(row_labels) != len(arrays):
        raise ValueError(f"row_labels must name each of the {len(arrays)} rows, got {len(row_labels)} labels")
    return plot_labelled_grid(np.concatenate(arrays), len(arrays[0]), row_labels, col_labels, title=title)


PART_TITLES = {"recon": "reconstruction  -log p(x | z)", "kl": "KL(q(z | x) || p(z))", "ce": "cross-entropy  -log c_y(x)"}


def plot_loss_curves(history, title: str | None = None):
    """Every recorded part of the loss and the total, per epoch (nats per image), training and validation;
    returns the figure. One panel per part ("recon", "kl", "ce", ...), then the total."""
    names = [k for k in history.train if k != "total"] + ["total"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.1), squeeze=False)
    for ax, key in zip(axes[0], names):
        epochs = np.arange(1, len(history.train[key]) + 1)
        ax.plot(epochs, history.train[key], label="train")
        if history.val.get(key):
            ax.plot(epochs, history.val[key], label="validation")
        label = PART_TITLES.get(key, key) if key != "total" else "total (what training minimizes)"
        ax.set(xlabel="epoch", ylabel="nats per image", title=label)
        ax.title.set_fontsize("medium")
    axes[0][0].legend(fontsize="small")
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    return fig


def plot_manifold(images, grid_values, ax=None, shape: tuple[int, int] | None = None):
    """The decoded images of a square grid of 2-D latent points as one picture; returns the figure.

    `images` are ordered row by row, top row first, for z = (grid_values[j], grid_values[-1 - i])
    at row i and column j, so that z1 grows to the right and z2 grows upwards.
    """
    n = len(grid_values)
    array = _as_images("images", images, shape)
    if len(array) != n * n:
        raise ValueError(f"images must hold len(grid_values)^2 = {n * n} images, got {len(array)}")
    h, w = array.shape[1:]
    canvas = _tile_images(array, n, pad=0)
    ax = _figure(ax, (7.5, 7.5))
    ax.imshow(canvas, cmap="gray_r", vmin=0.0, vmax=1.0)
    # one tick per cell centre, labelled with its z value (the grid need not be evenly spaced)
    every = max(1, n // 8)
    centres = [(j + 0.5) * w - 0.5 for j in range(0, n, every)]
    label = lambda v: f"{round(float(v), 2) + 0.0:.2f}"  # noqa: E731  (+ 0.0 turns -0.0 into 0.0)
    ax.set_xticks(centres, [label(grid_values[j]) for j in range(0, n, every)], fontsize="small")
    ax.set_yticks([(j + 0.5) * h - 0.5 for j in range(0, n, every)],
                  [label(grid_values[n - 1 - j]) for j in range(0, n, every)], fontsize="small")
    ax.set(xlabel="$z_1$", ylabel="$z_2$")
    ax.grid(False)
    return ax.figure


def plot_latent_scatter(z, labels, ax=None, point=None, limit: float | None = None):
    """2-D latent means coloured by class (tab10, with a legend); `point` (z1, z2) is marked; returns the figure."""
    z = z.detach().cpu().numpy() if hasattr(z, "detach") else np.asarray(z)
    labels = labels.detach().cpu().numpy() if hasattr(labels, "detach") else np.asarray(labels)
    if z.ndim != 2 or z.shape[1] != 2 or len(labels) != len(z):
        raise ValueError(f"z must have shape (N, 2) with one label per row, got {z.shape} and {len(labels)} labels")
    ax = _figure(ax, (6.0, 5.2))
    for digit in np.unique(labels):
        mask = labels == digit
        ax.scatter(z[mask, 0], z[mask, 1], s=6, alpha=0.6, color=plt.cm.tab10(int(digit) % 10), label=str(digit))
    if point is not None:
        ax.plot(*point, "k*", ms=14, mec="w")
    if limit is not None:
        ax.set(xlim=(-limit, limit), ylim=(-limit, limit))
    ax.set(xlabel="$z_1$", ylabel="$z_2$", aspect="equal")
    ax.legend(fontsize="small", markerscale=2, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="digit")
    return ax.figure


# ----------------------------------------------------------------------------------------------
# Conditional VAEs (lesson 08): digits asked for, row by row; class means in the latent plane


def plot_labelled_grid(images, ncol: int, row_labels, col_labels=None, ax=None, title: str | None = None,
                       shape: tuple[int, int] | None = None):
    """Images tiled `ncol` per row on one canvas, each row named at its left (the digit asked for, the
    epoch, ...) and each column on top if `col_labels` is given; returns the figure."""
    array = _as_images("images", images, shape)
    canvas = _tile_images(array, ncol)
    h, w = array.shape[1:]
    nrow = (canvas.shape[0] - 1) // (h + 1)
    if len(row_labels) != nrow:
        raise ValueError(f"row_labels must name each of the {nrow} rows, got {len(row_labels)} labels")
    if col_labels is not None and len(col_labels) != ncol:
        raise ValueError(f"col_labels must name each of the {ncol} columns, got {len(col_labels)} labels")
    ax = _figure(ax, (DIGIT_INCHES * ncol + 1.1, DIGIT_INCHES * nrow + (0.75 if title else 0.45)))
    ax.imshow(canvas, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    # row r spans pixels 1 + r (h + 1) ... r (h + 1) + h: its centre is at 1 + r (h + 1) + (h - 1) / 2
    ax.set_yticks([1 + r * (h + 1) + (h - 1) / 2 for r in range(nrow)], [str(v) for v in row_labels], fontsize="small")
    if col_labels is None:
        ax.set_xticks([])
    else:
        ax.set_xticks([1 + c * (w + 1) + (w - 1) / 2 for c in range(ncol)], [str(v) for v in col_labels], fontsize="small")
        ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize="medium")
    return ax.figure


def plot_class_means(z, labels, means, ax=None, limit: float | None = None):
    """2-D latent means coloured by class, with each class's learned prior mean mu_y drawn on top as a
    disc in the class colour holding its label; returns the figure."""
    means = as_finite_array("means", means.detach().cpu().numpy() if hasattr(means, "detach") else means)
    if means.ndim != 2 or means.shape[1] != 2:
        raise ValueError(f"means must have shape (n_classes, 2), one 2-D mean per class, got {means.shape}")
    fig = plot_latent_scatter(z, labels, ax=ax, limit=limit)
    ax = ax or fig.axes[0]
    for digit, (m1, m2) in enumerate(means):
        ax.scatter([m1], [m2], s=190, color=plt.cm.tab10(digit % 10), edgecolors="k", linewidths=1.2, zorder=3)
        ax.annotate(str(digit), (m1, m2), ha="center", va="center", fontsize="small", weight="bold", color="w", zorder=4)
    return fig
