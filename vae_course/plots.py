"""Figures for the lessons. Importing this module changes no matplotlib setting; `set_style()` does."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._validate import as_finite_array, as_positive_array, require_positive_int
from .kl import _mvn_args, kl_mvn, kl_normal_1d, normal_logpdf_1d


def set_style(dpi: int = 80) -> None:
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


def plot_discrete_pair(p, q, labels=None, ax=None, names: tuple[str, str] = ("p", "q")):
    """Two probability vectors as side-by-side bars on one axis; returns the axis."""
    p, q = as_finite_array("p", p), as_finite_array("q", q)
    if p.ndim != 1 or p.shape != q.shape:
        raise ValueError(f"p and q must be 1-D vectors of the same length, got shapes {p.shape} and {q.shape}")
    if labels is not None and len(labels) != p.size:
        raise ValueError(f"labels must have {p.size} entries, one per outcome, got {len(labels)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 2.8))
    x, width = np.arange(p.size), 0.4
    ax.bar(x - width / 2, p, width, label=names[0])
    ax.bar(x + width / 2, q, width, label=names[1])
    ax.set_xticks(x, [str(i) for i in x] if labels is None else [str(v) for v in labels])
    ax.set_ylabel("probability")
    ax.legend()
    return ax


def _check_range(name: str, value) -> tuple[float, float]:
    lo, hi = (float(v) for v in as_finite_array(name, value).reshape(-1))
    if not lo < hi:
        raise ValueError(f"{name} must be (low, high) with low < high, got ({lo}, {hi})")
    return lo, hi


def plot_normal_kl_1d(mu1: float, sigma1: float, mu2: float, sigma2: float,
                      mu1_range=(-4.0, 4.0), sigma1_range=(0.2, 3.0)):
    """Lesson 02's figure for p = N(mu1, sigma1^2) and q = N(mu2, sigma2^2); returns the figure.

    Left: both densities. Middle and right: KL(p || q) and KL(q || p) as mu1, then sigma1, move over
    their range with the other arguments held, the current point marked.
    """
    kl_pq, kl_qp = kl_normal_1d(mu1, sigma1, mu2, sigma2), kl_normal_1d(mu2, sigma2, mu1, sigma1)
    mu_lo, mu_hi = _check_range("mu1_range", mu1_range)
    sigma_lo, sigma_hi = _check_range("sigma1_range", sigma1_range)
    if sigma_lo <= 0:
        raise ValueError(f"sigma1_range must lie above 0, got ({sigma_lo}, {sigma_hi})")
    fig, (ax_pdf, ax_mu, ax_sigma) = plt.subplots(1, 3, figsize=(10.5, 3.2))
    x = np.linspace(min(mu1 - 4 * sigma1, mu2 - 4 * sigma2), max(mu1 + 4 * sigma1, mu2 + 4 * sigma2), 400)
    for mu, sigma, name in ((mu1, sigma1, "p"), (mu2, sigma2, "q")):
        density = np.exp(normal_logpdf_1d(x, mu, sigma))
        ax_pdf.fill_between(x, density, alpha=0.25)
        ax_pdf.plot(x, density, label=f"{name} = N({mu:.2g}, {sigma:.2g}$^2$)")
    ax_pdf.set(xlabel="x", ylabel="density")
    ax_pdf.legend(fontsize="small")
    mu_grid, sigma_grid = np.linspace(mu_lo, mu_hi, 201), np.linspace(sigma_lo, sigma_hi, 201)
    curves = ((ax_mu, mu_grid, mu1, kl_normal_1d(mu_grid, sigma1, mu2, sigma2),
               kl_normal_1d(mu2, sigma2, mu_grid, sigma1), r"$\mu_1$"),
              (ax_sigma, sigma_grid, sigma1, kl_normal_1d(mu1, sigma_grid, mu2, sigma2),
               kl_normal_1d(mu2, sigma2, mu1, sigma_grid), r"$\sigma_1$"))
    for ax, grid, now, pq, qp, xlabel in curves:
        ax.plot(grid, pq, label="KL(p || q)")
        ax.plot(grid, qp, label="KL(q || p)")
        ax.plot([now, now], [kl_pq, kl_qp], "ko", ms=4)
        ax.set(xlabel=xlabel, ylabel="KL (nats)", ylim=(0, max(1.0, 1.5 * max(kl_pq, kl_qp))))
    ax_mu.legend(fontsize="small")
    fig.tight_layout()
    return fig


def covariance_2d(sd_x: float, sd_y: float, rho: float) -> np.ndarray:
    """[[sd_x^2, rho sd_x sd_y], [rho sd_x sd_y, sd_y^2]]: a 2-D covariance from two sds and a correlation."""
    sd_x, sd_y = float(as_positive_array("sd_x", sd_x)), float(as_positive_array("sd_y", sd_y))
    rho = float(as_finite_array("rho", rho))
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must lie strictly between -1 and 1, got {rho}")
    return np.array([[sd_x**2, rho * sd_x * sd_y], [rho * sd_x * sd_y, sd_y**2]])


def ellipse_points(mu, cov, n_std: float = 1.0, n_points: int = 100) -> np.ndarray:
    """The n_std-sigma contour of a 2-D Gaussian: points x with (x - mu)^T cov^-1 (x - mu) = n_std^2.

    Returns an array of shape (n_points, 2); the first and last points coincide (a closed curve).
    """
    mu, cov, chol = _mvn_args("mu", mu, "cov", cov)
    if mu.shape != (2,):
        raise ValueError(f"mu must have shape (2,) for an ellipse in the plane, got {mu.shape}")
    n_std = float(as_positive_array("n_std", n_std))
    n_points = require_positive_int("n_points", n_points)
    t = np.linspace(0.0, 2.0 * np.pi, n_points)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, n_points), |u| = 1
    # x = mu + n_std L u with cov = L L^T gives |L^-1 (x - mu)| = |n_std u| = n_std
    return (mu[:, None] + n_std * chol @ circle).T


def plot_gaussian_ellipses(ax, mu, cov, n_stds=(1.0, 2.0), label: str | None = None, color=None):
    """Draw the 1- and 2-sigma contours (solid, then dashed) of N(mu, cov) and its mean; returns the axis."""
    for i, n_std in enumerate(n_stds):
        points = ellipse_points(mu, cov, n_std)
        (line,) = ax.plot(points[:, 0], points[:, 1], color=color, ls="-" if i == 0 else "--",
                          label=label if i == 0 else None)
        color = line.get_color()
    ax.plot(*np.asarray(mu, dtype=float), "+", color=color, ms=10)
    return ax


def plot_mvn_kl_2d(mu1, sd1, rho1: float, mu2, cov2, rho_range=(-0.95, 0.95), xy_limit: float | None = None):
    """Lesson 03's figure for p = N(mu1, covariance_2d(*sd1, rho1)) and q = N(mu2, cov2); returns it.

    Left: 1- and 2-sigma ellipses of p and q. Right: KL(p || q) and KL(q || p) as p's correlation
    moves over rho_range with everything else held, the current point marked. `xy_limit` fixes the
    left view to [-xy_limit, xy_limit]^2 (so that it does not jump while a slider moves).
    """
    sd1 = as_finite_array("sd1", sd1)
    if sd1.shape != (2,):
        raise ValueError(f"sd1 must hold the two standard deviations of p, got shape {sd1.shape}")
    cov1 = covariance_2d(sd1[0], sd1[1], rho1)
    kl_pq, kl_qp = kl_mvn(mu1, cov1, mu2, cov2), kl_mvn(mu2, cov2, mu1, cov1)
    lo, hi = _check_range("rho_range", rho_range)
    fig, (ax_xy, ax_rho) = plt.subplots(1, 2, figsize=(9, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    plot_gaussian_ellipses(ax_xy, mu1, cov1, label="p")
    plot_gaussian_ellipses(ax_xy, mu2, cov2, label="q")
    ax_xy.set(xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    if xy_limit is not None:
        limit = float(as_positive_array("xy_limit", xy_limit))
        ax_xy.set(xlim=(-limit, limit), ylim=(-limit, limit))
    ax_xy.legend(fontsize="small", loc="upper left")
    rhos = np.linspace(lo, hi, 121)
    covs = [covariance_2d(sd1[0], sd1[1], r) for r in rhos]
    ax_rho.plot(rhos, [kl_mvn(mu1, c, mu2, cov2) for c in covs], label="KL(p || q)")
    ax_rho.plot(rhos, [kl_mvn(mu2, cov2, mu1, c) for c in covs], label="KL(q || p)")
    ax_rho.plot([rho1, rho1], [kl_pq, kl_qp], "ko", ms=4)
    ax_rho.set(xlabel=r"correlation $\rho$ of p", ylabel="KL (nats)", ylim=(0, max(1.0, 1.5 * max(kl_pq, kl_qp))))
    ax_rho.legend(fontsize="small")
    fig.tight_layout()
    return fig
