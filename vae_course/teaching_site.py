"""Build the course website: the executed lessons as a student sees them, a home page, the errata, the
teacher's guide and the terms, as static HTML that works offline.

    make site                                          # the same as the next line, in .venv
    python -m vae_course.teaching_site build/site      # writes build/site/index.html

Sphinx with myst-nb and sphinx-book-theme renders the pages (docs/TEACHING.md says why). The lessons are
not executed again: their saved outputs are shown, after four changes made on copies in a staging folder
(the notebooks in notebooks/ are only read):

- the student edition's text: each solution block becomes its stub, and the outputs of the solution and
  check cells are dropped, so the site gives no answer away;
- every widget becomes a static frame drawn from its saved state: the figure and readout a live_plot
  showed, the values of its controls in a caption, and a progress bar as one line of text
  (a widget saved without its state becomes a short note);
- the Colab install cell is dropped, and Colab and Binder links are put under the title when
  `git remote get-url origin` names a GitHub repository (otherwise the build says the links were left out);
- the notebook's saved widget state is removed, so that no widget manager (and no CDN) is needed.

MathJax is served from the site itself (the PyPI package sphinx-mathjax-offline ships it). After the build,
every page is scanned for a script, stylesheet or font that would be fetched from another host, and the
build fails on one (`external_assets`).
"""

from __future__ import annotations

import argparse
import copy
import html
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import nbformat

from . import teaching

REPOSITORY_ROOT = teaching.REPOSITORY_ROOT
SITE_SOURCES = REPOSITORY_ROOT / "site"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
CONTROL_MODELS = ("Slider", "Dropdown", "Toggle", "Checkbox", "RadioButtons", "Select", "Text", "Play", "Picker")
PROGRESS_MODELS = ("FloatProgressModel", "IntProgressModel")
NO_SAVED_STATE = '<p class="vae-static-controls"><em>An interactive widget: run the lesson to see it.</em></p>'
# the pages of docs/ the site shows: (file, page name, required); ANSWERS.md is the teacher's alone, never here
DOCS_PAGES = (("TEACHING.md", "teaching", True), ("ERRATA.md", "errata", False), ("BENCHMARKS.md", "benchmarks", False))
TERMS_PAGES = (("DATA-LICENSES.md", "data-licenses"),)


# ----------------------------------------------------------------------------------------------
# Widgets as static frames


def _text_of_html(value: str) -> str:
    """Visible text of a small piece of HTML (tqdm's labels, a readout)."""
    return html.unescape(re.sub(r"<[^>]+>", "", value)).replace("\u2007", " ").strip()


def _model(state: dict, ref: str) -> dict | None:
    entry = state.get(ref.removeprefix("IPY_MODEL_"))
    return entry if isinstance(entry, dict) else None


def _control_value(model: dict) -> str | None:
    """'description = value' for a control, None for anything else."""
    name, values = model.get("model_name", ""), model.get("state", {})
    if not any(kind in name for kind in CONTROL_MODELS):
        return None
    value = values.get("value")
    if "_options_labels" in values and values.get("index") is not None:
        labels = values["_options_labels"]
        index = values["index"]
        value = labels[index] if isinstance(index, int) and 0 <= index < len(labels) else value
    if isinstance(value, float):
        value = f"{value:g}"
    description = values.get("description") or name.removesuffix("Model")
    return f"{description} = {value}"


@dataclass
class _Frame:
    controls: list[str]
    html: list[str]
    outputs: list[dict]
    progress: list[str]


def _walk(state: dict, ref: str, frame: _Frame, seen: set[str]) -> None:
    if ref in seen:
        return
    seen.add(ref)
    model = _model(state, ref)
    if model is None:
        return
    name, values = model.get("model_name", ""), model.get("state", {})
    children = values.get("children") or []
    if name == "HBoxModel" and any((_model(state, c) or {}).get("model_name") in PROGRESS_MODELS for c in children):
        frame.progress.append(_progress_line(state, children))
        return
    if name == "OutputModel":
        frame.outputs.extend(copy.deepcopy(values.get("outputs", [])))
        return
    control = _control_value(model)
    if control is not None:
        frame.controls.append(control)
        return
    if name in ("HTMLModel", "HTMLMathModel", "LabelModel") and str(values.get("value", "")).strip():
        frame.html.append(values["value"] if name != "LabelModel" else html.escape(values["value"]))
    for child in children:
        _walk(state, child, frame, seen)


def _progress_line(state: dict, children: list[str]) -> str:
    """tqdm's widget (label, bar, numbers) as the line tqdm prints in a terminal."""
    parts = []
    for child in children:
        model = _model(state, child) or {}
        values = model.get("state", {})
        if model.get("model_name") in PROGRESS_MODELS:
            done, total = values.get("value") or 0, values.get("max") or 0
            filled = int(round(10 * done / total)) if total else 0
            parts.append("|" + "█" * filled + " " * (10 - filled) + "|")
        else:
            parts.append(_text_of_html(str(values.get("value", ""))))
    return "".join(part for part in parts if part).strip()


def static_frame(model_id: str, state: dict) -> list[dict] | None:
    """The outputs that show a saved widget as a static frame, or None if its state was not saved.

    A live_plot gives its figure (the Output widget's saved outputs) under an HTML caption with the values
    of its controls and the readout; a tqdm bar gives one line of text.
    """
    if _model(state, model_id) is None:
        return None
    frame = _Frame([], [], [], [])
    _walk(state, model_id, frame, set())
    outputs: list[dict] = []
    if frame.progress:
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text="\n".join(frame.progress) + "\n"))
    if frame.controls or frame.html:
        caption = ""
        if frame.controls:
            caption += ('<p class="vae-static-controls"><em>A saved frame of the widget at '
                        + html.escape(", ".join(frame.controls))
                        + ". Run the lesson to move its controls.</em></p>")
        caption += "".join(f'<div class="vae-static-readout">{piece}</div>' for piece in frame.html)
        outputs.append(nbformat.v4.new_output("display_data", data={"text/html": caption}))
    outputs.extend(nbformat.from_dict(o) for o in frame.outputs)
    return outputs


def freeze_widgets(nb: nbformat.NotebookNode) -> int:
    """Replace every widget view in the outputs by its static frame (or its text); return how many.

    The notebook's saved widget state is removed afterwards: nothing on the page needs a widget manager.
    """
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    frozen = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(output)
                continue
            frozen += 1
            frame = static_frame(view.get("model_id", ""), state)
            if frame is None:  # no saved state: its text/plain is a repr or a 0% bar, stale either way
                frame = [nbformat.v4.new_output("display_data", data={"text/html": NO_SAVED_STATE})]
            outputs.extend(frame)
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)
    return frozen


# ----------------------------------------------------------------------------------------------
# A lesson as the site shows it


def _first_heading(text: str, fallback: str) -> str:
    match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else fallback


def lesson_summary(nb: nbformat.NotebookNode, limit: int = 200) -> str:
    """The first sentence of the lesson's introduction (the paragraph under its title), for the home page."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        paragraphs = [p.strip() for p in cell.source.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
        if paragraphs:
            text = " ".join(paragraphs[0].split())
            sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z*(])", text)[0]
            if len(sentence) <= limit:
                return sentence
            cut = sentence[: limit - 1].rsplit(" ", 1)[0]
            if cut.count("$") % 2:  # never stop inside a formula: that would leave a raw `$` on the page
                cut = cut[: cut.rindex("$")].rstrip()
            return cut + " …"
    return ""


def lesson_title(nb: nbformat.NotebookNode, name: str) -> str:
    """'02 · KL between 1-D Gaussians' from the first heading of the lesson."""
    text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    return _first_heading(text, Path(name).stem)


def launch_links(name: str, repo_url: str, branch: str = teaching.BRANCH) -> str:
    """The Colab and Binder links of a lesson, as buttons drawn by the site's own CSS (no remote image)."""
    return ('<p class="vae-launch">'
            f'<a class="vae-button" href="{html.escape(teaching.colab_url(name, repo_url, branch))}">Open in Colab</a> '
            f'<a class="vae-button" href="{html.escape(teaching.binder_url(name, repo_url, branch))}">Launch on Binder</a>'
            "</p>")


def site_notebook(nb: nbformat.NotebookNode, name: str, *, repo_url: str | None = None,
                  branch: str = teaching.BRANCH) -> nbformat.NotebookNode:
    """The page of one lesson: the student edition's text, frozen widgets, launch links (a new object)."""
    page = copy.deepcopy(nb)
    exercises = teaching.find_exercises(page, name)
    hidden_outputs = {e.solution for e in exercises} | {e.check for e in exercises if e.check is not None}
    for index, cell in enumerate(page.cells):
        if teaching.has_solution(cell):
            cell.source = teaching.strip_solutions(cell.source, f"{name}, cell {index}",
                                                   markdown=cell.cell_type == "markdown")
        if index in hidden_outputs:
            cell.outputs = []
            cell.execution_count = None
    page.cells = [cell for cell in page.cells if not teaching.is_colab_cell(cell)]
    freeze_widgets(page)
    if repo_url is not None:
        links = nbformat.v4.new_markdown_cell(launch_links(name, repo_url, branch))
        links["id"] = "site-launch-links"
        first_heading = next((i for i, c in enumerate(page.cells) if c.cell_type == "markdown"), -1)
        page.cells.insert(first_heading + 1, links)
    page.metadata.get("vae_course", {}).pop("edition", None)
    nbformat.validate(page)
    return page


# ----------------------------------------------------------------------------------------------
# No asset from another host


class _AssetFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.assets.append(values["src"])
        elif tag == "link" and values.get("href"):
            rel = (values.get("rel") or "").lower()
            if any(kind in rel for kind in ("stylesheet", "preload", "modulepreload", "icon", "manifest")):
                self.assets.append(values["href"])
        elif tag in ("iframe", "embed") and values.get("src"):
            self.assets.append(values["src"])


REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
CSS_REMOTE = re.compile(r"""(?:@import\s+|url\(\s*)['"]?((?:https?:)?//[^'")\s]+)""", re.IGNORECASE)


def external_assets(site_dir: str | Path) -> list[str]:
    """'page: url' for every script, stylesheet, icon or frame of a page, and every @import or url() of a
    stylesheet, that would be fetched from another host (http://, https:// or //)."""
    site_dir = Path(site_dir)
    found = []
    for page in sorted(site_dir.rglob("*.html")):
        finder = _AssetFinder()
        finder.feed(page.read_text(encoding="utf-8", errors="replace"))
        found += [f"{page.relative_to(site_dir)}: {url}" for url in finder.assets if REMOTE.match(url)]
    for sheet in sorted(site_dir.rglob("*.css")):
        text = sheet.read_text(encoding="utf-8", errors="replace")
        found += [f"{sheet.relative_to(site_dir)}: {url}" for url in CSS_REMOTE.findall(text)]
    return found


# ----------------------------------------------------------------------------------------------
# The whole site


def _home_page(template: str, lessons: list[tuple[str, str, str]], extra_pages: list[tuple[str, str]],
               repo_note: str) -> str:
    rows = "\n".join(f"| [{title}](lessons/{stem}.ipynb) | {summary.replace('|', '/')} |"
                     for stem, title, summary in lessons)
    toctree = "\n".join(f"lessons/{stem}" for stem, _, _ in lessons)
    more = "\n".join(page for page, _ in extra_pages)
    links = "\n".join(f"- [{title}]({page}.md)" for page, title in extra_pages)
    return (template.replace("{{ lessons }}", "| lesson | what it is about |\n|---|---|\n" + rows)
            .replace("{{ pages }}", links).replace("{{ launch }}", repo_note)
            + "\n\n```{toctree}\n:hidden:\n:maxdepth: 1\n:caption: Lessons\n\n" + toctree + "\n```\n"
            + "\n```{toctree}\n:hidden:\n:maxdepth: 1\n:caption: For teachers and readers\n\n" + more + "\n```\n")


def _doc_page(text: str, pages: dict[str, str]) -> str:
    """A page of docs/ for the site: links to the lessons point at the site's lessons, links to the other
    pages it shows (`pages`: file name -> page name) at those pages, and any other link to a file of the
    repository becomes plain text (the site has no page for it)."""
    text = re.sub(r"\]\((?:\.\./)?notebooks/([0-9][0-9]_\w+)\.ipynb\)", r"](lessons/\1.ipynb)", text)

    def relink(match: re.Match) -> str:
        label, target = match.group(1), match.group(2)
        if re.match(r"^(https?://|mailto:|#|lessons/)", target):
            return match.group(0)
        file, _, anchor = target.partition("#")
        page = pages.get(Path(file).name)
        if page is not None:
            return f"[{label}]({page}.md{'#' + anchor if anchor else ''})"
        return f"{label} (`{target}`)"

    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", relink, text)


def stage(stage_dir: Path, *, notebooks_dir: Path, docs_dir: Path, site_sources: Path, repo_url: str | None,
          branch: str, log=print) -> list[str]:
    """Write the site's sources into `stage_dir` (emptied first); return the lessons' stems."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    shutil.copytree(site_sources, stage_dir, ignore=shutil.ignore_patterns("home.md", "__pycache__"))
    (stage_dir / "lessons").mkdir()
    lessons = []
    for path in teaching.find_notebooks(notebooks_dir):
        nb = teaching.read_notebook(path)
        page = site_notebook(nb, path.name, repo_url=repo_url, branch=branch)
        nbformat.write(page, stage_dir / "lessons" / path.name)
        lessons.append((path.stem, lesson_title(nb, path.name), lesson_summary(nb)))
    if not lessons:
        raise ValueError(f"notebooks_dir must hold lessons named NN_name.ipynb, found none in {notebooks_dir}")
    shown = [(docs_dir / file, page) for file, page, required in DOCS_PAGES if (docs_dir / file).is_file()]
    for file, page, required in DOCS_PAGES:
        if required and not (docs_dir / file).is_file():
            raise ValueError(f"docs_dir must hold {file}, not found in {docs_dir}")
        if not (docs_dir / file).is_file():
            log(f"site: {docs_dir / file} not found: its page is left out")
    shown += [(REPOSITORY_ROOT / file, page) for file, page in TERMS_PAGES if (REPOSITORY_ROOT / file).is_file()]
    pages = {source.name: page for source, page in shown}
    extra = []
    for source, page in shown:
        text = source.read_text(encoding="utf-8")
        (stage_dir / f"{page}.md").write_text(_doc_page(text, pages), encoding="utf-8")
        extra.append((page, _first_heading(text, source.name)))
    note = ("Each lesson has buttons to open it in Google Colab or on Binder; or install the course and run "
            "`make lab`." if repo_url else "Install the course and run `make lab` to work through the lessons.")
    template = (site_sources / "home.md").read_text(encoding="utf-8")
    (stage_dir / "index.md").write_text(_home_page(template, lessons, extra, note), encoding="utf-8")
    return [stem for stem, _, _ in lessons]


def build_site(out_dir: str | Path, *, notebooks_dir: str | Path | None = None, docs_dir: str | Path | None = None,
               site_sources: str | Path | None = None, repo_url: str | None = None, branch: str = teaching.BRANCH,
               use_git: bool = True, log=print) -> Path:
    """Build the site into `out_dir` (its staging folder is `out_dir` + '-src'); return the home page.

    repo_url: the GitHub repository for the launch links; None asks `git remote get-url origin` (unless
    use_git=False) and leaves the links out, saying so, when there is no GitHub remote. A RuntimeError
    when Sphinx fails or a page would fetch an asset from another host.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    stage_dir = out_dir.with_name(out_dir.name + "-src")
    if repo_url is None and use_git:
        repo_url, message = teaching.repository_from_git()
        log(f"site: {message}" + ("" if repo_url else "; Colab and Binder links left out"))
    elif repo_url is None:
        log("site: no repository given; Colab and Binder links left out")
    stems = stage(stage_dir, notebooks_dir=Path(notebooks_dir or REPOSITORY_ROOT / "notebooks"),
                  docs_dir=Path(docs_dir or REPOSITORY_ROOT / "docs"),
                  site_sources=Path(site_sources or SITE_SOURCES), repo_url=repo_url, branch=branch, log=log)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", str(stage_dir), str(out_dir)]
    done = subprocess.run(command, capture_output=True, text=True)
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    for line in warnings:
        log(f"site: {line}")
    if done.returncode != 0:
        raise RuntimeError(f"sphinx-build failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    remote = external_assets(out_dir)
    if remote:
        raise RuntimeError("the site would fetch these from another host, so it would not work offline:\n  "
                           + "\n  ".join(remote))
    log(f"site: {len(stems)} lessons built into {out_dir} in {time.perf_counter() - started:.0f} s, "
        f"{len(warnings)} warnings, no asset from another host")
    return out_dir / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_course.teaching_site", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?", default=str(REPOSITORY_ROOT / "build" / "site"))
    parser.add_argument("--repo-url", default=None, help="the GitHub repository for the Colab and Binder links "
                        "(default: git remote 'origin')")
    parser.add_argument("--branch", default=teaching.BRANCH)
    args = parser.parse_args(argv)
    try:
        home = build_site(args.out_dir, repo_url=args.repo_url, branch=args.branch)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"open {home}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
