"""Every widget notebook, in real JupyterLab, in headless Chromium: move each control, watch the figure.

nbval only proves that a notebook's cells run. A widget that renders as the text
`FloatSlider(value=1.0)`, or whose callback fails inside JupyterLab, passes nbval and still fails the
learner; only a browser shows it. For every notebook in notebooks/ that has a `live_plot` widget,
these tests open a copy in JupyterLab, run all its cells, move one control of each kind (slider,
dropdown, toggle) in every widget, and require the widget's readout or figure to change, with no
traceback, no error in the readout and no console error. A self-made notebook proves the machinery,
and a deliberately broken one proves that each kind of breakage is caught.

Needs Debian's Chromium (/usr/bin/chromium) and the `playwright` package; without them the tests
skip and the summary says why. With VAE_COURSE_BROWSER=require (set by CI) they fail instead.
Screenshots of failures go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import os

import pytest

try:
    from . import browser_support as bs
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import browser_support as bs

RUN_TIMEOUT = float(os.environ.get("VAE_COURSE_BROWSER_TIMEOUT", "900"))  # seconds per notebook


@pytest.fixture(scope="module")  # torn down after this file: playwright leaves an event loop running
def browser_available() -> None:
    reason = bs.missing_browser_reason()
    if reason is None:
        return
    if os.environ.get(bs.REQUIRE_ENV) == "require":
        pytest.fail(f"{bs.REQUIRE_ENV}=require but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")  # torn down after this file: playwright leaves an event loop running
def lab(browser_available, tmp_path_factory):
    """One JupyterLab server for the whole session, serving a temporary root."""
    server = bs.LabServer(tmp_path_factory.mktemp("lab"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")  # torn down after this file: playwright leaves an event loop running
def browser(browser_available):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(bs.CHROMIUM), args=bs.CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser, lab):
    """A fresh browser page with its console watched; the kernels it started are shut down after."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.console_log = bs.PageLog()
    page.console_log.attach(page)
    try:
        yield page
    finally:
        context.close()
        lab.shutdown_kernels()


def check_in_browser(page, lab, source, **exercise) -> tuple[list[str], list[str]]:
    """Copy `source` into the server's root, run it, exercise its widgets; return problems and moves.

    A screenshot of the page is saved under tests/artifacts/ whenever there is a problem.
    """
    relative = bs.copy_notebook(source, lab.root)
    moved: list[str] = []
    try:
        bs.run_notebook(page, lab, relative, bs.code_cells_to_run(source), timeout=RUN_TIMEOUT)
        problems, moved = bs.exercise_widgets(page, **exercise)
    except Exception as error:  # a timeout or a page that never loaded: still leave a screenshot
        problems = [f"{type(error).__name__}: {error}", f"JupyterLab's log ends with:\n{lab.log_tail(15)}"]
    problems += page.console_log.errors
    if problems:
        problems.append(f"screenshot: {bs.screenshot(page, source.stem)}")
    return problems, moved


NOTEBOOKS = bs.widget_notebooks()


@pytest.mark.parametrize("notebook", NOTEBOOKS or [pytest.param(None, marks=pytest.mark.skip(
    reason="no notebook in notebooks/ has a live_plot widget yet"))], ids=lambda path: path.stem if path else "none")
def test_widget_notebook_works_in_the_browser(page, lab, notebook):
    problems, moved = check_in_browser(page, lab, notebook)
    assert moved and not problems, f"{notebook.name} in JupyterLab:\n" + "\n".join(problems)


def test_demo_widget_works_in_the_browser(page, lab, tmp_path):
    """A self-made notebook with a slider, a dropdown and a toggle passes: the machinery works."""
    demo = bs.write_demo_notebook(tmp_path / "browser_demo_working.ipynb")
    problems, moved = check_in_browser(page, lab, demo)
    assert not problems, "\n".join(problems)
    assert moved == ["widget 1 (slider)", "widget 1 (dropdown)", "widget 1 (toggle)"]


def test_broken_widgets_are_caught(page, lab, tmp_path):
    """A callback that raises, a control that drives nothing and a widget shown as text are all reported."""
    demo = bs.write_demo_notebook(tmp_path / "browser_demo_broken.ipynb", broken=True)
    problems, _ = check_in_browser(page, lab, demo, change_timeout=10)
    missed = [expected for expected in bs.DEMO_BROKEN_PROBLEMS if not any(expected in p for p in problems)]
    assert not missed, f"the browser check missed {missed}; it reported:\n" + "\n".join(problems)
    assert not any("could not move" in p for p in problems), "\n".join(problems)
    assert (bs.ARTIFACTS / f"{demo.stem}.png").is_file(), "no screenshot was saved for the failure"


# Without a browser: which notebooks count as widget notebooks, and that the server leaves nothing behind.

def test_widget_notebooks_are_discovered(tmp_path):
    """A notebook counts if its code calls live_plot or it saved a widget with a control, and only then."""
    nbf = bs.nbformat.v4

    def saved_view(name: str, text: str) -> Path:
        view = nbf.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "0"},
                                                    "text/plain": text})
        bs.nbformat.write(nbf.new_notebook(cells=[nbf.new_code_cell("box", outputs=[view])]), tmp_path / name)
        return tmp_path / name

    calls = bs.write_demo_notebook(tmp_path / "a_calls_live_plot.ipynb")
    shows = saved_view("b_shows_a_slider.ipynb", "VBox(children=(FloatSlider(value=1.0),))")
    saved_view("c_progress_bar.ipynb", "training:   0%|          | 0/360 [00:00<?, ?batch/s]")  # tqdm
    stated = tmp_path / "d_widget_state.ipynb"
    notebook = nbf.new_notebook(cells=[nbf.new_code_cell("box")])
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {
        "0": {"model_name": "DropdownModel"}, "1": {"model_name": "LayoutModel"}}}}
    bs.nbformat.write(notebook, stated)
    bs.nbformat.write(nbf.new_notebook(cells=[nbf.new_markdown_cell("built with `live_plot(...)`"),
                                              nbf.new_code_cell("print('live_plot')")]), tmp_path / "e_plain.ipynb")
    assert bs.widget_notebooks(tmp_path) == [calls, shows, stated]
    assert bs.uses_live_plot(bs.write_demo_notebook(tmp_path / "f.ipynb", broken=True))


def test_server_stops_and_leaves_no_process(tmp_path):
    """The server and a kernel it started are gone once stop() returns."""
    server = bs.LabServer(tmp_path)
    try:
        server.start()
        kernel = server._api("POST", "kernels")
        # the kernel process may start a moment after the REST call answers
        bs.wait_for(lambda: server.remember_kernels() or server._kernels, 30, "the kernel process")
        pids = [server.process.pid, *server._kernels]
        assert kernel["id"] and all(bs._alive(pid) for pid in pids)
    finally:
        server.stop()
    assert server.process.returncode is not None
    assert not [pid for pid in pids if bs._alive(pid)], "a process outlived the server"
