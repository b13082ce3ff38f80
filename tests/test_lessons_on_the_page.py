"""What a learner reads on the page (GitHub, the course site) before running anything.

The lessons are committed executed, so their saved outputs are part of the product: they must come from one
run of a fresh kernel, top to bottom, with no error, no warning, no path of the machine that ran them, and
stay small enough for GitHub to render (it gives up on large notebooks) and for a learner to download.
"""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
MAX_BYTES = 1_000_000  # CONTRIBUTING.md: every lesson under 1 MB
# where a path of the machine that ran the lesson would show: home folders, temporary folders, a work tree
MACHINE_PATH = re.compile(r"(/home/|/root/|/Users/|/tmp/|/work/|/private/var/|[A-Z]:\\)")


def code_cells(path: Path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def output_text(output) -> str:
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return "\n".join(output.traceback)
    return str(output.get("data", {}).get("text/plain", ""))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_is_small_enough_to_render(path):
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{path.name} is {size:,} bytes, over {MAX_BYTES:,}: shrink its figures or widget state"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_was_executed_once_top_to_bottom(path):
    counts = [c.execution_count for c in code_cells(path) if c.source.strip()]
    assert counts == list(range(1, len(counts) + 1)), \
        f"{path.name}: execution counts {counts}: execute it from a fresh kernel, top to bottom, and commit that"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_outputs_show_no_error_warning_or_machine_path(path):
    problems = []
    for i, cell in enumerate(code_cells(path)):
        for output in cell.get("outputs", []):
            text = output_text(output)
            if output.output_type == "error":
                problems.append(f"code cell {i}: an error ({output.ename})")
            elif output.output_type == "stream" and output.name == "stderr" and re.search(r"Warning|Error", text):
                problems.append(f"code cell {i}: {text.strip().splitlines()[0][:120]}")
            if MACHINE_PATH.search(text):
                problems.append(f"code cell {i}: a path of the machine that ran it: {MACHINE_PATH.search(text)[0]}")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def test_a_machine_path_is_recognised():
    """The pattern above must catch what it is for (a test that cannot fail is a defect)."""
    assert MACHINE_PATH.search("saved to /home/ana/vae-course/notebooks/checkpoints/06.pt")
    assert MACHINE_PATH.search(r"C:\Users\ana\checkpoints")
    assert not MACHINE_PATH.search("Loaded the trained model from checkpoints/07_vae_latent2.pt")
