"""The playground in real JupyterLab: press Train, watch it redraw, turn beta up, watch the KL collapse.

Opens tests/notebooks/playground_demo.ipynb (offline digits, a 2-D code) in headless Chromium through
the machinery of tests/browser_support.py, presses Train, waits for two redraws (the epoch in the readout
and the figure both change), pauses, drags beta to the far end of its slider (100), trains again and
waits for the KL in the readout to fall toward zero. Then every kind of control gets the check that
tests/test_browser.py gives every lesson's widgets (the readout or the figure changes, no error, no
traceback), and the page must show no console error. Skips without Chromium unless
VAE_COURSE_BROWSER=require (CI).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

try:
    from . import browser_support as bs
    from .test_browser import browser, browser_available, lab, page  # noqa: F401  (the fixtures)
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import browser_support as bs
    from test_browser import browser, browser_available, lab, page  # noqa: F401

DEMO = Path(__file__).resolve().parent / "notebooks" / "playground_demo.ipynb"
RUN_TIMEOUT = float(os.environ.get("VAE_COURSE_BROWSER_TIMEOUT", "900"))  # seconds for the notebook to run
TRAIN_TIMEOUT = 240.0  # seconds for the redraws and for the KL to fall (epochs take about 0.3 s of CPU here)
PLAYGROUND = f"{bs.PANEL} .vae-playground"


def readout(widget) -> str:
    return widget.locator(bs.READOUT).inner_text()


def figure(widget) -> str:
    """The src of the figure's image: a new blob URL at every redraw."""
    return widget.locator(f"{bs.FIGURE} img").first.get_attribute("src") or ""


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"no {pattern!r} in the readout {text!r}"
    return float(match.group(1).replace("−", "-"))


def epoch(widget) -> int:
    return int(number(r"epoch (\d+)", readout(widget)))


def kl(widget) -> float:
    return number(r"KL ([\d.]+) nats", readout(widget))


def drag_to_the_end(page, slider) -> None:
    """Drag a slider's handle to the right end of its track."""
    track = slider.locator(".noUi-target").first.bounding_box()
    handle = slider.locator(".noUi-handle").first.bounding_box()
    y = handle["y"] + handle["height"] / 2
    page.mouse.move(handle["x"] + handle["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] + 20, y, steps=10)
    page.mouse.up()


def test_playground_trains_live_and_beta_collapses_the_kl(page, lab):
    started = time.monotonic()
    relative = bs.copy_notebook(DEMO, lab.root)
    try:
        bs.run_notebook(page, lab, relative, bs.code_cells_to_run(DEMO), timeout=RUN_TIMEOUT)
        widget = page.locator(PLAYGROUND)
        widget.wait_for(timeout=60_000)
        widget.scroll_into_view_if_needed()
        opened = time.monotonic()
        assert epoch(widget) == 0 and figure(widget), f"no initial state: {readout(widget)!r}"
        button = {name: widget.locator("button", has_text=name) for name in ("Train", "Pause", "Reset")}

        # Train: two redraws, each a later epoch in the readout and a new image
        seen = [(epoch(widget), figure(widget))]
        button["Train"].click()
        for _ in range(2):
            bs.wait_for(lambda: epoch(widget) > seen[-1][0] and figure(widget) != seen[-1][1], TRAIN_TIMEOUT,
                        f"a redraw after epoch {seen[-1][0]} (readout {readout(widget)!r})")
            seen.append((epoch(widget), figure(widget)))
        button["Pause"].click()
        bs.wait_for(lambda: "paused at" in readout(widget), 60, "the readout to say the run paused")
        trained = time.monotonic()
        kl_before = kl(widget)
        assert kl_before > 1.0, f"after {epoch(widget)} epochs at beta 1 the code carries nats: {readout(widget)!r}"

        # beta to the far end of its slider (100), train again: the KL term is priced out of the code
        drag_to_the_end(page, widget.locator(bs.SLIDER).first)
        bs.wait_for(lambda: "β 1 → 100" in readout(widget), 30, "the readout to note the new beta")
        paused_at = epoch(widget)
        button["Train"].click()
        bs.wait_for(lambda: epoch(widget) > paused_at + 1 and kl(widget) < min(0.25 * kl_before, 0.5),
                    TRAIN_TIMEOUT, f"the KL to fall from {kl_before:.2f} nats (readout {readout(widget)!r})")
        kl_after = kl(widget)
        button["Pause"].click()
        bs.wait_for(lambda: "paused at" in readout(widget), 60, "the readout to say the run paused")
        finished = time.monotonic()
        # the check every lesson's widgets get (tests/test_browser.py): a slider, a dropdown and a toggle
        # each change the readout or the figure, with no error and no traceback; so a lesson can hold it
        problems, moved = bs.exercise_widgets(page)
        if moved != ["widget 1 (slider)", "widget 1 (dropdown)", "widget 1 (toggle)"]:
            problems.append(f"the widget check moved {moved}")
        problems += page.console_log.errors
    except Exception:
        print(f"screenshot: {bs.screenshot(page, DEMO.stem)}")
        raise
    if problems:
        problems.append(f"screenshot: {bs.screenshot(page, DEMO.stem)}")
    assert not problems, "\n".join(problems)
    print(f"redraws at epochs {[e for e, _ in seen]}; KL {kl_before:.2f} -> {kl_after:.2f} nats; seconds: "
          f"notebook {opened - started:.0f}, two redraws {trained - opened:.0f}, beta phase {finished - trained:.0f}, "
          f"every control {time.monotonic() - finished:.0f}")
