"""vae_course.widgets without a browser: live_plot's first draw, redraws, error display and refusals.

The browser tests (tests/test_browser.py) drive the same widgets in JupyterLab; here the callbacks are
exercised directly, with matplotlib's non-interactive Agg backend.
"""

import matplotlib

matplotlib.use("Agg")

import ipywidgets as ipw  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from vae_course import widgets  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def parts(box):
    """The grid of controls, the readout and the output area of a live_plot box."""
    grid, readout, output = box.children
    return grid, readout, output


def recording_draw(calls):
    def draw(a, b):
        calls.append((a, b))
        plt.plot([0, 1], [a, b])
        return f"sum = {a + b:.1f}"
    return draw


def test_live_plot_draws_once_at_creation_with_the_initial_values():
    calls = []
    box = widgets.live_plot({"a": widgets.slider("a", 1.0, 0, 5, 0.5), "b": ipw.FloatText(value=2.0)},
                            recording_draw(calls))
    _, readout, _ = parts(box)
    assert calls == [(1.0, 2.0)]
    assert readout.value == "sum = 3.0"


def test_changing_a_control_redraws_and_updates_the_readout():
    calls = []
    a, b = widgets.slider("a", 1.0, 0, 5, 0.5), ipw.FloatText(value=2.0)
    box = widgets.live_plot({"a": a, "b": b}, recording_draw(calls))
    a.value = 4.5
    b.value = -1.0
    _, readout, _ = parts(box)
    assert calls == [(1.0, 2.0), (4.5, 2.0), (4.5, -1.0)]
    assert readout.value == "sum = 3.5"


def test_a_dropdown_is_passed_by_its_value():
    seen = []
    choice = ipw.Dropdown(options=["first", "second"], value="first")
    box = widgets.live_plot({"name": choice}, lambda name: seen.append(name) or f"<i>{name}</i>")
    choice.value = "second"
    assert seen == ["first", "second"]
    assert parts(box)[1].value == "<i>second</i>"


def test_draw_returning_none_leaves_the_readout_empty():
    box = widgets.live_plot({"a": widgets.slider("a", 1.0, 0, 5, 0.5)}, lambda a: None)
    assert parts(box)[1].value == ""


def test_an_error_in_draw_is_shown_in_the_readout_and_the_output_not_raised(capsys):
    a = widgets.slider("a", 1.0, 0, 5, 0.5)

    def draw(a):
        plt.plot([0, 1], [0, a])
        if a > 2:
            raise ValueError("a is too large for this figure")
        return "fine"

    box = widgets.live_plot({"a": a}, draw)
    _, readout, _ = parts(box)
    assert readout.value == "fine"
    a.value = 3.0  # must not raise
    assert "error" in readout.value and "a is too large for this figure" in readout.value
    # the traceback goes to stderr, which inside a kernel is captured by the widget's output area
    err = capsys.readouterr().err
    assert "Traceback" in err and "ValueError: a is too large for this figure" in err
    assert plt.get_fignums() == [], "the half-drawn figure should be closed"
    a.value = 1.5  # and the widget recovers
    assert readout.value == "fine"


def test_error_text_is_html_escaped():
    box = widgets.live_plot({"a": widgets.slider("a", 1.0, 0, 5, 0.5)},
                            lambda a: (_ for _ in ()).throw(RuntimeError("<script>")))
    assert "<script>" not in parts(box)[1].value and "&lt;script&gt;" in parts(box)[1].value


def test_empty_controls_is_a_value_error():
    with pytest.raises(ValueError, match="controls must be a dict naming at least one widget"):
        widgets.live_plot({}, lambda: None)


def test_the_dom_classes_the_browser_tests_look_for():
    box = widgets.live_plot({"a": widgets.slider("a", 1.0, 0, 5, 0.5)}, lambda a: None, height="300px")
    grid, readout, output = parts(box)
    assert widgets.WIDGET_CLASS in box._dom_classes
    assert widgets.READOUT_CLASS in readout._dom_classes
    assert widgets.FIGURE_CLASS in output._dom_classes
    assert output.layout.height == "300px"  # a fixed height: the page does not jump on redraw
    assert isinstance(grid, ipw.GridBox) and len(grid.children) == 1


def test_slider_redraws_on_release_only():
    s = widgets.slider("μ", 0.5, -3.0, 3.0, 0.1)
    assert (s.value, s.min, s.max, s.step, s.description) == (0.5, -3.0, 3.0, 0.1, "μ")
    assert s.continuous_update is False


def test_kl_readout_shows_both_directions_in_order_and_in_nats():
    text = widgets.kl_readout(0.123456, 7.0)
    assert text.index("KL(p ‖ q)") < text.index("0.1235") < text.index("KL(q ‖ p)") < text.index("7.0000")
    assert text.count("nats") == 2
