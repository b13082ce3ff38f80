"""Shared pytest set-up. The browser tests add one line to the summary when they could not run."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter) -> None:
    """Say plainly, at the end of the run, that the browser tests were skipped and why."""
    reasons = set()
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        if "test_browser" in report.nodeid and ("chromium" in reason.lower() or "playwright" in reason):
            reasons.add(reason.removeprefix("Skipped: "))
    for reason in sorted(reasons):
        terminalreporter.write_sep("!", f"BROWSER TESTS SKIPPED: {reason}", yellow=True, bold=True)
