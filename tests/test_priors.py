"""vae_course.priors.MixturePriorVAE against independent routes: torch.distributions (MixtureSameFamily for the
prior's log-density, kl_divergence for each component), Monte Carlo with stated standard errors, the
mixture's moments in closed form, and quadrature of p(x) for a model with a 1-D latent."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import integrate  # noqa: E402
from torch.distributions import (  # noqa: E402
    Bernoulli,
    Categorical,
    Independent,
    MixtureSameFamily,
    Normal,
    kl_divergence,
)

from vae_course.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from vae_course.evaluate import elbo, iwae_bound  # noqa: E402
from vae_course.priors import MixturePriorVAE, kl_diag_normals, log_normal_diag, plot_prior_and_aggregate  # noqa: E402
from vae_course.train import fit  # noqa: E402


def mixture_model(latent_dim: int = 3, n_components: int = 4, seed: int = 0, input_dim: int = 12) -> MixturePriorVAE:
    """A small model whose prior has unequal weights, spread-out means and unequal variances."""
    torch.manual_seed(seed)
    model = MixturePriorVAE(input_dim, 7, latent_dim, n_components=n_components, init_spread=1.5)
    with torch.no_grad():
        model.prior_logvars.uniform_(-1.0, 0.5)
        model.prior_logits.uniform_(-1.0, 1.0)
    return model.double()


def reference_prior(model: MixturePriorVAE) -> MixtureSameFamily:
    components = Independent(Normal(model.prior_means, torch.exp(0.5 * model.prior_logvars)), 1)
    return MixtureSameFamily(Categorical(logits=model.prior_logits), components)


def binary(n: int, d: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, d), 0.4, dtype=torch.float64), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------
# the prior's density and the two Gaussian formulas


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 6), st.integers(0, 10_000))
def test_log_prior_is_the_mixture_density_of_torch_distributions(latent_dim, n_components, seed):
    model = mixture_model(latent_dim, n_components, seed)
    z = 2.0 * torch.randn(5, 7, latent_dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(model.log_prior(z), reference_prior(model).log_prob(z), atol=1e-10, rtol=1e-10)


def test_log_prior_integrates_to_one_in_one_dimension():
    model = mixture_model(latent_dim=1, n_components=3)
    with torch.no_grad():
        mass = integrate.quad(lambda t: math.exp(float(model.log_prior(torch.tensor([t], dtype=torch.float64)))),
                              -30, 30, limit=200)[0]
    assert mass == pytest.approx(1.0, abs=1e-9)


def test_log_normal_diag_and_kl_diag_normals_against_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mu1, mu2, z = (torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(3))
    lv1, lv2 = (torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(2))
    q1, q2 = (Independent(Normal(m, torch.exp(0.5 * lv)), 1) for m, lv in ((mu1, lv1), (mu2, lv2)))
    assert torch.allclose(log_normal_diag(z, mu1, lv1), q1.log_prob(z), atol=1e-12)
    assert torch.allclose(kl_diag_normals(mu1, lv1, mu2, lv2), kl_divergence(q1, q2), atol=1e-12)


# ----------------------------------------------------------------------------------------------
# the KL: the bound that `kl` returns, the Monte Carlo estimate, the one-draw estimate in the loss


def q_params(n: int, latent_dim: int, seed: int, log_sigma_range=(-2.0, 0.5)):
    g = torch.Generator().manual_seed(seed)
    mu = 1.5 * torch.randn(n, latent_dim, generator=g, dtype=torch.float64)
    logvar = 2 * (log_sigma_range[0] + (log_sigma_range[1] - log_sigma_range[0]) * torch.rand(n, latent_dim, generator=g,
                                                                                              dtype=torch.float64))
    return mu, logvar


def test_kl_with_one_component_is_the_closed_form():
    model = mixture_model(n_components=1)
    mu, logvar = q_params(8, 3, 2)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(model.prior_means[0], torch.exp(0.5 * model.prior_logvars[0])), 1)
    with torch.no_grad():
        assert torch.allclose(model.kl(mu, logvar), kl_divergence(q, p), atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_is_an_upper_bound_between_the_true_kl_and_the_best_single_component(seed):
    model = mixture_model(latent_dim=2, n_components=5, seed=seed)
    mu, logvar = q_params(20, 2, seed + 10, log_sigma_range=(-1.0, 0.7))  # wide q's: the bound is loosest there
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    z = q.sample((40_000,))  # torch's own draws and densities: an independent Monte Carlo estimate of the KL
    terms = q.log_prob(z) - reference_prior(model).log_prob(z)  # (S, B)
    true_kl, stderr = terms.mean(0), terms.std(0) / math.sqrt(len(z))
    components = [Independent(Normal(m, torch.exp(0.5 * lv)), 1) for m, lv in zip(model.prior_means, model.prior_logvars)]
    log_pi = torch.log_softmax(model.prior_logits, 0)
    single = torch.stack([kl_divergence(q, p) - lp for p, lp in zip(components, log_pi)]).min(0).values  # w one-hot
    with torch.no_grad():
        bound = model.kl(mu, logvar)
    true_kl, stderr, single = true_kl.detach(), stderr.detach(), single.detach()
    assert bool((bound > true_kl - 5 * stderr).all()), "the bound fell below the KL"
    assert bool((bound <= single + 1e-10).all()), "the best weights must do at least as well as one component"
    assert float((bound - true_kl).max()) > 20 * float(stderr.max()), "a test that cannot see the bound is no test"


def test_kl_bound_is_tight_when_q_sits_inside_one_far_component():
    model = mixture_model(latent_dim=2, n_components=2)
    with torch.no_grad():
        model.prior_means.copy_(torch.tensor([[-8.0, 0.0], [8.0, 0.0]]))
        model.prior_logvars.zero_()
    mu, logvar = torch.tensor([[7.5, 0.3]], dtype=torch.float64), torch.full((1, 2), math.log(0.05**2), dtype=torch.float64)
    mc, se = model.kl_monte_carlo(mu, logvar, 20_000, generator=0)
    with torch.no_grad():
        assert float(model.kl(mu, logvar)[0]) == pytest.approx(float(mc[0]), abs=5 * float(se[0]) + 1e-6)


def test_kl_monte_carlo_agrees_with_torch_distributions():
    model = mixture_model()
    mu, logvar = q_params(6, 3, 4)
    mc, se = model.kl_monte_carlo(mu, logvar, 20_000, generator=3)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    torch.manual_seed(5)
    z = q.sample((20_000,))
    with torch.no_grad():
        terms = q.log_prob(z) - reference_prior(model).log_prob(z)
    ref, ref_se = terms.mean(0), terms.std(0) / math.sqrt(len(z))
    assert bool(((mc - ref).abs() < 5 * torch.sqrt(se**2 + ref_se**2)).all())


def test_loss_parts_against_torch_distributions_with_the_same_draws():
    model = mixture_model()
    x = binary(16)
    with torch.no_grad():
        loss = model.loss(x, generator=torch.Generator().manual_seed(7))
        mu, logvar = model.encode(x)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
        q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
        z = mu + torch.exp(0.5 * logvar) * eps
        recon = -Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1).mean()
        kl = (q.log_prob(z) - reference_prior(model).log_prob(z)).mean()
    assert float(loss["recon"]) == pytest.approx(float(recon), rel=1e-10)
    assert float(loss["kl"]) == pytest.approx(float(kl), rel=1e-10)
    assert float(loss.total) == pytest.approx(float(recon + kl), rel=1e-10)


def test_the_one_draw_kl_of_the_loss_is_unbiased():
    model = mixture_model()
    x = binary(8)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        draws = torch.stack([model.loss(x, generator=torch.Generator().manual_seed(s))["kl"] for s in range(4000)])
    mc, _ = model.kl_monte_carlo(mu, logvar, 50_000, generator=1)
    se = float(draws.std()) / math.sqrt(len(draws))
    assert float(draws.mean()) == pytest.approx(float(mc.mean()), abs=5 * se)


# ----------------------------------------------------------------------------------------------
# sampling


def test_sample_prior_has_the_mixture_moments():
    model = mixture_model(latent_dim=2, n_components=3)
    z = model.sample_prior(200_000, generator=0)
    pi, m, var = model.mixture_weights(), model.prior_means, model.prior_logvars.exp()
    mean = pi @ m  # sum_c pi_c m_c
    second = (pi[:, None, None] * (torch.diag_embed(var) + m[:, :, None] * m[:, None, :])).sum(0)
    cov = (second - mean[:, None] * mean[None, :]).detach()
    se = torch.sqrt(cov.diagonal() / len(z))
    assert bool(((z.mean(0) - mean.detach()).abs() < 5 * se).all())
    assert torch.allclose(torch.cov(z.T), cov, atol=5 * math.sqrt(2 / len(z)) * float(cov.diagonal().max()))
    assert torch.allclose(model.prior_mean().detach(), mean.detach())


def test_sample_decodes_prior_codes_into_pixel_probabilities():
    model = mixture_model()
    images = model.sample(9, generator=1)
    assert images.shape == (9, 12) and float(images.min()) >= 0 and float(images.max()) <= 1
    expected = torch.sigmoid(model.decode(model.sample_prior(9, generator=1))).detach()
    assert torch.allclose(images, expected)


# ----------------------------------------------------------------------------------------------
# the protocol's users: evaluate, fit, checkpoints


def log_evidence_by_quadrature(model: MixturePriorVAE, x: torch.Tensor) -> float:
    """log p(x) = log of the integral over the 1-D latent of p(z) p(x | z), by adaptive quadrature."""
    def joint(t: float) -> float:
        z = torch.tensor([t], dtype=torch.float64)
        with torch.no_grad():
            return math.exp(float(model.log_prior(z) + Bernoulli(logits=model.decode(z)).log_prob(x).sum()))
    return math.log(integrate.quad(joint, -25, 25, points=model.prior_means.flatten().tolist(), limit=400)[0])


def test_iwae_bound_scores_the_mixture_prior_against_quadrature():
    model = mixture_model(latent_dim=1, n_components=3, input_dim=6)
    x = binary(3, d=6, seed=2)
    exact = torch.tensor([log_evidence_by_quadrature(model, xi) for xi in x], dtype=torch.float64)
    repeats = torch.stack([iwae_bound(model, x, 10_000, generator=s, reduction="none") for s in range(40)])  # (R, N)
    mean, se = repeats.mean(0), repeats.std(0) / math.sqrt(len(repeats))
    assert bool((mean < exact + 5 * se).all()), "L_k above log p(x)"
    assert bool(((exact - mean) < 5 * se + 0.01).all()), "L_10000 should be within 0.01 nats of log p(x) here"
    # and the ELBO that evaluate.elbo computes with the bound as KL stays below L_1
    low = elbo(model, x, n_samples=20_000, generator=1, reduction="none")
    l1 = iwae_bound(model, x.repeat(20_000, 1), 1, generator=2, reduction="none").reshape(20_000, len(x))
    assert bool((low < l1.mean(0) + 5 * l1.std(0) / math.sqrt(len(l1))).all())


def test_fit_trains_the_prior_with_the_networks():
    model = mixture_model().float()
    before = [p.detach().clone() for p in (model.prior_means, model.prior_logvars, model.prior_logits)]
    x = binary(256).float()
    history = fit(model, x, epochs=15, batch_size=64, lr=1e-2, progress=False)
    # from about 9.1 nats towards the entropy of the pixels, 12 H(0.4) = 8.08 nats
    assert history.train["total"][-1] < history.train["total"][0] - 0.5
    for old, new in zip(before, (model.prior_means, model.prior_logvars, model.prior_logits)):
        assert float((old - new.detach()).abs().max()) > 1e-3, "a prior parameter did not move"


def test_checkpoint_round_trip(tmp_path):
    model = mixture_model(n_components=3).float()
    save_checkpoint(tmp_path / "m.pt", model)
    loaded, _, _ = load_checkpoint(tmp_path / "m.pt")
    assert isinstance(loaded, MixturePriorVAE) and loaded.config() == model.config()
    z = torch.randn(4, 3)
    assert torch.allclose(loaded.log_prior(z), model.log_prior(z))


# ----------------------------------------------------------------------------------------------
# the figure and refused input


def test_plot_prior_and_aggregate_draws_a_row_per_model():
    model = mixture_model(latent_dim=2)
    fig = plot_prior_and_aggregate({"a": (model.log_prior, model.log_prior), "b": (model.log_prior, model.log_prior)},
                                   n=21)
    assert len(fig.axes) == 4
    plt.close(fig)


@pytest.mark.parametrize("call, error, message", [
    (lambda: MixturePriorVAE(n_components=0), ValueError, "n_components must be a positive integer"),
    (lambda: MixturePriorVAE(n_components=2.0), TypeError, "n_components must be a positive integer"),
    (lambda: MixturePriorVAE(init_spread=-1.0), ValueError, "init_spread must be >= 0"),
    (lambda: mixture_model().sample(0), ValueError, "n must be a positive integer"),
    (lambda: mixture_model().kl_monte_carlo(torch.zeros(2, 3), torch.zeros(2, 3), 1), ValueError, "n_samples must be >= 2"),
    (lambda: mixture_model().kl_monte_carlo(torch.zeros(2, 3), torch.zeros(2, 2)), ValueError, "mu and logvar must have"),
    (lambda: plot_prior_and_aggregate({}), ValueError, "panels must name"),
    (lambda: plot_prior_and_aggregate({"a": (None, None)}, limit=0.0), ValueError, "limit must be > 0"),
])
def test_refused_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_free_bits_is_not_a_setting():
    with pytest.raises(TypeError):
        MixturePriorVAE(free_bits=0.5)
    assert "free_bits" not in MixturePriorVAE().config()
    assert np.isfinite(float(MixturePriorVAE().kl(torch.zeros(1, 10), torch.zeros(1, 10)).detach()[0]))
