"""vae_course.progress: a bar while work goes on, and a one-line summary in its place when it is done."""

import pytest

from vae_course import progress
from vae_course.progress import Progress, bar_text


def test_bar_text_shows_the_share_done_and_the_info():
    line = bar_text("training", 36, 144, 2.04, "loss 120.50 nats")
    assert line.startswith("training ") and " 25% 36/144 · 2.0 s · loss 120.50 nats" in line
    assert line.count("█") == 6 and line.count("░") == 18  # a quarter of the 24 cells
    assert bar_text("x", 0, 0, 0.0).count("█") == progress.BAR_WIDTH  # nothing to do is done


class Handle:
    def __init__(self, shown):
        self.shown = shown

    def update(self, data, raw):
        self.shown.append(data["text/plain"])


def test_in_a_notebook_one_output_is_updated_and_ends_as_the_summary(monkeypatch):
    shown = []

    def display(data, raw, display_id):
        assert raw and display_id is True
        shown.append(data["text/plain"])
        return Handle(shown)

    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", display)
    bar = Progress(100, "training")
    bar.update(50, "loss 3.00 nats")
    bar.finish("trained 2 epochs")
    assert shown[0].startswith("training ░") and " 50% 50/100" in shown[1] and "loss 3.00" in shown[1]
    assert shown[-1] == "trained 2 epochs"  # what a saved notebook keeps


def test_in_a_terminal_a_tqdm_bar_then_the_summary(capsys):
    bar = Progress(10, "training")
    bar.update(4, "loss 1.00")
    bar.finish("trained 1 epoch")
    err = capsys.readouterr().err
    assert "training" in err and "10/10" in err and err.rstrip().endswith("trained 1 epoch")


def test_disabled_shows_nothing(capsys):
    bar = Progress(10, "training", enabled=False)
    bar.update(5)
    bar.finish("done")
    assert capsys.readouterr() == ("", "") and bar.seconds >= 0


@pytest.mark.parametrize("shell, expected", [(None, False), (object(), False)])
def test_in_notebook_needs_a_kernel(monkeypatch, shell, expected):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    assert progress.in_notebook() is expected
