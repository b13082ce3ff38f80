"""Interactive figures for the lessons: controls on top, a readout line, then a figure redrawn on change.

Every widget of the course is built by `live_plot`, so every one behaves the same way in JupyterLab:
the figure keeps a fixed height (the page does not jump while a slider moves), and an error inside a
callback is printed in the widget's output instead of being lost in the kernel log.
"""

from __future__ import annotations

import html
import traceback
from typing import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt

# CSS classes the browser tests look for (tests/test_browser.py)
READOUT_CLASS = "vae-readout"
FIGURE_CLASS = "vae-figure"
WIDGET_CLASS = "vae-live-plot"


def slider(description: str, value: float, min: float, max: float, step: float, **kwargs) -> widgets.FloatSlider:
    """A float slider that redraws only on release, with a description wide enough to read."""
    kwargs.setdefault("continuous_update", False)
    kwargs.setdefault("style", {"description_width": "initial"})
    kwargs.setdefault("layout", widgets.Layout(width="320px"))
    return widgets.FloatSlider(value=value, min=min, max=max, step=step, description=description, **kwargs)


def live_plot(controls: dict[str, widgets.ValueWidget], draw: Callable[..., str | None], *,
              height: str = "440px", columns: int = 2) -> widgets.VBox:
    """Call `draw(**values)` now and whenever a control changes.

    `draw` builds a matplotlib figure (shown in the output area) and may return a short HTML string,
    shown above the figure as the readout (for example the KL value). `controls` maps `draw`'s
    argument names to widgets (sliders, dropdowns, toggles).
    """
    if not isinstance(controls, dict) or not controls:
        raise ValueError(f"controls must be a dict naming at least one widget, got {controls!r}")
    for name, control in controls.items():
        if not isinstance(control, widgets.ValueWidget):
            raise TypeError(f"controls[{name!r}] must be a widget with a value (a slider, a dropdown), "
                            f"got {type(control).__name__}")
    if not callable(draw):
        raise TypeError(f"draw must be a function of the controls' values, got {type(draw).__name__}")
    readout = widgets.HTML(value="").add_class(READOUT_CLASS)
    output = widgets.Output(layout=widgets.Layout(height=height, overflow="hidden")).add_class(FIGURE_CLASS)

    def redraw(change=None) -> None:
        values = {name: control.value for name, control in controls.items()}
        with output:
            output.clear_output(wait=True)
            try:
                text = draw(**values)
                plt.show()
                readout.value = text or ""
            except Exception as error:  # shown to the learner, not swallowed by the kernel
                plt.close("all")
                readout.value = f"<b style='color:#b00'>error: {html.escape(repr(error))}</b>"
                traceback.print_exc()

    for control in controls.values():
        control.observe(redraw, names="value")
    rows = list(controls.values())
    grid = widgets.GridBox(rows, layout=widgets.Layout(grid_template_columns=" ".join(["auto"] * columns)))
    box = widgets.VBox([grid, readout, output]).add_class(WIDGET_CLASS)
    redraw()
    return box


def kl_readout(kl_pq: float, kl_qp: float) -> str:
    """The readout line of the KL widgets (lessons 02 and 03): both directions, in nats."""
    return f"KL(p ‖ q) = <b>{kl_pq:.4f}</b> nats &nbsp;·&nbsp; KL(q ‖ p) = <b>{kl_qp:.4f}</b> nats"


def latent_explorer(decode: Callable, z_points, labels, *, limit: float = 3.0, step: float = 0.05,
                    shape: tuple[int, int] | None = None) -> widgets.VBox:
    """Lesson 07's widget: two sliders pick a point z = (z1, z2); the figure marks it on the latent scatter
    and shows the image the decoder makes of it.

    `decode(z)` maps a (1, 2) float tensor to pixel probabilities (1, H*W); `z_points` (N, 2) and
    `labels` (N,) are the latent means drawn behind the marker, coloured by digit.
    """
    import torch

    from .plots import image_shape, plot_latent_scatter

    def draw(z1: float, z2: float) -> str:
        with torch.no_grad():
            pixels = decode(torch.tensor([[z1, z2]], dtype=torch.float32)).cpu().numpy()
        image = pixels.reshape(image_shape(pixels.size, shape))
        fig, (ax_z, ax_x) = plt.subplots(1, 2, figsize=(8.4, 3.8), gridspec_kw={"width_ratios": [1.5, 1]})
        plot_latent_scatter(z_points, labels, ax=ax_z, point=(z1, z2), limit=limit)
        ax_x.imshow(image, cmap="gray_r", vmin=0.0, vmax=1.0)
        ax_x.set_axis_off()
        ax_x.set_title("decoded: sigmoid(decode(z))", fontsize="small")
        fig.tight_layout()
        return f"z = (<b>{z1:+.2f}</b>, <b>{z2:+.2f}</b>) &nbsp;·&nbsp; mean ink {image.mean():.3f}"

    controls = {"z1": slider("z₁", 0.0, -limit, limit, step), "z2": slider("z₂", 0.0, -limit, limit, step)}
    return live_plot(controls, draw, height="420px")


def conditional_sampler(models: dict, judge: Callable, *, n: int = 8, max_seed: int = 99) -> widgets.VBox:
    """Lesson 08's widget: pick a conditional model, a digit and a seed; the figure shows n digits the
    model draws for it, each titled with what the independent `judge` reads in it.

    `models` maps names to models with sample(labels, generator) -> (n, 784) pixel probabilities;
    `judge(images)` returns class logits (n, n_classes).
    """
    import numpy as np
    import torch

    from .plots import image_shape

    if not models:
        raise ValueError("models must name at least one conditional model")
    n_classes = next(iter(models.values())).n_classes

    def draw(model: str, digit: int, seed: int) -> str:
        with torch.no_grad():
            images = models[model].sample([digit] * n, generator=torch.Generator().manual_seed(seed))
            verdicts = judge(images).argmax(dim=-1).cpu().tolist()
        fig, axes = plt.subplots(1, n, figsize=(0.9 * n + 0.4, 1.55))
        for ax, image, verdict in zip(np.atleast_1d(axes), images.cpu().numpy(), verdicts):
            ax.imshow(image.reshape(image_shape(image.size)), cmap="gray_r", vmin=0.0, vmax=1.0)
            ax.set_axis_off()
            ax.set_title(f"reads {verdict}", fontsize="small", color="C2" if verdict == digit else "C3")
        fig.tight_layout()
        right = sum(v == digit for v in verdicts)
        return (f"{html.escape(model)} &nbsp;·&nbsp; digit <b>{digit}</b> &nbsp;·&nbsp; seed {seed} &nbsp;·&nbsp; "
                f"the judge reads {' '.join(map(str, verdicts))}: <b>{right}/{n}</b> right")

    controls = {
        "model": widgets.Dropdown(options=list(models), description="model"),
        "digit": widgets.Dropdown(options=list(range(n_classes)), value=0, description="digit"),
        "seed": widgets.IntSlider(value=0, min=0, max=max_seed, description="seed", continuous_update=False),
    }
    return live_plot(controls, draw, height="190px", columns=3)
