"""Machinery for the browser tests: a JupyterLab server, headless Chromium, and the widget checks.

The tests in tests/test_browser.py use three pieces from here:

- `LabServer`: JupyterLab on 127.0.0.1 with a random token, serving a temporary root into which the
  notebooks are copied (the repository's notebooks are never executed or modified). It is stopped
  through its own Popen handle, and any kernel it started is stopped by its process id.
- `run_notebook`: open a notebook in the browser, clear and run every cell, wait for the kernel.
- `exercise_widgets`: move every kind of control of every `live_plot` widget on the page and return
  the problems found (nothing changed, an error in the widget, a traceback, a widget shown as text).

Recipe and known traps: shared/recipes/browser-test.md. Chromium is Debian's /usr/bin/chromium,
driven by the PyPI package `playwright` (never `playwright install`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

REPO = Path(__file__).resolve().parent.parent
# VAE_COURSE_NOTEBOOKS points the tests at another folder, e.g. a scratch copy with a widget broken on purpose.
NOTEBOOKS = Path(os.environ.get("VAE_COURSE_NOTEBOOKS", REPO / "notebooks"))
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path(os.environ.get("VAE_COURSE_CHROMIUM", "/usr/bin/chromium"))
# "require" (set by CI) turns a missing browser into a failure instead of a skip
REQUIRE_ENV = "VAE_COURSE_BROWSER"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

# The notebook on show (other tabs stay in the page, hidden).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
# CSS classes set by vae_course.widgets.live_plot; the widget module itself is not imported here so
# that collecting the tests does not import matplotlib and ipywidgets.
WIDGET = ".vae-live-plot"
READOUT = ".vae-readout"
FIGURE = ".vae-figure"
# What each kind of control looks like once ipywidgets' front-end has drawn it.
SLIDER = ".widget-slider"
DROPDOWN = ".widget-dropdown"
TOGGLE = ".widget-toggle-button, .widget-checkbox, .widget-toggle-buttons, .widget-radio-box"
TRACEBACK = '[data-mime-type="application/vnd.jupyter.stderr"]'
# A widget whose front-end is missing is shown as its Python repr, e.g. `FloatSlider(value=1.0)`.
WIDGET_AS_TEXT = re.compile(
    r"^\s*(?:[A-Z][A-Za-z]*(?:Slider|Box|Button|Buttons|Dropdown|Text|Output|HTML|Checkbox|Label)|Output)\(",
    re.MULTILINE)
# The only console error that says nothing about the notebook.
BENIGN_CONSOLE = re.compile(r"favicon")


def missing_browser_reason() -> str | None:
    """Why the browser tests cannot run here, or None if they can."""
    if not CHROMIUM.exists():
        return (f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
                f"(or set VAE_COURSE_CHROMIUM to its path)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package `playwright` is not installed (pip install -e '.[test]')"
    return None


# An interactive control, by its Python repr (`FloatSlider(`) or its model name (`DropdownModel`);
# tqdm's progress bars are widgets too, but nothing a learner moves.
CONTROL_NAME = re.compile(r"\b\w*(?:Slider|Dropdown|Toggle\w*|Checkbox|RadioButtons|Select\w*|Text|Button|Play|Picker)"
                          r"(?:Model\b|\()")


def uses_live_plot(path: Path) -> bool:
    """Whether a notebook has a widget to move: its code calls live_plot or imports vae_course.widgets
    (whose every widget is a live_plot), or it saved a widget with a control.

    Saved widgets are found by the text/plain of their outputs' widget views and by the model names of
    the widget state that `nbconvert --execute` stores in the notebook's metadata.
    """
    notebook = nbformat.read(path, as_version=4)
    names = [model.get("model_name", "") for model in notebook.metadata.get("widgets", {})
             .get("application/vnd.jupyter.widget-state+json", {}).get("state", {}).values()]
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if re.search(r"\blive_plot\s*\(|\bvae_course\.widgets\b", cell.source):
            return True
        names += [output["data"].get("text/plain", "") for output in cell.get("outputs", [])
                  if "application/vnd.jupyter.widget-view+json" in output.get("data", {})]
    return any(CONTROL_NAME.search(name) for name in names)


def widget_notebooks(directory: Path = NOTEBOOKS) -> list[Path]:
    """Every notebook under `directory` that has a widget, in lesson order."""
    return [path for path in sorted(directory.glob("*.ipynb")) if uses_live_plot(path)]


def code_cells_to_run(path: Path) -> int:
    """How many cells get an execution count when every cell runs (empty code cells do not)."""
    notebook = nbformat.read(path, as_version=4)
    return sum(1 for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc), e.g. the kernels a server started."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        match = re.search(r"^PPid:\s*(\d+)", text, re.MULTILINE)
        if match and int(match.group(1)) == pid:
            found.append(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _settings(root: Path) -> None:
    """JupyterLab settings that avoid two traps: windowed notebooks and the news pop-up."""
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
    }
    for name, value in files.items():
        path = root / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


class LabServer:
    """JupyterLab serving `root` on loopback with a token; use as a context manager."""

    def __init__(self, root: Path, *, start_timeout: float = 90.0):
        self.root = Path(root)
        self.start_timeout = start_timeout
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.log_path = self.root / "jupyterlab.log"
        self.process: subprocess.Popen | None = None
        self._kernels: set[int] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, relative: str) -> str:
        """The notebook in a workspace of its own, so that no other notebook is open beside it."""
        workspace = re.sub(r"[^A-Za-z0-9]+", "-", relative)
        return f"{self.url}/lab/workspaces/{workspace}/tree/{relative}?token={self.token}"

    def _api(self, method: str, path: str):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut every running kernel down through the server's REST API."""
        for kernel in self._api("GET", "kernels"):
            self._api("DELETE", f"kernels/{kernel['id']}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def start(self) -> "LabServer":
        _settings(self.root)
        command = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            f"--LabApp.user_settings_dir={self.root / 'settings'}",
            f"--LabApp.workspaces_dir={self.root / 'workspaces'}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        # The kernel finds vae_course even if the package is not installed in the environment; a
        # config folder of its own keeps the user's Jupyter configuration out; figures show inline.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                   JUPYTER_CONFIG_DIR=str(self.root / "config"), MPLBACKEND="module://matplotlib_inline.backend_inline")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, cwd=self.root, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"JupyterLab exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=5) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {self.start_timeout:.0f} s:\n{self.log_tail()}")

    def remember_kernels(self) -> None:
        """Note the kernels running now, so that `stop` can end them should the server not."""
        if self.process is not None and self.process.poll() is None:
            self._kernels.update(_children(self.process.pid))

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server through its Popen handle, then any kernel it left behind, by process id."""
        if self.process is None:
            return
        self.remember_kernels()
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: the server shuts its kernels down and exits
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        for pid in sorted(self._kernels):
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._log.close()

    def __enter__(self) -> "LabServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def copy_notebook(source: Path, root: Path) -> str:
    """Copy a notebook into the server root under notebooks/; return its path relative to the root.

    The caches beside it and in the repository (data/ and checkpoints/, git-ignored) are linked in
    where they exist, so that a notebook that loads `checkpoints/...` finds what nbval trained.
    """
    target = root / "notebooks" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    for cache in ("data", "checkpoints"):
        for origin, place in ((source.parent, target.parent), (REPO, root)):
            if (origin / cache).is_dir() and not (place / cache).exists():
                (place / cache).symlink_to((origin / cache).resolve(), target_is_directory=True)
    return target.relative_to(root).as_posix()


@dataclass
class PageLog:
    """Console errors and uncaught exceptions of a page."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        page.on("console", lambda message: self._console(message))
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message) -> None:
        if message.type == "error" and not BENIGN_CONSOLE.search(message.text):
            self.errors.append(f"console: {message.text}")


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.25):
    """Poll `condition` until it returns something truthy; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def kernel_idle(page) -> bool:
    """The notebook's kernel is connected and idle (the toolbar says "idle" even before it connects)."""
    status = page.locator("#jp-main-statusbar").inner_text()
    indicator = page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator")
    return ("Idle" in status and "No Kernel" not in status
            and (indicator.count() == 0 or indicator.first.get_attribute("data-status") == "idle"))


def _click_menu(page, menu: str, item: str) -> None:
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(".lm-Menu:visible .lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def _accept_kernel_dialog(page) -> None:
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    if dialog.count():
        dialog.first.click()


def _prompts(page) -> list[str]:
    return page.locator(f"{PANEL} .jp-CodeCell .jp-InputPrompt").all_inner_texts()


def run_notebook(page, server: LabServer, relative: str, expected_runs: int, *, timeout: float) -> None:
    """Open a notebook, clear its outputs, run every cell and wait until the kernel is idle again."""
    page.goto(server.notebook_url(relative), wait_until="domcontentloaded")
    page.locator(f"{PANEL} .jp-Cell").first.wait_for(timeout=60_000)
    wait_for(lambda: _accept_kernel_dialog(page) or kernel_idle(page), 60, "the kernel to start")
    server.remember_kernels()
    _click_menu(page, "Edit", "Clear Outputs of All Cells")

    def started() -> bool:
        return any(re.search(r"\[(\*|\d+)\]", prompt) for prompt in _prompts(page))

    for attempt in range(3):  # a click that lands while the menu is still being built does nothing
        _click_menu(page, "Run", "Run All Cells")
        try:
            wait_for(started, 15, "the first cell to start")
            break
        except AssertionError:
            if attempt == 2:
                raise

    def finished() -> bool:
        prompts = _prompts(page)
        if any("*" in prompt for prompt in prompts):
            return False
        done = sum(bool(re.search(r"\[\d+\]", prompt)) for prompt in prompts)
        stopped_on_error = page.locator(f"{PANEL} {TRACEBACK}").count()
        return (done >= expected_runs or bool(stopped_on_error)) and kernel_idle(page)

    wait_for(finished, timeout, f"every cell of {relative} to run")


@dataclass
class WidgetState:
    readout: str
    figure: str  # the src of the figure's image(s)


def _state(widget) -> WidgetState:
    readout = widget.locator(READOUT)
    images = widget.locator(f"{FIGURE} img").evaluate_all("nodes => nodes.map(n => n.src).join('|')")
    return WidgetState(readout.inner_text() if readout.count() else "", images)


def _move_slider(page, control) -> str:
    """Drag the handle a good way along its track, to the far side from where it is."""
    track = control.locator(".noUi-target").first
    handle = control.locator(".noUi-handle").first
    box, grip = track.bounding_box(), handle.bounding_box()
    start_x, y = grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2
    middle = box["x"] + box["width"] / 2
    target_x = box["x"] + box["width"] * (0.2 if start_x > middle else 0.8)
    page.mouse.move(start_x, y)
    page.mouse.down()
    page.mouse.move(target_x, y, steps=8)
    page.mouse.up()


def _move_dropdown(page, control) -> str:
    select = control.locator("select").first
    options = select.locator("option").all_inner_texts()
    current = select.evaluate("s => s.selectedIndex")
    if len(options) < 2:
        raise AssertionError(f"a dropdown with fewer than two options: {options}")
    select.select_option(index=(current + 1) % len(options))


def _move_toggle(page, control) -> str:
    classes = control.get_attribute("class") or ""
    if "widget-checkbox" in classes:
        control.locator("input[type=checkbox]").first.click()
    elif "widget-toggle-buttons" in classes:
        control.locator("button:not(.mod-active)").first.click()
    elif "widget-radio-box" in classes:
        control.locator("input[type=radio]:not(:checked)").first.click()
    else:  # a ToggleButton
        control.click()


# Everything a control shows of its value: its text (a slider's readout), inputs, pressed buttons.
_CONTROL_VALUE_JS = """el => [el.innerText, el.className,
    ...Array.from(el.querySelectorAll('input, select')).map(i => i.value + ':' + i.checked),
    ...Array.from(el.querySelectorAll('.mod-active')).map(b => b.innerText)].join('|')"""


CONTROL_KINDS: dict[str, tuple[str, Callable]] = {
    "slider": (SLIDER, _move_slider),
    "dropdown": (DROPDOWN, _move_dropdown),
    "toggle": (TOGGLE, _move_toggle),
}


def widgets_as_text(page) -> list[str]:
    """Outputs that show a widget's Python repr instead of the widget (its front-end is missing)."""
    texts = page.locator(f"{PANEL} .jp-OutputArea-output[data-mime-type='text/plain']").all_inner_texts()
    texts += page.locator(f"{PANEL} .jp-OutputArea-output").filter(has_text="Error displaying widget").all_inner_texts()
    return [text.strip()[:80] for text in texts if WIDGET_AS_TEXT.search(text) or "Error displaying widget" in text]


def tracebacks(page) -> list[str]:
    """The first lines' gist of every stderr output on the page (tracebacks, errors in widgets)."""
    texts = page.locator(f"{PANEL} {TRACEBACK}").all_inner_texts()
    return [" ".join(text.split())[-200:] for text in texts if text.strip()]


def _shows_error(state: WidgetState) -> bool:
    """live_plot puts `error: ...` in the readout when its callback raises."""
    return state.readout.strip().lower().startswith("error:")


def _settled(widget, quiet: float = 1.0, timeout: float = 30.0) -> WidgetState:
    """The widget's state once it has stopped changing for `quiet` seconds (late figure messages)."""
    last, since = _state(widget), time.monotonic()
    deadline = since + timeout
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.25)
        now = _state(widget)
        if now != last:
            last, since = now, time.monotonic()
    return last


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def exercise_widgets(page, *, change_timeout: float = 30.0,
                     idle_timeout: float = 120.0) -> tuple[list[str], list[str]]:
    """Move one control of each kind in every live_plot widget; return the problems and the moves.

    After each move the widget's readout text or its figure must change, the readout must not show
    an error and no traceback may appear on the page. Moves read like "widget 1 (slider)".
    """
    problems = [f"widget shown as text (no front-end): {text!r}" for text in widgets_as_text(page)]
    moved: list[str] = []
    widgets = page.locator(f"{PANEL} {WIDGET}")
    if widgets.count() == 0:
        return problems + ["no live_plot widget (.vae-live-plot) on the page"], moved
    for index in range(widgets.count()):
        widget = widgets.nth(index)
        widget.scroll_into_view_if_needed()
        if _shows_error(_state(widget)):
            problems.append(f"widget {index + 1}: the readout shows an error before any control moved: "
                            f"{_state(widget).readout[:200]!r}")
        kinds = 0
        for kind, (selector, move) in CONTROL_KINDS.items():
            controls = widget.locator(selector)
            if controls.count() == 0:
                continue
            kinds += 1
            where = f"widget {index + 1} ({kind})"
            before, value_before = _settled(widget), controls.first.evaluate(_CONTROL_VALUE_JS)
            move(page, controls.first)
            try:
                wait_for(lambda: controls.first.evaluate(_CONTROL_VALUE_JS) != value_before, 5, "the control")
            except AssertionError:
                problems.append(f"{where}: the test could not move the control")
                continue
            moved.append(where)
            try:
                wait_for(lambda: _state(widget) != before, change_timeout,
                         f"{where}: the readout or the figure to change")
                wait_for(lambda: kernel_idle(page), idle_timeout, "the kernel to be idle")
            except AssertionError as error:
                problems.append(f"{where}: the control moved but nothing changed ({error})")
                continue
            after = _state(widget)
            print(f"{where}: readout {_short(before.readout)!r} -> {_short(after.readout)!r}, "
                  f"figure {'changed' if after.figure != before.figure else 'unchanged'}")
            if _shows_error(after):
                problems.append(f"{where}: the readout shows an error: {after.readout[:200]!r}")
            if not after.figure:
                problems.append(f"{where}: the figure has no image after the change")
        if kinds == 0:
            problems.append(f"widget {index + 1}: no slider, dropdown or toggle found in it")
    problems += [f"traceback in an output: {text}" for text in tracebacks(page)]
    return problems, moved


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under tests/artifacts/ (git-ignored) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# A self-made widget notebook, so the machinery is tested even before any lesson has a widget.
_DEMO_SETUP = """\
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from vae_course.widgets import live_plot, slider

x = np.linspace(-6, 6, 401)

def gauss(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))

def kl_to_standard(mu, sigma):
    # KL(N(mu, sigma^2) || N(0, 1)) = log(1/sigma) + (sigma^2 + mu^2) / 2 - 1/2
    return -np.log(sigma) + (sigma ** 2 + mu ** 2) / 2 - 0.5
"""

_DEMO_GOOD = """\
def draw(mu, sigma, colour, fill):
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.plot(x, gauss(x, 0, 1), color="grey", label="p = N(0, 1)")
    ax.plot(x, gauss(x, mu, sigma), color=colour, label="q")
    if fill:
        ax.fill_between(x, gauss(x, mu, sigma), color=colour, alpha=0.3)
    ax.legend()
    return f"KL(q || p) = {kl_to_standard(mu, sigma):.4f} ({colour}, fill={fill})"

live_plot({"mu": slider("mu", 0.0, -3, 3, 0.1), "sigma": slider("sigma", 1.0, 0.2, 3, 0.1),
           "colour": widgets.Dropdown(options=["C0", "C1", "C2"], value="C0"),
           "fill": widgets.ToggleButton(value=False, description="fill")}, draw)
"""

# Three ways to break a widget, each of which the browser check must report.
_DEMO_BROKEN = """\
def draw_raises(mu):
    if mu != 0.0:
        raise RuntimeError("callback broken on purpose")
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.plot(x, gauss(x, mu, 1))
    return f"KL = {kl_to_standard(mu, 1.0):.4f}"

live_plot({"mu": slider("mu", 0.0, -3, 3, 0.1)}, draw_raises)
"""

_DEMO_IGNORED = """\
def draw_ignores_dropdown(mu, colour):
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.plot(x, gauss(x, 0, 1), color="C0")  # colour is never used: the dropdown does nothing
    return "KL = 0.0000"

live_plot({"colour": widgets.Dropdown(options=["C0", "C1"], value="C0")},
          lambda colour: draw_ignores_dropdown(0.0, colour))
"""

_DEMO_AS_TEXT = """\
from IPython.display import display
# what a widget looks like when JupyterLab lacks the widget front-end
display({"text/plain": "FloatSlider(value=1.0, description='sigma')"}, raw=True)
"""

# The problems exercise_widgets must report on the broken demo, one per way of breaking a widget.
DEMO_BROKEN_PROBLEMS = ("widget 1 (slider): the readout shows an error", "traceback in an output",
                        "widget 2 (dropdown): the control moved but nothing changed", "widget shown as text")


def write_demo_notebook(path: Path, *, broken: bool = False) -> Path:
    """A notebook with a working live_plot (slider, dropdown, toggle), or with three broken widgets."""
    cells = [nbformat.v4.new_markdown_cell("# Browser-test demo (generated by tests/browser_support.py)"),
             nbformat.v4.new_code_cell(_DEMO_SETUP)]
    sources = [_DEMO_BROKEN, _DEMO_IGNORED, _DEMO_AS_TEXT] if broken else [_DEMO_GOOD]
    cells += [nbformat.v4.new_code_cell(source) for source in sources]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path
