"""The fault tests print their figures (readings sent, stored, lost, duplicated); the
summary at the end of the run repeats them (docs/reliability.md quotes them)."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [
        line
        for report in terminalreporter.stats.get("passed", [])
        + terminalreporter.stats.get("failed", [])
        for section, text in getattr(report, "sections", [])
        if "stdout" in section
        for line in text.splitlines()
        if line.startswith("FAULT FIGURE ")
    ]
    if lines:
        terminalreporter.section("fault figures")
        for line in lines:
            terminalreporter.write_line(line.removeprefix("FAULT FIGURE "))
