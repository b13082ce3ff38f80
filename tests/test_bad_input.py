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

from vae_course import checking, checkpoints, data, evaluate, plots, train, utils, widgets  # noqa: E402
from vae_course.classifiers import DigitClassifier  # noqa: E402
from vae_course.conditional import AuxClassifierCVAE, ClassMeanCVAE, ConcatCVAE  # noqa: E402
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
    for label, fn, good, argument, bads in rows:
        for bad in bads:
            yield pytest.param(fn, good, argument, bad, id=f"{label}-{argument}={_short(bad)}")


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
