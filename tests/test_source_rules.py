"""Rules of the source tree that keep the architecture (docs/architecture.md) as it is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES = ("ingest", "analytics", "dashboards", "firmware-sim")
CONTRACT = REPO_ROOT / "ingest" / "gwmon" / "storage"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80

# InfluxQL naming a measurement, or a line of line protocol starting with one.
_MEASUREMENTS = r"(reading|sequence|rejected|probe_status|ingest_stats|qc|alert|trend)"
_INFLUXQL_FROM = re.compile(r"""\bFROM\s+\\?["']?""" + _MEASUREMENTS + r"\b", re.IGNORECASE)
_LINE_PROTOCOL = re.compile(r"""["']""" + _MEASUREMENTS + r"""(,[a-z_]+=|\s[a-z_]+=)""")


def source_files() -> list[Path]:
    return sorted(
        path
        for stage in STAGES
        for path in (REPO_ROOT / stage).rglob("*.py")
        if "__pycache__" not in path.parts
    )


def test_the_rules_see_the_whole_tree() -> None:
    assert len(source_files()) > 50


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_file_over_600_lines_and_no_function_over_80(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_FILE_LINES, f"{path}: {text.count(chr(10))} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path}: {long}"


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_influxql_and_line_protocol_only_through_the_storage_contract(path: Path) -> None:
    if path.is_relative_to(CONTRACT):
        return
    text = path.read_text(encoding="utf-8")
    found = [
        match.group(0)
        for pattern in (_INFLUXQL_FROM, _LINE_PROTOCOL)
        for match in pattern.finditer(text)
    ]
    assert not found, f"{path}: build statements and points with gwmon.storage: {found}"
    assert "noqa: S608" not in text, f"{path}: S608 suppressed"


def test_the_literal_check_can_fail() -> None:
    assert _INFLUXQL_FROM.search('q = \'SELECT "value" FROM "reading" WHERE x\'')
    assert _INFLUXQL_FROM.search("SELECT * FROM alert")
    assert _LINE_PROTOCOL.search('line = "reading,probe=LE-01 value=1 1"')
    assert not _INFLUXQL_FROM.search("readings from the registry")
