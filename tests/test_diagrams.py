"""vae_course.diagrams: the two pictures are Figures that carry the labels and sizes they promise."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from vae_course.diagrams import plot_graphical_model, plot_vae_diagram  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def texts(fig) -> list[str]:
    return [text.get_text() for ax in fig.axes for text in ax.texts]


def arrows(fig) -> list[FancyArrowPatch]:
    return [patch for ax in fig.axes for patch in ax.patches if isinstance(patch, FancyArrowPatch)]


def test_graphical_model_has_both_directions_one_of_them_dashed():
    fig = plot_graphical_model()
    assert isinstance(fig, matplotlib.figure.Figure)
    labels = " | ".join(texts(fig))
    for wanted in ("$z$", "$x$", "p(z) = \\mathcal{N}(0, I)", "p(x \\mid z)", "q(z \\mid x)", "generative", "inference"):
        assert wanted in labels, (wanted, labels)
    edges = {arrow.get_label(): arrow.get_linestyle() for arrow in arrows(fig)}
    assert set(edges) == {"z -> x", "x -> z"}
    assert edges["z -> x"] in ("-", "solid") and edges["x -> z"] not in ("-", "solid")  # inference dashed


def test_vae_diagram_names_every_stage_with_its_size():
    fig = plot_vae_diagram(input_dim=784, hidden_dim=200, latent_dim=10)
    assert isinstance(fig, matplotlib.figure.Figure)
    labels = texts(fig)
    joined = " | ".join(labels)
    for wanted in ("$x$\n784", "encoder\n784 → 200\n→ 2 × 10", "$\\mu$\n10", "$\\log \\sigma^2$\n10",
                   "$z = \\mu + \\sigma \\odot \\varepsilon$\n10", "$\\varepsilon \\sim \\mathcal{N}(0, I)$",
                   "decoder\n10 → 200\n→ 784", "$p(x \\mid z)$\n784"):
        assert wanted in labels, (wanted, joined)
    assert len(arrows(fig)) == 8


def test_vae_diagram_takes_the_sizes_it_is_given():
    labels = texts(plot_vae_diagram(input_dim=3, hidden_dim=7, latent_dim=2))
    assert "encoder\n3 → 7\n→ 2 × 2" in labels and "decoder\n2 → 7\n→ 3" in labels and "$x$\n3" in labels
    assert not any("784" in label or "200" in label for label in labels)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"input_dim": 0}, ValueError, "input_dim must be a positive integer"),
    ({"hidden_dim": -5}, ValueError, "hidden_dim must be a positive integer"),
    ({"latent_dim": 2.5}, TypeError, "latent_dim must be a positive integer, got float"),
    ({"latent_dim": True}, TypeError, "latent_dim must be a positive integer, got bool"),
    ({"latent_dim": None}, TypeError, "latent_dim must be a positive integer, got NoneType"),
    ({"input_dim": "784"}, TypeError, "input_dim must be a positive integer, got str"),
    ({"input_dim": torch.tensor(784)}, TypeError, "input_dim must be a positive integer, got Tensor"),
])
def test_vae_diagram_refuses_bad_sizes(kwargs, error, message):
    with pytest.raises(error, match=message):
        plot_vae_diagram(**kwargs)


def test_vae_diagram_accepts_numpy_integers():
    labels = texts(plot_vae_diagram(input_dim=np.int64(20), hidden_dim=np.int32(8), latent_dim=np.int64(4)))
    assert "$x$\n20" in labels
