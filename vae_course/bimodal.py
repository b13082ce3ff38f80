"""A 1-D latent model whose exact posterior has two modes: where a Gaussian q must fall short.

    z ~ N(0, 1),    x | z ~ N(z^2, sigma^2)

The likelihood sees z only through z^2, so the posterior p(z | x) is symmetric about 0. Its log-density,
-z^2/2 - (x - z^2)^2 / (2 sigma^2) + const, has stationary points at z = 0 and z^2 = x - sigma^2/2: for
x > sigma^2/2 there are two modes at +-sqrt(x - sigma^2/2) and z = 0 is a dip between them. The evidence
p(x) has no closed form, but it is a 1-D integral, so quadrature gives it (and the posterior) to about
twelve digits. The ELBO of a Gaussian q = N(m, s^2) does have one, because E_q[(x - z^2)^2] needs only
the moments E[z^2] and E[z^4] of a Gaussian. Lesson 10 uses it to measure what a Gaussian q misses.
Everything here is NumPy/SciPy in float64; values are in nats.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
from scipy import integrate, optimize, special

from .kl import LOG_2PI, MonteCarloEstimate
from .validate import as_finite_array, as_positive_array, broadcast_arrays, require_number, require_positive_int

# Quadrature stops where the integrand is below exp(-TAIL_NATS) times its peak (the rest is < 1e-30 of it).
TAIL_NATS = 70.0
# The starts (m, log s) of best_gaussian: on both sides of 0, narrow and wide.
DEFAULT_STARTS = tuple((m, log_s) for m in (-2.0, -1.0, -0.25, 0.25, 1.0, 2.0) for log_s in (-1.5, 0.0))


def _float_if_scalar(value):
    return float(value) if np.ndim(value) == 0 else value


class GaussianFit(NamedTuple):
    """A local maximum of the ELBO over q = N(mean, sigma^2), found from `start` = (m, log s)."""

    mean: float
    sigma: float
    elbo: float
    start: tuple[float, float]


def _quad(f, points: Sequence[float]) -> float:
    """The integral of f over [points[0], points[-1]], one adaptive quadrature per piece between points."""
    total = 0.0
    for a, b in zip(points[:-1], points[1:]):
        if b > a:
            total += integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-11, limit=200)[0]
    return total


class SquaredMeanModel:
    """z ~ N(0, 1), x | z ~ N(z^2, sigma^2): a posterior with two mirror-image modes when x > sigma^2 / 2."""

    def __init__(self, sigma: float) -> None:
        self.sigma = require_number("sigma", sigma, minimum=0.0, strict=True)

    def __repr__(self) -> str:
        return f"SquaredMeanModel(sigma={self.sigma:g})"

    # ------------------------------------------------------------------------------------------
    # sampling and densities

    def sample(self, n: int, generator: np.random.Generator | int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """n draws (z, x) from the joint, each of shape (n,)."""
        n = require_positive_int("n", n)
        rng = np.random.default_rng(generator)
        z = rng.standard_normal(n)
        return z, z**2 + self.sigma * rng.standard_normal(n)

    def log_prior(self, z) -> np.ndarray:
        """log N(z; 0, 1), elementwise."""
        z = as_finite_array("z", z)
        return -0.5 * LOG_2PI - 0.5 * z**2

    def log_likelihood(self, x, z) -> np.ndarray:
        """log N(x; z^2, sigma^2), elementwise over broadcast x and z."""
        x, z = broadcast_arrays(x=as_finite_array("x", x), z=as_finite_array("z", z))
        return self._log_likelihood(x, z)

    def log_joint(self, x, z) -> np.ndarray:
        """log p(x, z) = log p(z) + log p(x | z), elementwise over broadcast x and z."""
        x, z = broadcast_arrays(x=as_finite_array("x", x), z=as_finite_array("z", z))
        return self._log_joint(x, z)

    # the unchecked formulas, for the integrands and the Monte Carlo loops
    def _log_likelihood(self, x, z):
        return -0.5 * LOG_2PI - math.log(self.sigma) - (x - z**2) ** 2 / (2.0 * self.sigma**2)

    def _log_joint(self, x, z):
        return -0.5 * LOG_2PI - 0.5 * z**2 + self._log_likelihood(x, z)

    # ------------------------------------------------------------------------------------------
    # the exact posterior, by quadrature

    def posterior_modes(self, x: float) -> np.ndarray:
        """The maxima of p(z | x): +-sqrt(x - sigma^2/2) if x > sigma^2/2, else 0 alone.

        d/dz log p(x, z) = z (2 (x - z^2) / sigma^2 - 1) is zero at z = 0 and at z^2 = x - sigma^2/2;
        the second derivative at 0, 2 x / sigma^2 - 1, is positive (a dip) exactly when x > sigma^2/2.
        """
        x = require_number("x", x)
        if x <= self.sigma**2 / 2:
            return np.zeros(1)
        z_mode = math.sqrt(x - self.sigma**2 / 2)
        return np.array([-z_mode, z_mode])

    def _posterior_grid(self, x: float) -> tuple[float, list[float]]:
        """The peak of log p(x, z) over z and the quadrature's break points: the cut-offs +-L, the modes and 0.

        Beyond the outer mode log p(x, z) falls monotonically (faster than a Gaussian), so L is where it
        has fallen TAIL_NATS below the peak.
        """
        modes = self.posterior_modes(x)
        peak = float(self._log_joint(x, modes[-1]))
        cutoff = max(1.0, 2.0 * float(modes[-1]))
        while self._log_joint(x, cutoff) > peak - TAIL_NATS:
            cutoff *= 1.5
        return peak, sorted({-cutoff, *modes.tolist(), 0.0, cutoff})

    def log_evidence(self, x: float) -> float:
        """log p(x) = log of the integral of p(z) p(x | z) over z, by adaptive quadrature."""
        x = require_number("x", x)
        peak, points = self._posterior_grid(x)
        # integrate p(x, z) / exp(peak) so that nothing underflows, then put the scale back
        return peak + math.log(_quad(lambda z: math.exp(self._log_joint(x, z) - peak), points))

    def posterior_logpdf(self, x: float, z) -> np.ndarray:
        """log p(z | x) = log p(x, z) - log p(x), elementwise over z."""
        x = require_number("x", x)
        return self._log_joint(x, as_finite_array("z", z)) - self.log_evidence(x)

    def posterior_moments(self, x: float) -> tuple[float, float]:
        """The posterior's mean and standard deviation, by quadrature (the mean is 0 by symmetry)."""
        x = require_number("x", x)
        log_px = self.log_evidence(x)
        _, points = self._posterior_grid(x)
        density = lambda z: math.exp(self._log_joint(x, z) - log_px)  # noqa: E731
        mean = _quad(lambda z: z * density(z), points)
        variance = _quad(lambda z: (z - mean) ** 2 * density(z), points)
        return mean, math.sqrt(variance)

    # ------------------------------------------------------------------------------------------
    # a Gaussian q(z) = N(q_mean, q_sigma^2): the ELBO in closed form, both KLs by quadrature

    def expected_log_likelihood(self, x, q_mean, q_sigma):
        """E_q[log p(x | z)] = -1/2 log(2 pi sigma^2) - E_q[(x - z^2)^2] / (2 sigma^2), in closed form.

        For z ~ N(m, s^2): E[z^2] = m^2 + s^2 and E[z^4] = m^4 + 6 m^2 s^2 + 3 s^4, so
        E[(x - z^2)^2] = x^2 - 2 x E[z^2] + E[z^4]. Broadcasts over arrays of x, q_mean and q_sigma.
        """
        return _float_if_scalar(self._expected_log_likelihood(*self._q_args(x, q_mean, q_sigma)))

    def elbo(self, x, q_mean, q_sigma):
        """ELBO(q) = E_q[log p(x | z)] - KL(q || N(0, 1)), in closed form. Broadcasts like expected_log_likelihood."""
        return _float_if_scalar(self._elbo(*self._q_args(x, q_mean, q_sigma)))

    def _expected_log_likelihood(self, x, m, s):
        v = s**2
        ez2, ez4 = m**2 + v, m**4 + 6.0 * m**2 * v + 3.0 * v**2
        return -0.5 * LOG_2PI - math.log(self.sigma) - (x**2 - 2.0 * x * ez2 + ez4) / (2.0 * self.sigma**2)

    def _elbo(self, x, m, s):
        # KL(N(m, s^2) || N(0, 1)) = (m^2 + s^2 - 1 - log s^2) / 2
        return self._expected_log_likelihood(x, m, s) - 0.5 * (m**2 + s**2 - 1.0 - 2.0 * np.log(s))

    def _q_args(self, x, q_mean, q_sigma) -> list[np.ndarray]:
        return broadcast_arrays(x=as_finite_array("x", x), q_mean=as_finite_array("q_mean", q_mean),
                                q_sigma=as_positive_array("q_sigma", q_sigma))

    def _q_scalars(self, x, q_mean, q_sigma) -> tuple[float, float, float]:
        return (require_number("x", x), require_number("q_mean", q_mean),
                require_number("q_sigma", q_sigma, minimum=0.0, strict=True))

    def kl_q_posterior(self, x: float, q_mean: float, q_sigma: float) -> float:
        """KL(q || p(z | x)) = integral of q(z) (log q(z) - log p(z | x)) dz, by quadrature.

        No closed form is used: this is the independent route to the gap log p(x) - ELBO(q). The range is
        q's mean +- 14 q_sigma (q < 1e-42 outside), with break points at the posterior's modes and 0.
        """
        x, m, s = self._q_scalars(x, q_mean, q_sigma)
        log_px = self.log_evidence(x)

        def integrand(z: float) -> float:
            log_q = -0.5 * LOG_2PI - math.log(s) - 0.5 * ((z - m) / s) ** 2
            return math.exp(log_q) * (log_q - self._log_joint(x, z) + log_px)

        lo, hi = m - 14.0 * s, m + 14.0 * s
        inside = [p for p in (*self.posterior_modes(x).tolist(), 0.0) if lo < p < hi]
        return _quad(integrand, sorted({lo, *inside, hi}))

    def kl_posterior_q(self, x: float, q_mean: float, q_sigma: float) -> float:
        """KL(p(z | x) || q) = integral of p(z | x) (log p(z | x) - log q(z)) dz, by quadrature."""
        x, m, s = self._q_scalars(x, q_mean, q_sigma)
        log_px = self.log_evidence(x)
        _, points = self._posterior_grid(x)

        def integrand(z: float) -> float:
            log_post = self._log_joint(x, z) - log_px
            log_q = -0.5 * LOG_2PI - math.log(s) - 0.5 * ((z - m) / s) ** 2
            return math.exp(log_post) * (log_post - log_q)

        return _quad(integrand, points)

    def best_gaussian(self, x: float, starts: Sequence[tuple[float, float]] = DEFAULT_STARTS) -> list[GaussianFit]:
        """Maximize the closed-form ELBO over (m, log s) with BFGS from each start; one GaussianFit per start.

        The ELBO can have several local maxima (one per mode, and sometimes one between them), so the
        caller compares the fits; the best is max(fits, key=lambda f: f.elbo).
        """
        x = require_number("x", x)
        starts = [tuple(float(v) for v in as_finite_array("starts", start).reshape(-1)) for start in starts]
        if not starts or any(len(start) != 2 for start in starts):
            raise ValueError(f"starts must be a non-empty list of (m, log s) pairs, got {starts!r}")
        fits = []
        for start in starts:
            result = optimize.minimize(lambda t: -self._elbo(x, t[0], np.exp(t[1])), start, method="BFGS",
                                       options={"gtol": 1e-9})
            fits.append(GaussianFit(float(result.x[0]), math.exp(result.x[1]), -float(result.fun), start))
        return fits

    # ------------------------------------------------------------------------------------------
    # the importance-weighted bound with q as the proposal

    def iwae_bound(self, x: float, q_mean: float, q_sigma: float, k: int, n_repeats: int = 1000,
                   generator: np.random.Generator | int | None = None) -> MonteCarloEstimate:
        """L_k = E[log (1/k) sum_i p(x, z_i) / q(z_i)], z_1..z_k ~ q, averaged over n_repeats independent sets.

        L_1 = ELBO(q), and ELBO <= L_k <= L_{k+1} <= log p(x) (Burda, Grosse & Salakhutdinov, 2016).
        """
        x, m, s = self._q_scalars(x, q_mean, q_sigma)
        k = require_positive_int("k", k)
        n_repeats = require_positive_int("n_repeats", n_repeats)
        if n_repeats < 2:
            raise ValueError(f"n_repeats must be >= 2 for a standard error, got {n_repeats}")
        eps = np.random.default_rng(generator).standard_normal((n_repeats, k))
        z = m + s * eps
        log_q = -0.5 * LOG_2PI - math.log(s) - 0.5 * eps**2  # (R, k)
        log_w = self._log_joint(x, z) - log_q  # (R, k)
        # log (1/k) sum_i w_i, by logsumexp so that tiny weights do not underflow
        bounds = special.logsumexp(log_w, axis=1) - math.log(k)  # (R,)
        return MonteCarloEstimate(float(bounds.mean()), float(bounds.std(ddof=1) / math.sqrt(n_repeats)), n_repeats)


# ----------------------------------------------------------------------------------------------
# Lesson 10's figure (and its widget's)


def plot_bimodal_fit(model: SquaredMeanModel, x: float, q_mean: float, q_sigma: float,
                     mean_range: tuple[float, float] = (-3.0, 3.0), nats_below: float = 10.0):
    """Left: the exact posterior p(z | x) and q = N(q_mean, q_sigma^2). Right: the ELBO as q's mean sweeps
    `mean_range` (q_sigma held) under log p(x), with the gap at the current q, which is KL(q || p(z | x)).

    The right panel shows `nats_below` nats under log p(x); a lower ELBO leaves the view (the legend
    still gives its gap). Returns the figure.
    """
    x, q_mean, q_sigma = model._q_scalars(x, q_mean, q_sigma)
    lo, hi = (float(v) for v in as_finite_array("mean_range", mean_range))
    if not lo < hi:
        raise ValueError(f"mean_range must be (low, high) with low < high, got {mean_range!r}")
    log_px = model.log_evidence(x)
    elbo = model.elbo(x, q_mean, q_sigma)
    fig, (ax_z, ax_elbo) = plt.subplots(1, 2, figsize=(10, 3.4))
    z = np.linspace(lo, hi, 801)
    posterior = np.exp(model.posterior_logpdf(x, z))
    q = np.exp(-0.5 * LOG_2PI - np.log(q_sigma) - 0.5 * ((z - q_mean) / q_sigma) ** 2)
    ax_z.fill_between(z, posterior, alpha=0.25)
    ax_z.plot(z, posterior, label=f"posterior p(z | x = {x:g})")
    ax_z.fill_between(z, q, alpha=0.25)
    ax_z.plot(z, q, label=f"q(z) = N({q_mean:.2f}, {q_sigma:.2f}$^2$)")
    ax_z.set(xlabel="z", ylabel="density", xlim=(lo, hi), ylim=(0, 1.4 * max(posterior.max(), q.max())))
    ax_z.legend(fontsize="small", loc="upper left")
    means = np.linspace(lo, hi, 401)
    ax_elbo.plot(means, model.elbo(x, means, q_sigma), label=f"ELBO, q's sigma held at {q_sigma:.2f}")
    ax_elbo.axhline(log_px, color="k", lw=1, label=f"log p(x) = {log_px:.3f}")
    ax_elbo.plot([q_mean, q_mean], [elbo, log_px], color="C3", lw=2,
                 label=f"gap = KL(q || p(z|x)) = {log_px - elbo:.3f}")
    ax_elbo.plot(q_mean, elbo, "o", color="C3", ms=5)
    ax_elbo.set(xlabel="mean of q", ylabel="nats", xlim=(lo, hi), ylim=(log_px - nats_below, log_px + 1.0))
    ax_elbo.legend(fontsize="small", loc="lower center")
    fig.tight_layout()
    return fig
