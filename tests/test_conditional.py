"""vae_course.conditional (lesson 08's conditional VAEs) with the judge and conditional_accuracy: shapes,
labels, each KL term against an independent formula, the losses, the ELBO and the importance-weighted bound
against torch.distributions, and accuracy on a stub judge."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.distributions import Bernoulli, Categorical, MultivariateNormal, Normal, kl_divergence

from vae_course.checkpoints import load_checkpoint, save_checkpoint
from vae_course.classifiers import DigitClassifier
from vae_course.conditional import AuxClassifierCVAE, ClassMeanCVAE, ConcatCVAE
from vae_course.evaluate import conditional_accuracy, elbo, iwae_bound
from vae_course.kl import kl_mvn
from vae_course.train import fit
from vae_course.vae import Loss

CLASSES = (ConcatCVAE, ClassMeanCVAE, AuxClassifierCVAE)
SIZES = dict(input_dim=12, hidden_dim=7, latent_dim=3, n_classes=4)


def build(cls, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    return cls(**{**SIZES, **kwargs})


def batch(n: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((n, SIZES["input_dim"]), 0.4), generator=g), torch.randint(0, 4, (n,), generator=g)


def eps_like(mu: torch.Tensor, seed: int) -> torch.Tensor:
    """The eps ~ N(0, I) that a generator seeded with `seed` gives first (what reparameterize draws)."""
    return torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------
# Shapes and labels


@pytest.mark.parametrize("cls", CLASSES)
def test_shapes(cls):
    model = build(cls)
    x, y = batch()
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (6, 3)
    assert model.decode(torch.zeros(5, 6, 3), y).shape == (5, 6, 12)  # a leading sample dimension
    assert torch.broadcast_shapes(torch.as_tensor(model.prior_mean(y)).shape, (6, 3)) == (6, 3)
    loss = model.loss(x, y)
    assert isinstance(loss, Loss) and loss.total.shape == () and all(t.shape == () for t in loss.parts.values())
    assert set(loss.parts) == ({"recon", "kl", "ce"} if cls is AuxClassifierCVAE else {"recon", "kl"})
    images = model.sample([0, 1, 2, 3, 3], generator=torch.Generator().manual_seed(0))
    assert images.shape == (5, 12) and 0.0 <= float(images.min()) and float(images.max()) <= 1.0


@pytest.mark.parametrize("cls", CLASSES)
def test_sample_follows_the_generator_and_the_prior_of_each_label(cls):
    model = build(cls)
    labels = torch.tensor([3, 0, 2, 2])
    a = model.sample(labels, generator=torch.Generator().manual_seed(5))
    b = model.sample(labels.tolist(), generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    # by hand: z = m_y + eps, with m_y = 0 except for the class-mean model's learned mu_y
    means = model.class_means[labels] if cls is ClassMeanCVAE else torch.zeros(4, 3)
    z = means + eps_like(means, 5)
    torch.testing.assert_close(a, torch.sigmoid(model.decode(z, labels)))


@pytest.mark.parametrize("cls", CLASSES)
def test_the_label_changes_the_generated_digit(cls):
    model = build(cls)
    with torch.no_grad():  # make the label's effect large enough to see in every model
        if cls is ClassMeanCVAE:
            model.class_means.copy_(torch.arange(4.0)[:, None].expand(4, 3) * 3)
        else:
            model.decoder[0].weight[:, 3:] += 3 * torch.randn(7, 4, generator=torch.Generator().manual_seed(0))
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    same_noise = [model.sample([d] * 3, generator=g()) for d in range(4)]
    assert all((same_noise[0] - other).abs().max() > 1e-3 for other in same_noise[1:])


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("labels, error, message", [
    ([0, 1, 4], ValueError, "must lie in 0..3, got 4"),
    ([0, -1, 2], ValueError, "must lie in 0..3, got -1"),
    ([0.0, 1.0, 2.0], TypeError, "must hold integer labels"),
    ([[0, 1, 2]], ValueError, "must be a 1-D tensor of labels"),
    ([0, 1], ValueError, "must have one label per row: 2 labels for 3 rows"),
    (None, ValueError, "must be given"),
    ("abc", TypeError, "must be a sequence of integer labels"),
])
def test_bad_labels_are_refused_where_users_call_in(cls, labels, error, message):
    model = build(cls)
    x = torch.rand(3, 12)
    with pytest.raises(error, match="y_train " + message):
        fit(model, x, labels, epochs=1, progress=False)
    with pytest.raises(error, match="y " + message):
        elbo(model, x, labels)
    with pytest.raises(error, match="y " + message):
        iwae_bound(model, x, 2, labels)
    if "per row" not in message and labels is not None:
        with pytest.raises(error, match="labels " + message):
            model.sample(labels)


@pytest.mark.parametrize("cls", CLASSES)
def test_bad_inputs_are_refused(cls):
    model = build(cls)
    with pytest.raises(ValueError, match="labels must hold at least one label"):
        model.sample([])
    with pytest.raises(ValueError, match="n_classes must be a positive integer"):
        build(cls, n_classes=0)
    with pytest.raises(ValueError, match="x_train must have 12 pixels per image"):
        fit(model, torch.rand(4, 11), torch.zeros(4, dtype=torch.long), epochs=1, progress=False)


def test_bad_weights_and_spreads_are_refused():
    for bad, error, message in ((-1.0, ValueError, "must be >= 0"), (float("nan"), ValueError, "must be finite"),
                                (float("inf"), ValueError, "must be finite"), (True, TypeError, "must be a real number")):
        with pytest.raises(error, match="ce_weight " + message):
            build(AuxClassifierCVAE, ce_weight=bad)
        with pytest.raises(error, match="mean_spread " + message):
            build(ClassMeanCVAE, mean_spread=bad)


def test_class_means_start_with_the_spread_asked_for():
    means = build(ClassMeanCVAE, latent_dim=500, mean_spread=2.5).class_means.detach()
    # 2,000 draws of N(0, 2.5^2): the sample sd is within 5 standard errors (sd / sqrt(2n)) of 2.5
    assert abs(float(means.std()) - 2.5) < 5 * 2.5 / math.sqrt(2 * means.numel())


# ----------------------------------------------------------------------------------------------
# Each model's KL term and loss against independent formulas


def test_concat_loss_against_torch_distributions():
    model = build(ConcatCVAE)
    x, y = batch()
    loss = model.loss(x, y, beta=0.5, generator=torch.Generator().manual_seed(4))
    # the encoder and decoder see the one-hot label appended to their inputs
    onehot = torch.eye(4)[y]
    mu, logvar = model.encoder(torch.cat([x, onehot], 1))
    z = mu + torch.exp(0.5 * logvar) * eps_like(mu, 4)
    recon = -Bernoulli(logits=model.decoder(torch.cat([z, onehot], 1))).log_prob(x).sum(-1).mean()
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1).mean()
    torch.testing.assert_close(loss["recon"], recon)
    torch.testing.assert_close(loss["kl"], kl)
    torch.testing.assert_close(loss.total, recon + 0.5 * kl)


def test_class_mean_kl_against_torch_distributions_with_mean_mu_y():
    model = build(ClassMeanCVAE)
    x, y = batch(8)
    loss = model.loss(x, y, beta=2.0, generator=torch.Generator().manual_seed(1))
    mu, logvar = model.encoder(x)  # the plain VAE's encoder: y enters through the prior only
    q = MultivariateNormal(mu, torch.diag_embed(logvar.exp()))
    p = MultivariateNormal(model.class_means[y], torch.eye(3))  # N(mu_y, I)
    kl = kl_divergence(q, p).mean()
    z = mu + torch.exp(0.5 * logvar) * eps_like(mu, 1)
    recon = -Bernoulli(logits=model.decoder(z)).log_prob(x).sum(-1).mean()
    torch.testing.assert_close(loss["kl"], kl)
    torch.testing.assert_close(loss.total, recon + 2.0 * kl)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=3, max_size=3), st.lists(st.floats(-2, 2), min_size=3, max_size=3),
       st.lists(st.floats(-4, 4), min_size=3, max_size=3))
def test_class_mean_kl_is_eq_8_against_kl_mvn(mu, logvar, mean_y):
    """1/2 sum[(mu - mu_y)^2 + sigma^2 - log sigma^2 - 1] = KL(N(mu, diag sigma^2) || N(mu_y, I)) (scipy closed form)."""
    model = build(ClassMeanCVAE).double()
    with torch.no_grad():
        model.class_means[2] = torch.tensor(mean_y, dtype=torch.float64)
        value = float(model.kl(torch.tensor([mu], dtype=torch.float64), torch.tensor([logvar], dtype=torch.float64),
                               torch.tensor([2]))[0])
    expected = kl_mvn(np.array(mu), np.diag(np.exp(logvar)), np.array(mean_y), np.eye(3))
    assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9)


def test_aux_classifier_loss_adds_the_weighted_cross_entropy():
    model = build(AuxClassifierCVAE, ce_weight=3.0)
    x, y = batch()
    loss = model.loss(x, y, beta=0.5, generator=torch.Generator().manual_seed(2))
    mu, logvar = model.encoder(x)  # q(z | x) ignores y
    class_logits = model.classifier(x)
    z = mu + torch.exp(0.5 * logvar) * eps_like(mu, 2)
    # in training the decoder gets the classifier's class probabilities next to z
    logits = model.decoder(torch.cat([z, torch.softmax(class_logits, -1)], 1))
    recon = -Bernoulli(logits=logits).log_prob(x).sum(-1).mean()
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1).mean()
    ce = -Categorical(logits=class_logits).log_prob(y).mean()
    torch.testing.assert_close(loss["recon"], recon)
    torch.testing.assert_close(loss["kl"], kl)
    torch.testing.assert_close(loss["ce"], ce)
    torch.testing.assert_close(loss.total, recon + 0.5 * kl + 3.0 * ce)


@pytest.mark.parametrize("cls", CLASSES)
def test_conditional_elbo_against_torch_distributions(cls):
    """evaluate.elbo(model, x, y) with one z per image = log p(x | z, y) - KL(q || p(z | y)) by hand."""
    model = build(cls)
    x, y = batch()
    values = elbo(model, x, y, n_samples=1, generator=torch.Generator().manual_seed(7), reduction="none")
    mu, logvar = model.encode(x, y)
    z = mu + torch.exp(0.5 * logvar) * eps_like(mu, 7)
    prior = MultivariateNormal(model.class_means[y] if cls is ClassMeanCVAE else torch.zeros(6, 3), torch.eye(3))
    onehot = torch.eye(4)[y]  # the generative model: the one-hot label where the aux model's classifier was
    decoder_input = z if cls is ClassMeanCVAE else torch.cat([z, onehot], 1)
    expected = (Bernoulli(logits=model.decoder(decoder_input)).log_prob(x).sum(-1)
                - kl_divergence(MultivariateNormal(mu, torch.diag_embed(logvar.exp())), prior))
    torch.testing.assert_close(values, expected.detach())
    with pytest.raises(ValueError, match="y must have one label per row: 5 labels for 6 rows"):
        elbo(model, x, y[:5])


@pytest.mark.parametrize("cls", CLASSES)
def test_conditional_iwae_bound_uses_each_models_prior(cls):
    """iwae_bound(model, x, k, y) against log (1/k) sum_j p(x | z_j, y) p(z_j | y) / q(z_j | x, y) by hand."""
    model = build(cls)
    x, y = batch()
    k = 5
    values = iwae_bound(model, x, k, y, generator=torch.Generator().manual_seed(8), reduction="none")
    with torch.no_grad():
        mu, logvar = model.encode(x, y)
        q = Normal(mu, torch.exp(0.5 * logvar))
        eps = torch.randn((k, *mu.shape), generator=torch.Generator().manual_seed(8))
        z = mu + torch.exp(0.5 * logvar) * eps  # (k, 6, 3)
        prior = Normal(model.class_means[y] if cls is ClassMeanCVAE else torch.zeros(6, 3), 1.0)
        onehot = torch.eye(4)[y].expand(k, 6, 4)
        decoder_input = z if cls is ClassMeanCVAE else torch.cat([z, onehot], -1)
        log_w = (Bernoulli(logits=model.decoder(decoder_input)).log_prob(x).sum(-1)
                 + prior.log_prob(z).sum(-1) - q.log_prob(z).sum(-1))
        expected = torch.logsumexp(log_w, 0) - math.log(k)
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------------------------
# The judge, training, checkpoints


def prototypes(n: int = 400, seed: int = 0):
    """Binary 12-pixel images of 4 classes, each drawn from its own fixed pattern (0.03 / 0.97)."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.tensor([[0.97 if (i // 3) == c else 0.03 for i in range(12)] for c in range(4)])
    y = torch.randint(0, 4, (n,), generator=g)
    return torch.bernoulli(patterns[y], generator=g), y, patterns


class PatternJudge(nn.Module):
    """A stub judge with known answers: the class whose block of 3 pixels holds the most ink."""

    def forward(self, x):
        return x.reshape(len(x), 4, 3).sum(-1)


@pytest.mark.parametrize("cls", CLASSES)
def test_each_model_learns_to_draw_the_class_asked_for(cls):
    x, y, _ = prototypes()
    model = build(cls)
    fit(model, x, y, epochs=60, batch_size=50, lr=3e-3, progress=False)
    accuracy = conditional_accuracy(model, PatternJudge(), 50, generator=torch.Generator().manual_seed(0))
    untrained = conditional_accuracy(build(cls), PatternJudge(), 50, generator=torch.Generator().manual_seed(0))
    assert accuracy >= 0.9 and untrained < 0.6, (accuracy, untrained)


@pytest.mark.parametrize("cls, extra", [(ConcatCVAE, {}), (ClassMeanCVAE, {"mean_spread": 1.5}), (AuxClassifierCVAE, {"ce_weight": 2.5}),
                                        (DigitClassifier, {})])
def test_checkpoint_round_trip(tmp_path, cls, extra):
    sizes = {k: v for k, v in SIZES.items() if cls is not DigitClassifier or k != "latent_dim"}
    torch.manual_seed(0)
    model = cls(**sizes, **extra)
    path = save_checkpoint(tmp_path / "m.pt", model)
    loaded, _, _ = load_checkpoint(path)
    assert type(loaded) is cls and loaded.config() == model.config()
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_fit_callback_sees_every_epoch_and_cannot_change_the_training():
    x, y, _ = prototypes(100)
    seen = []

    def callback(epoch, model, history):
        seen.append((epoch, history.epochs))
        torch.rand(1000)  # a draw from the global generator, inside the loop's seeded stream

    a, b = build(ConcatCVAE), build(ConcatCVAE)
    fit(a, x, y, epochs=3, batch_size=32, progress=False, callback=callback)
    fit(b, x, y, epochs=3, batch_size=32, progress=False)
    assert seen == [(1, 1), (2, 2), (3, 3)]
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


# ----------------------------------------------------------------------------------------------
# conditional_accuracy on stubs with known answers


class StubModel(nn.Module):
    """Draws, for label d, an image whose pixel d is 1 and the rest 0, except that every label in `wrong`
    gets the image of the next class."""

    def __init__(self, wrong=(), n_classes: int = 4):
        super().__init__()
        self.n_classes, self.wrong = n_classes, set(wrong)
        self.w = nn.Parameter(torch.zeros(1))

    def sample(self, labels, generator=None):
        labels = torch.as_tensor(labels)
        shown = torch.tensor([(d + 1) % self.n_classes if d in self.wrong else d for d in labels.tolist()])
        return torch.eye(self.n_classes)[shown]


class ReadPixelJudge(nn.Module):
    def forward(self, x):
        return x * 10.0  # the brightest pixel's index is the verdict


def test_conditional_accuracy_on_a_stub_judge_with_known_answers():
    judge = ReadPixelJudge()
    assert conditional_accuracy(StubModel(), judge, 5) == 1.0
    assert conditional_accuracy(StubModel(wrong={2}), judge, 5) == 0.75
    per_class = conditional_accuracy(StubModel(wrong={0, 3}), judge, 7, reduction="none")
    assert torch.equal(per_class, torch.tensor([0.0, 1.0, 1.0, 0.0]))


def test_conditional_accuracy_counts_each_image():
    """A judge that is right on the first 3 of every 8 images gives 3/8."""

    class FirstThree(nn.Module):
        def forward(self, x):
            truth = x.argmax(-1)
            verdict = torch.where(torch.arange(len(x)) < 3, truth, (truth + 1) % 4)
            return torch.eye(4)[verdict]

    assert conditional_accuracy(StubModel(), FirstThree(), 8) == pytest.approx(3 / 8)


def test_conditional_accuracy_refuses_bad_arguments():
    with pytest.raises(ValueError, match="n_per_class must be a positive integer"):
        conditional_accuracy(StubModel(), ReadPixelJudge(), 0)
    with pytest.raises(ValueError, match=r"judge must return \(5, 4\) class logits for 5 images, got torch.Size\(\[5, 7\]\)"):
        conditional_accuracy(StubModel(), nn.Linear(4, 7), 5)
    with pytest.raises(TypeError, match="model must be a conditional model"):
        conditional_accuracy(nn.Linear(2, 2), ReadPixelJudge(), 5)
    with pytest.raises(TypeError, match="judge must be a classifier"):
        conditional_accuracy(StubModel(), None, 5)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'none'"):
        conditional_accuracy(StubModel(), ReadPixelJudge(), 5, reduction="sum")


# ----------------------------------------------------------------------------------------------
# The lesson's figure helpers and widget


def test_labelled_grid_and_class_means_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vae_course.plots import plot_class_means, plot_labelled_grid

    ax = plot_labelled_grid(torch.rand(6, 784), 3, ["a", "b"], col_labels=[0, 1, 2]).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    # row r of 28-pixel images with 1-pixel padding is centred at 1 + 29 r + 13.5
    assert list(ax.get_yticks()) == [14.5, 43.5]
    with pytest.raises(ValueError, match="row_labels must name each of the 2 rows, got 3"):
        plot_labelled_grid(torch.rand(6, 784), 3, ["a", "b", "c"])
    with pytest.raises(ValueError, match="col_labels must name each of the 3 columns"):
        plot_labelled_grid(torch.rand(6, 784), 3, ["a", "b"], col_labels=[0])
    ax = plot_class_means(torch.randn(20, 2), torch.arange(20) % 10, torch.randn(10, 2)).axes[0]
    assert [t.get_text() for t in ax.texts] == [str(d) for d in range(10)]
    with pytest.raises(ValueError, match="means must have shape"):
        plot_class_means(torch.randn(20, 2), torch.arange(20) % 10, torch.randn(10, 3))
    plt.close("all")


def test_conditional_sampler_reports_what_the_judge_reads():
    import matplotlib

    matplotlib.use("Agg")
    from vae_course.widgets import conditional_sampler

    torch.manual_seed(0)
    models = {"a": ConcatCVAE(hidden_dim=8, latent_dim=2), "b": ClassMeanCVAE(hidden_dim=8, latent_dim=2)}
    judge = DigitClassifier(hidden_dim=8)
    box = conditional_sampler(models, judge, n=4)
    model_menu, digit_menu, seed_slider = box.children[0].children
    model_menu.value, digit_menu.value, seed_slider.value = "b", 7, 3
    images = models["b"].sample([7] * 4, generator=torch.Generator().manual_seed(3))
    verdicts = judge(images).argmax(-1).tolist()
    right = sum(v == 7 for v in verdicts)
    readout = box.children[1].value
    assert "b" in readout and "digit <b>7</b>" in readout and "seed 3" in readout, readout
    assert f"{' '.join(map(str, verdicts))}: <b>{right}/4</b> right" in readout, readout
    with pytest.raises(ValueError, match="models must name at least one"):
        conditional_sampler({}, judge)


def test_the_base_class_conditions_nothing_and_is_the_plain_vae():
    from vae_course.conditional import ConditionalVAE
    from vae_course.vae import VAE

    torch.manual_seed(0)
    base = ConditionalVAE(**SIZES)
    torch.manual_seed(0)
    plain = VAE(input_dim=12, hidden_dim=7, latent_dim=3)
    assert all(torch.equal(a, b) for a, b in zip(base.parameters(), plain.parameters()))
    x, y = batch()
    a = base.loss(x, y, generator=torch.Generator().manual_seed(1))
    b = plain.loss(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.total, b.total)
