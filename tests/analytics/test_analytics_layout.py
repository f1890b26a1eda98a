"""The analytics stage's sources (without mail/, which has its own owner) stay in shape:
files of at most 600 lines, functions of at most 80, and every InfluxQL statement and
line-protocol point built through gwmon.storage (no measurement literals, no S608)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from gwmon.storage import MEASUREMENTS

SOURCES = sorted(
    path
    for path in (Path(__file__).resolve().parents[2] / "analytics" / "gwmon" / "analytics").rglob(
        "*.py"
    )
    if "mail" not in path.parts
)
NAMES = "|".join(m.name for m in MEASUREMENTS)
LINE_PROTOCOL = re.compile(rf"^({NAMES})(,\S+=| \S+=)")
INFLUXQL_FROM = re.compile(rf"\bFROM\s+\\?\"?({NAMES})\b", re.IGNORECASE)


def test_there_are_sources() -> None:
    assert len(SOURCES) > 10


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: path.name)
def test_size_and_storage_literals(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 600
    assert "noqa: S608" not in text
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            assert node.end_lineno - node.lineno + 1 <= 80, f"{node.name} is too long"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not LINE_PROTOCOL.match(node.value), node.value
            assert not INFLUXQL_FROM.search(node.value), node.value
