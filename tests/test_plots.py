"""vae_course.plots: the figures of the KL lessons draw what they claim, checked against scipy and torch."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import stats  # noqa: E402
from torch import distributions as td  # noqa: E402

from vae_course import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def torch_normal_kl(mu1, sigma1, mu2, sigma2):
    as_normal = lambda m, s: td.Normal(torch.as_tensor(m, dtype=torch.float64), torch.as_tensor(s, dtype=torch.float64))  # noqa: E731
    return td.kl_divergence(as_normal(mu1, sigma1), as_normal(mu2, sigma2)).numpy()


def torch_mvn_kl(mu1, cov1, mu2, cov2) -> float:
    p = td.MultivariateNormal(torch.tensor(mu1, dtype=torch.float64), covariance_matrix=torch.tensor(cov1))
    q = td.MultivariateNormal(torch.tensor(mu2, dtype=torch.float64), covariance_matrix=torch.tensor(cov2))
    return float(td.kl_divergence(p, q))


# ---------------------------------------------------------------------------------------------
# set_style


def test_set_style_sets_a_modest_dpi():
    with plt.rc_context():
        plots.set_style(dpi=72)
        assert plt.rcParams["figure.dpi"] == 72


# ---------------------------------------------------------------------------------------------
# covariance_2d and ellipses


def test_covariance_2d_entries():
    cov = plots.covariance_2d(2.0, 0.5, -0.3)
    np.testing.assert_allclose(cov, [[4.0, -0.3], [-0.3, 0.25]], rtol=1e-15)
    # its correlation is rho, read back by numpy from samples' formula: cov_xy / (sigma_x sigma_y)
    assert cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) == pytest.approx(-0.3)


@pytest.mark.parametrize("args, error, message", [
    ((0.0, 1.0, 0.0), ValueError, "sigma_x must be > 0"),
    ((1.0, -2.0, 0.0), ValueError, "sigma_y must be > 0"),
    ((1.0, 1.0, 1.0), ValueError, "rho must lie strictly between -1 and 1"),
    ((1.0, 1.0, float("nan")), ValueError, "rho must be finite"),
    ((True, 1.0, 0.0), TypeError, "sigma_x must be a real number"),
    ((1.0, None, 0.0), TypeError, "sigma_y must be a real number"),
    ((1.0, 1.0, torch.tensor(0.5, requires_grad=True)), TypeError, "rho must be a real number"),
    ((1.0, 1.0, 0.5j), TypeError, "rho must be a real number"),
])
def test_covariance_2d_refuses(args, error, message):
    with pytest.raises(error, match=message):
        plots.covariance_2d(*args)


@settings(max_examples=40, deadline=None)
@given(sigma_x=st.floats(0.1, 5), sigma_y=st.floats(0.1, 5), rho=st.floats(-0.95, 0.95), n_sigma=st.floats(0.5, 3),
       mx=st.floats(-3, 3), my=st.floats(-3, 3))
def test_ellipse_points_lie_at_mahalanobis_distance_n_sigma(sigma_x, sigma_y, rho, n_sigma, mx, my):
    cov = np.array([[sigma_x**2, rho * sigma_x * sigma_y], [rho * sigma_x * sigma_y, sigma_y**2]])
    points = plots.ellipse_points([mx, my], cov, n_sigma=n_sigma, n_points=64)
    diff = points - np.array([mx, my])
    distance2 = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)  # an independent route: the inverse
    # rho up to 0.95 makes cov up to ~40-conditioned: the inverse's rounding stays far below 1e-8
    np.testing.assert_allclose(distance2, n_sigma**2, rtol=1e-8)


def test_ellipse_is_closed_and_encloses_the_right_area():
    cov = plots.covariance_2d(1.5, 0.4, 0.6)
    points = plots.ellipse_points([0.3, -1.0], cov, n_sigma=2.0, n_points=4001)
    assert points.shape == (4001, 2)
    np.testing.assert_allclose(points[0], points[-1], atol=1e-12)
    x, y = points[:, 0], points[:, 1]
    shoelace = 0.5 * abs(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))
    # an ellipse with semi-axes k sqrt(lambda_i) has area pi k^2 sqrt(det cov); the inscribed 4000-gon
    # falls short by a relative (2 pi / 4000)^2 / 6 = 4e-7
    assert shoelace == pytest.approx(np.pi * 4.0 * np.sqrt(np.linalg.det(cov)), rel=1e-5)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"mu": [0.0, 0.0, 0.0], "cov": np.eye(3)}, ValueError, r"mu must have shape \(2,\)"),
    ({"mu": [0.0, 0.0], "cov": [[1.0, 2.0], [2.0, 1.0]]}, ValueError, "cov must be positive definite"),
    ({"mu": [0.0, 0.0], "cov": np.eye(2), "n_sigma": 0.0}, ValueError, "n_sigma must be > 0"),
    ({"mu": [0.0, 0.0], "cov": np.eye(2), "n_points": 0}, ValueError, "n_points must be a positive integer"),
    ({"mu": [0.0, 0.0], "cov": np.eye(2), "n_points": 2}, ValueError, "n_points must be >= 3"),
    ({"mu": [0.0, 0.0], "cov": np.eye(2), "n_points": 10.0}, TypeError, "n_points must be a positive integer"),
    ({"mu": [0.0, 0.0], "cov": np.eye(2), "n_sigma": True}, TypeError, "n_sigma must be a real number"),
    ({"mu": [True, False], "cov": np.eye(2)}, TypeError, "mu must be .* not booleans"),
    ({"mu": None, "cov": np.eye(2)}, TypeError, "mu must be a real number"),
])
def test_ellipse_points_refuses(kwargs, error, message):
    with pytest.raises(error, match=message):
        plots.ellipse_points(**kwargs)


def test_plot_gaussian_ellipses_draws_one_curve_per_n_sigma_and_the_mean():
    fig, ax = plt.subplots()
    returned = plots.plot_gaussian_ellipses([1.0, 2.0], np.eye(2), n_sigmas=(1.0, 2.0, 3.0), label="p", ax=ax)
    assert returned is fig
    lines = ax.get_lines()
    assert len(lines) == 4  # three contours and the mean marker
    assert {line.get_color() for line in lines} == {lines[0].get_color()}
    radii = [np.hypot(line.get_xdata() - 1.0, line.get_ydata() - 2.0).mean() for line in lines[:3]]
    np.testing.assert_allclose(radii, [1.0, 2.0, 3.0], rtol=1e-12)  # circles for the identity covariance
    assert [h.get_label() for h in ax.get_legend_handles_labels()[0]] == ["p"]


def test_plot_gaussian_ellipses_makes_its_own_figure_without_ax():
    fig = plots.plot_gaussian_ellipses([0.0, 0.0], np.eye(2))
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes[0].get_lines()) == 3


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n_sigmas": ()}, ValueError, "n_sigmas must be a non-empty sequence"),
    ({"n_sigmas": (1.0, -2.0)}, ValueError, "n_sigma must be > 0"),
    ({"ax": "axis"}, TypeError, "ax must be a matplotlib Axes or None"),
    ({"mu": plt.subplots()[1]}, TypeError, "mu must be a 2-D mean, got a matplotlib Axes: the axis goes last"),
    ({"cov": [[1.0, 1.0], [1.0, 1.0]]}, ValueError, "cov must be positive definite"),
])
def test_plot_gaussian_ellipses_refuses(kwargs, error, message):
    args = {"mu": [0.0, 0.0], "cov": np.eye(2)} | kwargs
    with pytest.raises(error, match=message):
        plots.plot_gaussian_ellipses(**args)


# ---------------------------------------------------------------------------------------------
# plot_discrete_pair


def test_plot_discrete_pair_bar_heights_are_the_probabilities():
    p, q = [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]
    fig = plots.plot_discrete_pair(p, q, labels=["a", "b", "c"])
    assert isinstance(fig, matplotlib.figure.Figure)
    ax = fig.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    np.testing.assert_allclose(heights, p + q)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]


def test_plot_discrete_pair_draws_on_a_given_axis():
    fig, (left, right) = plt.subplots(1, 2)
    assert plots.plot_discrete_pair([0.5, 0.5], [0.2, 0.8], ax=right) is fig
    assert len(right.patches) == 4 and len(left.patches) == 0


@pytest.mark.parametrize("p, q, kwargs, error, message", [
    ([0.5, 0.5], [1.0], {}, ValueError, "p and q must be 1-D vectors of the same length"),
    ([0.5, 0.5], [0.5, 0.5], {"labels": ["one"]}, ValueError, "labels must have 2 entries"),
    ([0.5, np.nan], [0.5, 0.5], {}, ValueError, "p must be finite"),
    ([], [], {}, ValueError, "p must be a non-empty 1-D probability vector"),
    ([0.5, 0.6], [0.5, 0.5], {}, ValueError, "p must sum to 1"),
    ([0.5, 0.5], [1.5, -0.5], {}, ValueError, "q must have no negative entries"),
    ([True, False], [0.5, 0.5], {}, TypeError, "p must be .* not booleans"),
    ([0.5, 0.5], [0.5, 0.5], {"names": "pq"}, ValueError, "names must hold two legend entries"),
    ([0.5, 0.5], [0.5, 0.5], {"ax": 3}, TypeError, "ax must be a matplotlib Axes or None"),
])
def test_plot_discrete_pair_refuses(p, q, kwargs, error, message):
    with pytest.raises(error, match=message):
        plots.plot_discrete_pair(p, q, **kwargs)


# ---------------------------------------------------------------------------------------------
# plot_normal_kl_1d


def test_plot_normal_kl_1d_draws_the_densities_and_both_kl_curves():
    mu1, sigma1, mu2, sigma2 = 0.5, 0.8, -0.3, 1.4
    fig = plots.plot_normal_kl_1d(mu1, sigma1, mu2, sigma2, mu1_range=(-2, 2), sigma1_range=(0.3, 2))
    ax_pdf, ax_mu, ax_sigma = fig.axes
    for line, (mu, sigma) in zip(ax_pdf.get_lines(), [(mu1, sigma1), (mu2, sigma2)]):
        x, y = line.get_xdata(), line.get_ydata()
        np.testing.assert_allclose(y, stats.norm(mu, sigma).pdf(x), rtol=1e-12)
    # middle: KL as mu1 moves; right: KL as sigma1 moves; both directions, against torch.distributions
    pq, qp, marks = ax_mu.get_lines()
    grid = pq.get_xdata()
    assert (grid[0], grid[-1]) == (-2, 2)  # linspace returns its end points exactly
    np.testing.assert_allclose(pq.get_ydata(), torch_normal_kl(grid, sigma1, mu2, sigma2), rtol=1e-12)
    np.testing.assert_allclose(qp.get_ydata(), torch_normal_kl(mu2, sigma2, grid, sigma1), rtol=1e-12)
    np.testing.assert_allclose(marks.get_ydata(), [torch_normal_kl(mu1, sigma1, mu2, sigma2),
                                                   torch_normal_kl(mu2, sigma2, mu1, sigma1)], rtol=1e-12)
    pq, qp, marks = ax_sigma.get_lines()
    grid = pq.get_xdata()
    assert (grid[0], grid[-1]) == (0.3, 2)
    np.testing.assert_allclose(pq.get_ydata(), torch_normal_kl(mu1, grid, mu2, sigma2), rtol=1e-12)
    np.testing.assert_allclose(qp.get_ydata(), torch_normal_kl(mu2, sigma2, mu1, grid), rtol=1e-12)
    np.testing.assert_allclose(marks.get_xdata(), [sigma1, sigma1])


def test_plot_normal_kl_1d_draws_a_kl_beyond_float64():
    # KL(p || q) = 5e1199 is inf in float64: the figure is still drawn, with a finite axis
    fig = plots.plot_normal_kl_1d(0.0, 1e300, 0.0, 1e-300, mu1_range=(-1, 1), sigma1_range=(0.5, 2))
    assert all(np.isfinite(ax.get_ylim()).all() for ax in fig.axes)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"sigma1": -1.0}, ValueError, "sigma1 must be > 0"),
    ({"sigma2": 0.0}, ValueError, "sigma2 must be > 0"),
    ({"mu1": [0.0, 1.0]}, TypeError, "mu1 must be a real number"),
    ({"mu2": True}, TypeError, "mu2 must be a real number"),
    ({"sigma1": torch.tensor(1.0, requires_grad=True)}, TypeError, "sigma1 must be a real number"),
    ({"mu1_range": (2.0, -2.0)}, ValueError, "mu1_range must be"),
    ({"mu1_range": (-2.0, 0.0, 2.0)}, ValueError, r"mu1_range must be \(low, high\)"),
    ({"mu1_range": (False, True)}, TypeError, "mu1_range must be .* not booleans"),
    ({"sigma1_range": (0.0, 2.0)}, ValueError, "sigma1_range must lie above 0"),
])
def test_plot_normal_kl_1d_refuses(kwargs, error, message):
    args = {"mu1": 0.0, "sigma1": 1.0, "mu2": 0.0, "sigma2": 1.0} | kwargs
    with pytest.raises(error, match=message):
        plots.plot_normal_kl_1d(**args)


# ---------------------------------------------------------------------------------------------
# plot_mvn_kl_2d


def test_plot_mvn_kl_2d_draws_ellipses_and_the_kl_against_rho():
    mu1, sigma1, rho1 = [0.5, -0.2], [1.2, 0.6], 0.4
    mu2, cov2 = [0.0, 1.0], np.array([[1.0, 0.5], [0.5, 2.0]])
    fig = plots.plot_mvn_kl_2d(mu1, sigma1, rho1, mu2, cov2, rho_range=(-0.9, 0.9), xy_limit=3)
    ax_xy, ax_rho = fig.axes
    assert ax_xy.get_xlim() == (-3, 3) and ax_xy.get_ylim() == (-3, 3)
    assert len(ax_xy.get_lines()) == 6  # two contours and a mean marker for each of p and q
    pq, qp, marks = ax_rho.get_lines()
    rhos = pq.get_xdata()
    assert (rhos[0], rhos[-1]) == (-0.9, 0.9)
    for i in [0, 30, 60, 120]:
        cov1 = np.array([[sigma1[0] ** 2, rhos[i] * sigma1[0] * sigma1[1]], [rhos[i] * sigma1[0] * sigma1[1], sigma1[1] ** 2]])
        assert pq.get_ydata()[i] == pytest.approx(torch_mvn_kl(mu1, cov1, mu2, cov2), rel=1e-10)
        assert qp.get_ydata()[i] == pytest.approx(torch_mvn_kl(mu2, cov2, mu1, cov1), rel=1e-10)
    cov1 = np.array([[1.44, rho1 * 0.72], [rho1 * 0.72, 0.36]])
    np.testing.assert_allclose(marks.get_ydata(), [torch_mvn_kl(mu1, cov1, mu2, cov2),
                                                   torch_mvn_kl(mu2, cov2, mu1, cov1)], rtol=1e-10)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"sigma1": [1.0, 1.0, 1.0]}, ValueError, "sigma1 must hold the two standard deviations"),
    ({"sigma1": [1.0, 0.0]}, ValueError, "sigma_y must be > 0"),
    ({"sigma1": [True, True]}, TypeError, "sigma1 must be .* not booleans"),
    ({"rho1": -1.0}, ValueError, "rho must lie strictly between -1 and 1"),
    ({"cov2": [[1.0, 0.0], [1.0, 1.0]]}, ValueError, "cov2 must be symmetric"),
    ({"cov2": [[1.0, 1.0], [1.0, 1.0 + 1e-15]]}, ValueError, "cov2 is singular or too ill-conditioned"),
    ({"mu2": None}, TypeError, "mu2 must be a real number"),
    ({"rho_range": (0.5, 0.5)}, ValueError, "rho_range must be"),
    ({"xy_limit": -1.0}, ValueError, "xy_limit must be > 0"),
])
def test_plot_mvn_kl_2d_refuses(kwargs, error, message):
    args = {"mu1": [0.0, 0.0], "sigma1": [1.0, 1.0], "rho1": 0.0, "mu2": [0.0, 0.0], "cov2": np.eye(2)} | kwargs
    with pytest.raises(error, match=message):
        plots.plot_mvn_kl_2d(**args)


def test_plot_image_rows_draws_one_labelled_canvas():
    import matplotlib.pyplot as plt
    import numpy as np
    import pytest

    from vae_course.plots import plot_image_rows

    rows = [np.zeros((3, 784)), np.ones((3, 784))]
    fig = plot_image_rows(rows, ["first", "second"], col_labels=["a", "b", "c"], title="t")
    (ax,) = fig.axes
    canvas = ax.images[0].get_array()
    assert canvas.shape == (2 * 29 + 1, 3 * 29 + 1)  # 28-pixel images with a 1-pixel border
    assert canvas[1:29, 1:29].max() == 0.0 and canvas[30:58, 1:29].min() == 1.0  # row 1 blank, row 2 ink
    assert [t.get_text() for t in ax.get_yticklabels()] == ["first", "second"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    plt.close(fig)
    with pytest.raises(ValueError, match="rows must hold equally long rows"):
        plot_image_rows([np.zeros((3, 784)), np.zeros((2, 784))], ["a", "b"])


# ---------------------------------------------------------------------------------------------
# The digit lessons' figures: sizes come from the images, every function returns a Figure


def test_image_shape_is_read_from_the_pixels_or_given():
    assert plots.image_shape(784) == (28, 28) and plots.image_shape(16) == (4, 4)
    assert plots.image_shape(12, (3, 4)) == (3, 4)
    with pytest.raises(ValueError, match="images of 12 pixels are not square: pass shape"):
        plots.image_shape(12)
    with pytest.raises(ValueError, match=r"shape \(3, 5\) has 15 pixels, but the images have 12"):
        plots.image_shape(12, (3, 5))


def test_image_grid_of_any_square_size_returns_a_figure():
    images = np.arange(6 * 16, dtype=float).reshape(6, 16) / 96  # six 4 x 4 images
    fig = plots.plot_image_grid(images, ncol=3, title="t")
    canvas = fig.axes[0].images[0].get_array()
    assert isinstance(fig, plt.Figure) and canvas.shape == (2 * 5 + 1, 3 * 5 + 1)
    np.testing.assert_allclose(canvas[1:5, 1:5], images[0].reshape(4, 4))  # the first image, top left
    fig = plots.plot_image_grid(np.zeros((2, 12)), ncol=2, shape=(3, 4))
    assert fig.axes[0].images[0].get_array().shape == (3 + 2, 2 * 5 + 1)


def test_loss_curves_draw_one_panel_per_recorded_part_then_the_total():
    from vae_course.train import History

    history = History({"total": [3.0, 2.0], "recon": [2.5, 1.5], "kl": [0.5, 0.5], "ce": [0.1, 0.05]},
                      {"total": [3.1, 2.2], "recon": [2.6, 1.7], "kl": [0.5, 0.5], "ce": [0.1, 0.1]})
    fig = plots.plot_loss_curves(history, title="t")
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 4 and titles[-1].startswith("total") and "cross-entropy" in titles[2]
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 2, 2]  # train and validation in every panel
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [2.5, 1.5])
    fig = plots.plot_loss_curves(History({"total": [1.0], "ce": [1.0]}))
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]  # no validation recorded: training only


def test_manifold_and_latent_scatter_return_figures_with_their_ticks_and_legend():
    grid = np.array([-1.0, 0.0, 1.0])
    fig = plots.plot_manifold(np.zeros((9, 16)), grid)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (12, 12)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-1.00", "0.00", "1.00"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1.00", "0.00", "-1.00"]  # z2 grows upwards
    with pytest.raises(ValueError, match="images must hold len"):
        plots.plot_manifold(np.zeros((8, 16)), grid)
    fig = plots.plot_latent_scatter(torch.randn(30, 2), torch.arange(30) % 3, point=(0.5, -0.5), limit=2.0)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"] and ax.get_xlim() == (-2.0, 2.0)
    with pytest.raises(ValueError, match=r"z must have shape \(N, 2\)"):
        plots.plot_latent_scatter(torch.randn(30, 3), torch.arange(30))
