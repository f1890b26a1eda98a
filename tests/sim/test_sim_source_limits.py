"""firmware-sim stays readable and independent: no source file over 600 lines, no function
over 80 lines (from `def` to its last line), and `gwmon_sim` never imports `gwmon`."""

from __future__ import annotations

import ast
from pathlib import Path

SIM_SOURCES = sorted((Path(__file__).resolve().parents[2] / "firmware-sim").rglob("*.py"))
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80


def test_the_sources_are_found() -> None:
    names = {path.name for path in SIM_SOURCES}
    assert {"__init__.py", "_fleet.py", "_link.py", "_outbox.py", "cli.py"} <= names


def test_no_file_over_600_lines() -> None:
    long = {
        p.name: n for p in SIM_SOURCES if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert long == {}


def test_no_function_over_80_lines() -> None:
    long: dict[str, int] = {}
    for path in SIM_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.name}:{node.lineno} {node.name}"] = length
    assert long == {}


def test_gwmon_sim_never_imports_gwmon() -> None:
    offenders: list[str] = []
    for path in SIM_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            offenders += [
                f"{path.name}:{node.lineno} {m}" for m in modules if m.split(".")[0] == "gwmon"
            ]
    assert offenders == []
