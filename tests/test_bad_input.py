"""Every public entry point refuses bad arguments of the usual kinds with a TypeError or ValueError whose
message names the argument: never a NaN, a silent wrong number, or an error from deep inside torch.

Each row gives a function, arguments that work, and for one argument the bad values to try in its place.
The other modules' own test files hold their specific cases; this sweep makes sure no entry point was
forgotten and that every argument of the same kind is refused the same way.
"""

import math

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from vae_course import aggregate, checking, checkpoints, data, diagrams, evaluate, gradients, kl, plots, train, utils, widgets  # noqa: E402
from vae_course.bimodal import SquaredMeanModel  # noqa: E402
from vae_course.classifiers import DigitClassifier  # noqa: E402
from vae_course.conditional import AuxClassifierCVAE, ClassMeanCVAE, ConcatCVAE  # noqa: E402
from vae_course.toy import LinearGaussian  # noqa: E402
from vae_course.vae import VAE, GaussianVAE  # noqa: E402

NAN, INF = float("nan"), float("inf")
GRAD = torch.tensor(0.5, requires_grad=True)
NUMBER = [None, "1", True, NAN, INF, GRAD, 1 + 2j, [1.0]]  # where one finite real number belongs
COUNT = [0, -1, 2.5, True, None, "3", NAN]  # where a positive integer belongs
FUNCTION = [None, 3, "f"]  # where a function belongs


def small(cls=VAE, **kwargs):
    torch.manual_seed(0)
    sizes = dict(input_dim=16, hidden_dim=8, latent_dim=2)
    if cls in (ConcatCVAE, ClassMeanCVAE, AuxClassifierCVAE):
        sizes["n_classes"] = 3
    if cls is DigitClassifier:
        sizes = dict(input_dim=16, hidden_dim=8, n_classes=3)
    return cls(**sizes, **kwargs)


X = torch.rand(6, 16, generator=torch.Generator().manual_seed(0))
Y = torch.tensor([0, 1, 2, 0, 1, 2])
IMAGES = [None, "x", X.numpy().tolist(), X[0], X * 255, -X, torch.full_like(X, NAN), X[:0],
          torch.ones(6, 16, dtype=torch.long), torch.rand(6, 15)]  # where a batch of images belongs
LABELS = [None, "y", Y.float(), Y[:5], Y + 5, -Y - 1, Y[None]]  # where one label per image belongs


def cases():
    """(id, function, good keyword arguments, argument, bad values)."""
    vae, cvae = small(), small(ConcatCVAE)
    rows = [
        ("VAE", VAE, dict(input_dim=16, hidden_dim=8, latent_dim=2), "input_dim", COUNT),
        ("VAE", VAE, dict(input_dim=16, hidden_dim=8, latent_dim=2), "hidden_dim", COUNT),
        ("VAE", VAE, dict(input_dim=16, hidden_dim=8, latent_dim=2), "latent_dim", COUNT),
        ("VAE", VAE, dict(input_dim=16), "free_bits", NUMBER + [-0.5]),
        ("GaussianVAE", GaussianVAE, dict(input_dim=16), "init_logvar", NUMBER),
        ("GaussianVAE", GaussianVAE, dict(input_dim=16), "logvar_lr", NUMBER[1:] + [0.0, -1.0]),
        ("ConcatCVAE", ConcatCVAE, dict(input_dim=16), "n_classes", COUNT),
        ("ClassMeanCVAE", ClassMeanCVAE, dict(input_dim=16), "mean_spread", NUMBER + [-1.0]),
        ("AuxClassifierCVAE", AuxClassifierCVAE, dict(input_dim=16), "ce_weight", NUMBER + [-1.0]),
        ("DigitClassifier", DigitClassifier, dict(input_dim=16), "n_classes", COUNT),
        ("VAE.sample", vae.sample, dict(n=3), "n", COUNT),
        ("VAE.loss", vae.loss, dict(x=X), "x", [None, "x", X[:0], torch.rand(6, 15), torch.ones(6, 16, dtype=torch.long),
                                                 X.double()]),
        ("VAE.loss", vae.loss, dict(x=X), "beta", NUMBER + [-1.0]),
        ("VAE.loss", vae.loss, dict(x=X), "y", [Y]),
        ("ConcatCVAE.sample", cvae.sample, dict(labels=[0, 1]), "labels", [None, "y", [0.5], [3], [-1], [[0]], []]),
        ("fit", train.fit, dict(model=small(), x_train=X, epochs=1, progress=False), "x_train", IMAGES),
        ("fit", train.fit, dict(model=small(ConcatCVAE), x_train=X, y_train=Y, epochs=1, progress=False), "y_train", LABELS),
        ("fit", train.fit, dict(model=small(), x_train=X, epochs=1, progress=False), "y_train", [Y]),
        ("fit", train.fit, dict(model=small(), x_train=X, epochs=1, progress=False), "epochs", COUNT),
        ("fit", train.fit, dict(model=small(), x_train=X, epochs=1, progress=False), "batch_size", COUNT),
        ("fit", train.fit, dict(model=small(), x_train=X, epochs=1, progress=False), "lr", NUMBER + [0.0, -1e-3]),
        ("fit", train.fit, dict(model=small(), x_train=X, epochs=1, progress=False), "beta", NUMBER[1:] + [-1.0]),
        ("fit", train.fit, dict(model=small(), x_train=X, epochs=1, progress=False), "x_val", IMAGES[1:]),
        ("fit", train.fit, dict(model=small(), x_train=X, epochs=1, progress=False), "generator", [None, -1, "0", 1.5]),
        ("fit", train.fit, dict(model=small(), x_train=X, epochs=1, progress=False), "callback", FUNCTION[1:]),
        ("fit", train.fit, dict(model=small(), x_train=X, epochs=1, progress=False), "model", [None, torch.nn.Linear(2, 2)]),
        ("evaluate_terms", train.evaluate_terms, dict(model=small(), x=X), "x", IMAGES),
        ("evaluate_terms", train.evaluate_terms, dict(model=small(), x=X), "beta", NUMBER + [-1.0]),
        ("evaluate_terms", train.evaluate_terms, dict(model=small(), x=X), "batch_size", COUNT),
        ("LinearWarmup", train.LinearWarmup, dict(warmup_epochs=3), "warmup_epochs", COUNT),
        ("LinearWarmup", train.LinearWarmup, dict(warmup_epochs=3), "beta_max", NUMBER + [-1.0]),
        ("elbo", evaluate.elbo, dict(model=vae, x=X), "x", IMAGES),
        ("elbo", evaluate.elbo, dict(model=vae, x=X), "n_samples", COUNT),
        ("elbo", evaluate.elbo, dict(model=vae, x=X), "batch_size", COUNT),
        ("elbo", evaluate.elbo, dict(model=vae, x=X), "generator", ["0", -1, 1.5]),
        ("elbo", evaluate.elbo, dict(model=vae, x=X), "reduction", ["sum", None]),
        ("elbo", evaluate.elbo, dict(model=vae, x=X), "y", [Y]),
        ("elbo", evaluate.elbo, dict(model=cvae, x=X, y=Y), "y", LABELS),
        ("elbo", evaluate.elbo, dict(model=vae, x=X), "model", [None, torch.nn.Linear(16, 2)]),
        ("iwae_bound", evaluate.iwae_bound, dict(model=vae, x=X, k=3), "k", COUNT),
        ("iwae_bound", evaluate.iwae_bound, dict(model=vae, x=X, k=3), "max_rows", COUNT),
        ("iwae_bound", evaluate.iwae_bound, dict(model=cvae, x=X, k=3, y=Y), "y", LABELS),
        ("active_units", evaluate.active_units, dict(model=vae, x=X), "threshold", NUMBER + [0.0, -1.0]),
        ("active_units", evaluate.active_units, dict(model=vae, x=X), "x", IMAGES + [X[:1]]),
        ("kl_per_dimension", evaluate.kl_per_dimension, dict(model=vae, x=X), "batch_size", COUNT),
        ("conditional_accuracy", evaluate.conditional_accuracy, dict(model=cvae, judge=small(DigitClassifier), n_per_class=2),
         "n_per_class", COUNT),
        ("conditional_accuracy", evaluate.conditional_accuracy, dict(model=cvae, judge=small(DigitClassifier), n_per_class=2),
         "judge", FUNCTION),
        ("conditional_accuracy", evaluate.conditional_accuracy, dict(model=cvae, judge=small(DigitClassifier), n_per_class=2),
         "model", [None, vae]),
        ("DigitClassifier.predict", small(DigitClassifier).predict, dict(x=X), "x", IMAGES),
        ("binarize", data.binarize, dict(x=X), "x", IMAGES[:2] + IMAGES[4:7]),
        ("binarize", data.binarize, dict(x=X), "generator", [None, -1, "0", 1.5]),
        ("load_offline_mnist", data.load_offline_mnist, dict(), "generator", [None, -1, "0", 1.5]),
        ("load_mnist", data.load_mnist, dict(source="offline"), "source", ["bogus", "", 3]),
        ("seed_everything", utils.seed_everything, dict(seed=0), "seed", [-1, 2**32, 1.5, True, None, "0"]),
        ("get_device", utils.get_device, dict(prefer="cpu"), "prefer", ["gpu", 3]),
        ("plot_image_grid", plots.plot_image_grid, dict(images=X), "images", [None, "x", torch.full_like(X, NAN), torch.rand(6, 15)]),
        ("plot_image_grid", plots.plot_image_grid, dict(images=X), "ncol", COUNT),
        ("plot_image_rows", plots.plot_image_rows, dict(rows=[X, X], row_labels=["a", "b"]), "row_labels", [["a"], ["a", "b", "c"]]),
        ("plot_manifold", plots.plot_manifold, dict(images=X[:4], grid_values=[0.0, 1.0]), "images", [X[:3], torch.rand(4, 15)]),
        ("plot_latent_scatter", plots.plot_latent_scatter, dict(z=torch.rand(6, 2), labels=Y), "z", [torch.rand(6, 3), torch.rand(5, 2)]),
        ("plot_class_means", plots.plot_class_means, dict(z=torch.rand(6, 2), labels=Y, means=torch.rand(3, 2)),
         "means", [torch.rand(3, 3), torch.full((3, 2), NAN)]),
        ("load_checkpoint", checkpoints.load_checkpoint, dict(path="absent.pt"), "map_location", ["gpu please", "cuda:99"]),
        ("save_checkpoint", checkpoints.save_checkpoint, dict(path="unused.pt", model=vae), "model", [None, torch.nn.Linear(2, 2)]),
        ("save_checkpoint", checkpoints.save_checkpoint, dict(path="unused.pt", model=vae), "key", [{"x": object()}, {1: 2}]),
        ("save_checkpoint", checkpoints.save_checkpoint, dict(path="unused.pt", model=vae), "history", [{"train": {}}, 3]),
        ("load_or_train", checkpoints.load_or_train, dict(path="unused.pt", build=small, train=lambda m: None), "build", FUNCTION),
        ("load_or_train", checkpoints.load_or_train, dict(path="unused.pt", build=small, train=lambda m: None), "train", FUNCTION),
        ("check_function", checking.check_function, dict(fn=abs, reference=abs, cases=[(1,)]), "fn", FUNCTION),
        ("check_function", checking.check_function, dict(fn=abs, reference=abs, cases=[(1,)]), "rtol", [-1.0, NAN, "1"]),
        ("check_value", checking.check_value, dict(name="v", value=1.0, expected=1.0), "atol", [-1.0, NAN]),
        ("live_plot", widgets.live_plot, dict(controls={"a": widgets.slider("a", 0.0, 0.0, 1.0, 0.1)}, draw=lambda a: ""),
         "draw", FUNCTION),
        ("live_plot", widgets.live_plot, dict(controls={"a": widgets.slider("a", 0.0, 0.0, 1.0, 0.1)}, draw=lambda a: ""),
         "controls", [{}, None, {"a": 3}]),
    ]
    rows += math_cases()
    for label, fn, good, argument, bads in rows:
        for bad in bads:
            yield pytest.param(fn, good, argument, bad, id=f"{label}-{argument}={_short(bad)}")


def math_cases():
    """The lessons' math: KL divergences, the linear-Gaussian and two-mode models, the gradient estimators."""
    I2, toy, two_modes = np.eye(2), LinearGaussian(np.ones((3, 2)), np.zeros(3), 1.0), SquaredMeanModel(0.5)
    x3, q = np.zeros(3), dict(q_mean=np.zeros(2), q_cov=I2)
    mu, logvar = torch.zeros(2), torch.zeros(2)
    numbers = [v for v in NUMBER if not isinstance(v, list)]  # where an array of numbers is welcome too
    positive = numbers + [0.0, -1.0, [1.0, 0.0]]
    singular = [np.ones((2, 2)), np.array([[1.0, 2.0], [0.0, 1.0]]), np.eye(3), np.array([[1.0, 1 - 1e-15], [1 - 1e-15, 1.0]]),
                None, [[True, False], [False, True]], "I"]
    mvn = dict(mu1=[0.0, 0.0], cov1=I2, mu2=[1.0, 0.0], cov2=I2)
    return [
        ("kl_discrete", kl.kl_discrete, dict(p=[0.5, 0.5], q=[0.25, 0.75]), "p",
         [None, "p", [True, False], [0.5, 0.6], [-0.5, 1.5], [], [[0.5, 0.5]], [NAN, 1.0], [0.5, 0.25, 0.25]]),
        ("kl_normal_1d", kl.kl_normal_1d, dict(mu1=0.0, sigma1=1.0, mu2=0.0, sigma2=1.0), "sigma1", positive),
        ("kl_normal_1d", kl.kl_normal_1d, dict(mu1=0.0, sigma1=1.0, mu2=0.0, sigma2=1.0), "mu2", numbers),
        ("normal_logpdf_1d", kl.normal_logpdf_1d, dict(x=0.0, mu=0.0, sigma=1.0), "sigma", positive),
        ("kl_quadrature", kl.kl_quadrature, dict(log_p=lambda t: -np.log(2.0), log_q=lambda t: -np.log(4.0), lower=0.0, upper=2.0),
         "log_p", FUNCTION),
        ("kl_quadrature", kl.kl_quadrature, dict(log_p=lambda t: -np.log(2.0), log_q=lambda t: -np.log(4.0), lower=0.0, upper=2.0),
         "upper", [0.0, -1.0, NAN, None, "2"]),
        ("kl_monte_carlo", kl.kl_monte_carlo, dict(sample_p=lambda n, g: g.normal(size=n), log_p=lambda t: -t**2 / 2,
                                                   log_q=lambda t: -t**2 / 2, n_samples=10), "n_samples", COUNT + [1]),
        ("kl_monte_carlo", kl.kl_monte_carlo, dict(sample_p=lambda n, g: g.normal(size=n), log_p=lambda t: -t**2 / 2,
                                                   log_q=lambda t: -t**2 / 2, n_samples=10), "sample_p", FUNCTION),
        ("kl_normal_1d_monte_carlo", kl.kl_normal_1d_monte_carlo, dict(mu1=0.0, sigma1=1.0, mu2=0.0, sigma2=1.0, n_samples=10),
         "generator", [-1, "0", 1.5, torch.Generator()]),
        ("kl_mvn", kl.kl_mvn, mvn, "cov1", singular),
        ("kl_mvn", kl.kl_mvn, mvn, "mu2", [None, [0.0], [NAN, 0.0], "m", [[0.0, 0.0]]]),
        ("mvn_logpdf", kl.mvn_logpdf, dict(x=[0.0, 0.0], mu=[0.0, 0.0], cov=I2), "cov", singular),
        ("mvn_logpdf", kl.mvn_logpdf, dict(x=[0.0, 0.0], mu=[0.0, 0.0], cov=I2), "x", [None, [0.0], [NAN, 0.0]]),
        ("kl_mvn_monte_carlo", kl.kl_mvn_monte_carlo, dict(mvn, n_samples=10), "n_samples", COUNT + [1]),
        ("kl_diag_std_normal", kl.kl_diag_std_normal, dict(mu=mu, logvar=logvar), "mu",
         [None, [0.0, 0.0], torch.zeros(3), torch.tensor([NAN, 0.0]), torch.zeros(2, dtype=torch.long)]),
        ("kl_uniform", kl.kl_uniform, dict(a1=0.0, b1=1.0, a2=0.0, b2=2.0), "b1", NUMBER + [0.0, -1.0, [1.0, 2.0]]),
        ("LinearGaussian", LinearGaussian, dict(W=np.ones((3, 2)), b=np.zeros(3), sigma=1.0), "sigma", positive),
        ("LinearGaussian", LinearGaussian, dict(W=np.ones((3, 2)), b=np.zeros(3), sigma=1.0), "W",
         [None, np.ones(3), np.ones((3, 0)), [[NAN, 1.0]] * 3, np.ones((3, 2), dtype=bool)]),
        ("LinearGaussian.elbo", toy.elbo, dict(x=x3, **q), "q_cov", singular),
        ("LinearGaussian.elbo", toy.elbo, dict(x=x3, **q), "x", [None, np.zeros(2), [NAN, 0.0, 0.0], "x"]),
        ("LinearGaussian.iwae_bound", toy.iwae_bound, dict(x=x3, k=2, n_repeats=5, **q), "k", COUNT),
        ("LinearGaussian.beta_loss_minimum", toy.beta_loss_minimum, dict(x=x3, beta=1.0), "beta", positive),
        ("LinearGaussian.sample", toy.sample, dict(n=3), "n", COUNT),
        ("pathwise_gradient", gradients.pathwise_gradient, dict(f=lambda z: z.sum(-1), mu=mu, logvar=logvar, n_samples=4), "f", FUNCTION),
        ("pathwise_gradient", gradients.pathwise_gradient, dict(f=lambda z: z.sum(-1), mu=mu, logvar=logvar, n_samples=4),
         "n_samples", COUNT),
        ("score_function_gradient", gradients.score_function_gradient,
         dict(f=lambda z: z.sum(-1), mu=mu, logvar=logvar, n_samples=4), "baseline", [1, None, "yes"]),
        ("score_function_gradient", gradients.score_function_gradient,
         dict(f=lambda z: z.sum(-1), mu=mu, logvar=logvar, n_samples=4), "logvar",
         [None, torch.zeros(3), torch.tensor([NAN, 0.0]), [0.0, 0.0]]),
        ("estimator_variance", gradients.estimator_variance,
         dict(f=lambda z: z.sum(-1), mu=mu, logvar=logvar, n_samples=4, estimator="pathwise"), "estimator", ["paths", None, 3]),
        ("SquaredMeanModel", SquaredMeanModel, dict(sigma=0.5), "sigma", positive),
        ("SquaredMeanModel.log_evidence", two_modes.log_evidence, dict(x=2.0), "x", NUMBER),
        ("SquaredMeanModel.elbo", two_modes.elbo, dict(x=2.0, q_mean=0.0, q_sigma=1.0), "q_mean", numbers),
        ("SquaredMeanModel.elbo", two_modes.elbo, dict(x=2.0, q_mean=0.0, q_sigma=1.0), "q_sigma", positive),
        ("SquaredMeanModel.iwae_bound", two_modes.iwae_bound, dict(x=2.0, q_mean=1.0, q_sigma=0.5, k=2, n_repeats=10), "k", COUNT),
        ("elbo_surgery", aggregate.elbo_surgery, dict(model=small(), x=X), "n_samples", COUNT),
        ("elbo_surgery", aggregate.elbo_surgery, dict(model=small(), x=X), "x", IMAGES),
        ("sample_aggregate_posterior", aggregate.sample_aggregate_posterior, dict(model=small(), x=X, n=3), "n", COUNT),
        ("plot_vae_diagram", diagrams.plot_vae_diagram, dict(), "latent_dim", COUNT),
    ]


def _short(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}{str(value.dtype)[6:]}{'-nan' if value.is_floating_point() and value.isnan().any() else ''}"
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    text = repr(value)
    return text if len(text) < 20 else text[:17] + "..."


@pytest.mark.parametrize("fn, good, argument, bad", list(cases()))
def test_bad_argument_is_refused_by_name(fn, good, argument, bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # any file an entry point might write lands here
    kwargs = {**good, argument: bad}
    with pytest.raises((TypeError, ValueError)) as caught:
        fn(**kwargs)
    assert argument in str(caught.value) or _names_the_argument(argument, str(caught.value)), \
        f"{type(caught.value).__name__}: {caught.value}"
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".pt"], "nothing may be written for a refused call"


def _names_the_argument(argument: str, message: str) -> bool:
    """Some arguments are named by what they are: a model's labels 'y', a sample's 'labels', a path."""
    aliases = {"x_train": ["x_train"], "model": ["model"], "images": ["images", "rows"], "rows": ["rows"]}
    return any(a in message for a in aliases.get(argument, []))


def test_the_good_arguments_work(tmp_path, monkeypatch):
    """Every row's good arguments are accepted, so that each refusal above is about the bad argument."""
    monkeypatch.chdir(tmp_path)
    seen = set()
    for param in cases():
        fn, good, argument, _ = param.values
        if (id(fn), tuple(good)) in seen or fn in (checkpoints.load_checkpoint, checkpoints.load_or_train):
            continue
        seen.add((id(fn), tuple(good)))
        fn(**good)
    matplotlib.pyplot.close("all")
    assert math.isfinite(len(seen))
