"""The course website: built by `vae_course.teaching_site` from the lessons, offline, and seen in Chromium.

The build (Sphinx, myst-nb, sphinx-book-theme, MathJax served locally) runs once per session into a
temporary folder and prints how long it took. Then: no page would fetch anything from another host; no
solution is on any page; and three pages (the home page and two lessons, one with a widget and one that
trains) are opened in headless Chromium, served from 127.0.0.1 with every other address blocked: the math
is typeset (MathJax's output, no raw `$...$` left), each lesson shows its figures, no widget says
"Loading widget", training shows as text. Screenshots go to tests/artifacts/site_*.png.

The builder comes with the `teach` extra (`make install-teach`); the browser is Debian's Chromium, as in
the browser tests. Without either these tests skip, saying why; with VAE_COURSE_TEACH=require (and
VAE_COURSE_BROWSER=require for Chromium), set by CI, they fail instead. The frame-freezing and asset
checks on made-up input need neither and always run.
"""

import functools
import http.server
import importlib.util
import os
import re
import threading
import time
from pathlib import Path

import nbformat
import pytest

from vae_course import teaching, teaching_site

import browser_support as bs

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BUILDER = ("sphinx", "myst_nb", "sphinx_book_theme", "sphinx-mathjax-offline")
PAGES = ("index.html", "lessons/02_kl_1d_gaussians.html", "lessons/06_vae_mnist.html")
RAW_MATH = re.compile(r"(?<![\w$\\])\$[^$\n]{1,200}\$(?![\w$])")


def _missing_builder() -> str | None:
    missing = [name for name in BUILDER if importlib.util.find_spec(name) is None]
    if missing:
        return (f"the site builder is not installed ({', '.join(missing)} missing): `make install-teach` "
                "(pip install -e '.[teach]') installs it")
    return None


MISSING = _missing_builder()
REQUIRED = os.environ.get("VAE_COURSE_TEACH") == "require"
needs_builder = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=MISSING or "")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if MISSING:
        pytest.fail(f"VAE_COURSE_TEACH=require but {MISSING}")
    out = tmp_path_factory.mktemp("site") / "html"
    messages: list[str] = []
    started = time.perf_counter()
    teaching_site.build_site(out, log=messages.append)
    elapsed = time.perf_counter() - started
    print(f"\nsite build: {elapsed:.1f} s")
    print("\n".join(messages))
    assert any("links left out" in m or "published at" in m for m in messages), messages
    return out


# ---------------------------------------------------------------------------------------------
# The build


@needs_builder
def test_every_lesson_and_page_is_built(site):
    for path in teaching.find_notebooks(NOTEBOOKS):
        assert (site / "lessons" / f"{path.stem}.html").is_file(), path.name
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "teaching.html" in home
    assert ("errata.html" in home) == (ROOT / "docs" / "ERRATA.md").is_file()
    assert not (site / "answers.html").exists() and "ANSWERS" not in home  # the answer key is the teacher's


def page_text_outside_code_and_math(html: str) -> str:
    """The text of a page with code, scripts, styles and typeset-to-be math taken out."""
    for pattern in (r"<script\b.*?</script>", r"<style\b.*?</style>", r"<pre\b.*?</pre>", r"<code\b.*?</code>",
                    r'<span class="math[^"]*">.*?</span>', r'<div class="math[^"]*">.*?</div>',
                    r'<div class="[^"]*\bcell_input\b.*?</div>\s*</div>'):
        html = re.sub(pattern, " ", html, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", " ", html)


@needs_builder
def test_every_lesson_page_has_figures_and_no_math_left_raw(site):
    for path in teaching.find_notebooks(NOTEBOOKS):
        html = (site / "lessons" / f"{path.stem}.html").read_text(encoding="utf-8")
        assert re.search(r'<img [^>]*src="[^"]*_images/', html), f"{path.name}: no figure on the page"
        raw = RAW_MATH.findall(page_text_outside_code_and_math(html))
        assert not raw, f"{path.name}: math the parser left as raw TeX: {raw[:5]}"
        assert "Loading widget" not in html and teaching_site.WIDGET_VIEW not in html


@needs_builder
def test_no_page_fetches_anything_from_another_host(site):
    assert teaching_site.external_assets(site) == []
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()


@needs_builder
def test_no_solution_is_on_any_page(site):
    for path in teaching.find_notebooks(NOTEBOOKS):
        page = (site / "lessons" / f"{path.stem}.html").read_text(encoding="utf-8")
        nb = nbformat.read(path, as_version=4)
        for exercise in teaching.find_exercises(nb, path.name):
            lines = nb.cells[exercise.solution].source.split("\n")
            for begin, end in teaching.solution_blocks(nb.cells[exercise.solution].source, path.name):
                for line in lines[begin + 1:end]:
                    words = re.findall(r"\w+", line)
                    # a solution line's words, in order, with only markup between them
                    if len(words) >= 4 and re.search(r"\W+(?:<[^>]*>\W*)*".join(map(re.escape, words)), page):
                        pytest.fail(f"{path.name} exercise {exercise.number}: the solution line {line.strip()!r} "
                                    "is on the page")
        assert "NotImplementedError" in page


# ---------------------------------------------------------------------------------------------
# In the browser


@pytest.fixture(scope="module")
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # no line per request in the test output
            pass

    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(site):
    reason = bs.missing_browser_reason()
    if reason:
        if os.environ.get(bs.REQUIRE_ENV) == "require":
            pytest.fail(f"{bs.REQUIRE_ENV}=require but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(bs.CHROMIUM), args=bs.CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, server: str, path: str):
    """The page, with every request to another host blocked and recorded, after MathJax has finished."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(server) or url.startswith("data:"):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.goto(f"{server}/{path}", wait_until="load")
    page.wait_for_function("() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)",
                           timeout=30_000)
    page.evaluate("() => window.MathJax ? window.MathJax.startup.promise : null")
    return page, blocked


ARTICLE_TEXT_JS = """() => {
  const article = document.querySelector('article') || document.body;
  const copy = article.cloneNode(true);
  copy.querySelectorAll('pre, code, .cell_input, script, style, mjx-container').forEach(n => n.remove());
  return copy.innerText;
}"""


@needs_builder
@pytest.mark.parametrize("path", PAGES)
def test_page_in_the_browser(browser, server, path):
    page, blocked = open_page(browser, server, path)
    try:
        shot = bs.screenshot(page, f"site_{Path(path).stem}")
        text = page.evaluate(ARTICLE_TEXT_JS)
        math = page.locator("mjx-container").count()
        images = page.evaluate("() => Array.from(document.querySelectorAll('article img'))"
                               ".map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
        body = page.locator("body").inner_text()
    finally:
        page.close()
    assert blocked == [], f"{path} asked another host for {blocked} (screenshot {shot})"
    raw = RAW_MATH.findall(text)
    assert not raw, f"{path}: math left as raw TeX: {raw[:5]} (screenshot {shot})"
    assert "Loading widget" not in body, f"{path}: a widget placeholder is on the page (screenshot {shot})"
    if path.startswith("lessons/"):
        assert math > 0, f"{path}: no typeset math (screenshot {shot})"
        broken = [src for src, ok in images if not ok]
        assert images and not broken, f"{path}: figures missing or not loaded: {broken or 'no <img>'} ({shot})"
    if "06_" in path:
        # a finished training shows as its one-line summary (the progress display ends as that line)
        assert re.search(r"trained \d+ epochs \([\d,]+ steps of \d+ images\) in [\d.]+ s", body), \
            f"{path}: the finished training is not shown as text ({shot})"
    if "02_" in path:
        assert "A saved frame of the widget at" in body, f"{path}: the widget's saved frame is missing ({shot})"


# ---------------------------------------------------------------------------------------------
# The pieces, on made-up input (no builder needed)


def _model(name: str, **state) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
            "state": state}


def test_a_live_plot_becomes_its_figure_controls_and_readout():
    png = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    state = {
        "box": _model("VBoxModel", children=["IPY_MODEL_grid", "IPY_MODEL_readout", "IPY_MODEL_out"]),
        "grid": _model("GridBoxModel", children=["IPY_MODEL_s", "IPY_MODEL_d"]),
        "s": _model("FloatSliderModel", description="σ₁", value=0.8),
        "d": _model("DropdownModel", description="model", index=1, _options_labels=["(a)", "(b)"]),
        "readout": _model("HTMLModel", value="KL = <b>0.17</b> nats"),
        "out": _model("OutputModel", outputs=[png]),
    }
    frame = teaching_site.static_frame("box", state)
    assert [o["output_type"] for o in frame] == ["display_data", "display_data"]
    caption = frame[0]["data"]["text/html"]
    assert "σ₁ = 0.8, model = (b)" in caption and "KL = <b>0.17</b> nats" in caption
    assert frame[1]["data"]["image/png"] == "iVBORw0KGgo="
    assert teaching_site.static_frame("missing", state) is None


def test_a_progress_bar_becomes_one_line_of_text():
    state = {
        "bar": _model("HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]),
        "l": _model("HTMLModel", value="training:\u2007100%"),
        "p": _model("FloatProgressModel", value=360.0, max=360.0),
        "r": _model("HTMLModel", value="\u2007360/360\u2007[00:01&lt;00:00]"),
    }
    frame = teaching_site.static_frame("bar", state)
    assert frame == [nbformat.v4.new_output("stream", name="stdout",
                                            text="training: 100%|██████████|360/360 [00:01<00:00]\n")]


def test_freezing_replaces_every_widget_view_and_drops_the_state():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show()")
    view = {"model_id": "gone", "version_major": 2, "version_minor": 0}
    cell.outputs = [nbformat.v4.new_output("display_data", data={teaching_site.WIDGET_VIEW: view,
                                                                 "text/plain": "HBox(children=...)"}),
                    nbformat.v4.new_output("stream", text="done\n")]
    nb.cells = [cell]
    nb.metadata["widgets"] = {teaching_site.WIDGET_STATE: {"state": {}}}
    assert teaching_site.freeze_widgets(nb) == 1
    assert [o.get("data", {}).get("text/html", o.get("text")) for o in nb.cells[0].outputs] == \
        [teaching_site.NO_SAVED_STATE, "done\n"]  # no saved state: a note, not a stale repr
    assert "widgets" not in nb.metadata


def test_external_assets_are_found_in_pages_and_stylesheets(tmp_path):
    (tmp_path / "a.html").write_text('<script src="_static/x.js"></script><script src="https://cdn.example/m.js">'
                                     '</script><link rel="stylesheet" href="//fonts.example/f.css">'
                                     '<a href="https://example.org">a link is fine</a><img src="https://x/y.png">')
    (tmp_path / "s.css").write_text('@import url("https://fonts.example/x.css"); .a { background: url(img/a.png) }')
    assert teaching_site.external_assets(tmp_path) == [
        "a.html: https://cdn.example/m.js", "a.html: //fonts.example/f.css", "s.css: https://fonts.example/x.css"]


def test_the_site_view_of_a_lesson_hides_solutions_and_adds_launch_links():
    nb = nbformat.v4.new_notebook()
    sources = ["# 03 · Demo", "import sys", "x = None\n### BEGIN SOLUTION\nx = 42\n### END SOLUTION", "check(x)"]
    nb.cells = [nbformat.v4.new_markdown_cell(sources[0])] + [nbformat.v4.new_code_cell(s) for s in sources[1:]]
    for cell in nb.cells[1:]:
        cell.outputs = [nbformat.v4.new_output("stream", text="shown\n")]
    teaching.sync_notebook(nb, "03_demo.ipynb")
    page = teaching_site.site_notebook(nb, "03_demo.ipynb", repo_url="https://github.com/ada/vae-course")
    assert [c.source for c in page.cells][0] == "# 03 · Demo"
    assert "Open in Colab" in page.cells[1].source and "mybinder.org/v2/gh/ada/vae-course/main" in page.cells[1].source
    assert not any(teaching.is_colab_cell(c) for c in page.cells)
    assert page.cells[3].source == 'x = None\nraise NotImplementedError("Exercise: compute x here")'
    assert page.cells[3].outputs == [] and page.cells[4].outputs == [] and page.cells[2].outputs
    plain = teaching_site.site_notebook(nb, "03_demo.ipynb")
    assert "Open in Colab" not in "".join(c.source for c in plain.cells)
