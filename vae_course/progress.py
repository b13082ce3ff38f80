"""A progress line for long work that also reads well in a saved notebook.

In Jupyter the line is one display output updated in place (no widget), and when the work is done it is
replaced by a one-line summary of the result: a notebook saved after training shows "trained 40 epochs
...", not a bar frozen at 0 %. In a terminal it is a tqdm bar on stderr. Updates are cheap: the caller
decides how often to call `update` (fit does it when it reads its running numbers back anyway).
"""

from __future__ import annotations

import sys
import time

from tqdm.std import tqdm

BAR_WIDTH = 24


def in_notebook() -> bool:
    """True inside a Jupyter kernel (an IPython shell with a kernel attached)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return bool(shell) and getattr(shell, "kernel", None) is not None


def bar_text(desc: str, done: int, total: int, seconds: float, info: str = "") -> str:
    """'desc ██████░░░░ 60% 864/1440 · 3.1 s · info', the line shown while work goes on."""
    share = done / total if total else 1.0
    filled = round(BAR_WIDTH * share)
    bar = "█" * filled + "░" * (BAR_WIDTH - filled)
    return f"{desc} {bar} {share:4.0%} {done:,}/{total:,} · {seconds:.1f} s" + (f" · {info}" if info else "")


class Progress:
    """`Progress(total, desc)`, then `update(done, info)` as work goes on and `finish(summary)` at the end.

    enabled=False shows nothing. A Progress that is left without `finish` (an error) keeps its last line.
    """

    def __init__(self, total: int, desc: str, *, unit: str = "step", enabled: bool = True):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.start = time.perf_counter()
        self._handle = self._bar = None
        if not enabled:
            return
        if in_notebook():
            from IPython.display import display

            self._handle = display({"text/plain": bar_text(desc, 0, total, 0.0)}, raw=True, display_id=True)
        else:
            self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def update(self, done: int, info: str = "") -> None:
        """Show that `done` of `total` units are finished, with a short `info` text (e.g. the running loss)."""
        if self._handle is not None:
            self._handle.update({"text/plain": bar_text(self.desc, done, self.total, self.seconds, info)}, raw=True)
        elif self._bar is not None:
            self._bar.update(done - self._bar.n)
            self._bar.set_postfix_str(info, refresh=True)

    def finish(self, summary: str) -> None:
        """Replace the line by `summary` (what was done and its result), the line a saved notebook keeps."""
        if self._handle is not None:
            self._handle.update({"text/plain": summary}, raw=True)
        elif self._bar is not None:
            self._bar.update(self.total - self._bar.n)
            self._bar.close()
            print(summary, file=sys.stderr)
