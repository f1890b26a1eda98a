"""The fuzz suite's count: cases per parser and outcomes by reason, after the run; a run
of the whole generated suite with fewer than tally.MINIMUM_CASES cases fails."""

from __future__ import annotations

import pytest

from fuzz import tally

GENERATED_MODULES = (
    "test_fuzz_parsers.py",
    "test_fuzz_mutations.py",
    "test_fuzz_import.py",
    "test_fuzz_injection.py",
)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not tally.CASES:
        return
    terminalreporter.section("fuzz cases")
    for parser, cases in sorted(tally.CASES.items()):
        outcomes = ", ".join(
            f"{outcome}={count}"
            for (name, outcome), count in sorted(tally.OUTCOMES.items())
            if name == parser
        )
        terminalreporter.write_line(f"{parser}: {cases} cases; {outcomes}")
    terminalreporter.write_line(
        f"total: {tally.total()} generated cases (at least {tally.MINIMUM_CASES} required)"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    ran = {
        item.path.name
        for item in session.items
        if item.path.name in GENERATED_MODULES and item.parent is not None
    }
    deselected = (
        session.config.getoption("keyword")
        or session.config.getoption("markexpr")
        or session.config.getoption("collectonly")
    )
    if ran == set(GENERATED_MODULES) and not deselected and tally.total() < tally.MINIMUM_CASES:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        terminal = session.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write_line(
                f"fuzz suite ran only {tally.total()} generated cases; "
                f"it must run at least {tally.MINIMUM_CASES}",
                red=True,
            )
