"""The generated dashboards type-check against Grafana's own published schema
(@grafana/schema, the version of the Grafana they target) with the TypeScript compiler;
the check rejects what Grafana's schema rejects."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from dashboards.grafana_schema_check import (
    SCHEMA_DIR,
    TscResult,
    installed_version,
    type_check,
)
from gwmon.dashboards import DashboardsSettings, build_dashboards
from gwmon.ingest import Registry

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(registry: Registry) -> dict[str, dict[str, Any]]:
    return {
        f"{name.removesuffix('.json')}-{language}": dashboard
        for language in ("de", "en")
        for name, dashboard in build_dashboards(
            DashboardsSettings(language=language), registry
        ).items()
    }


def errors_in(result: TscResult, name: str) -> list[str]:
    """tsc's error lines for the file of dashboard `name`."""
    file_name = re.escape(result.files[name].name)
    return [
        line
        for line in result.output.splitlines()
        if re.search(rf"(^|/){file_name}\(\d+,\d+\): error TS\d+", line)
    ]


def test_schema_version_is_pinned_to_the_grafana_the_dashboards_target() -> None:
    pins = json.loads((SCHEMA_DIR / "package.json").read_text(encoding="utf-8"))
    schema_pin = pins["devDependencies"]["@grafana/schema"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    sdk = next(
        dep for dep in project["project"]["dependencies"] if dep.startswith("grafana-foundation")
    )
    sdk_grafana = sdk.rsplit("!", 1)[1]  # grafana-foundation-sdk==<build>!<grafana version>
    assert schema_pin == sdk_grafana == "11.6.0"
    assert installed_version("@grafana/schema") == schema_pin
    assert installed_version("typescript") == pins["devDependencies"]["typescript"]


def test_generated_dashboards_match_grafanas_schema(
    built: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    result = type_check(built, tmp_path)
    assert (result.returncode, result.output) == (0, "")
    assert sorted(result.files) == [
        "gwmon-overview-de", "gwmon-overview-en", "gwmon-probe-de", "gwmon-probe-en",
        "gwmon-quality-de", "gwmon-quality-en",
    ]  # fmt: skip


def _panel(dashboard: dict[str, Any], panel_type: str) -> dict[str, Any]:
    panel: dict[str, Any] = next(p for p in dashboard["panels"] if p["type"] == panel_type)
    return panel


def _broken(built: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One deliberate mistake per dashboard, each of a kind the schema must catch."""
    overview = built["gwmon-overview-de"]
    probe = built["gwmon-probe-de"]
    broken = {name: copy.deepcopy(source) for name, source in (
        ("enum", overview), ("option", overview), ("target", overview), ("custom", probe),
        ("variable", probe), ("type", probe), ("plugin", probe),
    )}  # fmt: skip
    _panel(broken["enum"], "bargauge")["fieldConfig"]["defaults"]["color"]["mode"] = "tresholds"
    _panel(broken["option"], "bargauge")["options"]["displayMod"] = "basic"
    target = _panel(broken["target"], "table")["targets"][0]
    target["resultFromat"] = target.pop("resultFormat")
    _panel(broken["custom"], "timeseries")["fieldConfig"]["defaults"]["custom"]["lineWidht"] = 2
    broken["variable"]["templating"]["list"][0]["auto"] = False  # an interval-only field
    _panel(broken["type"], "stat")["gridPos"]["h"] = "5"
    _panel(broken["plugin"], "stat")["type"] = "singlestat"  # removed in Grafana 8
    return broken


def test_the_check_rejects_what_grafanas_schema_rejects(
    built: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    result = type_check(_broken(built), tmp_path)
    assert result.returncode != 0
    expected = {
        "enum": "Type '\"tresholds\"' is not assignable to type",
        "option": "and '\"displayMod\"' does not exist in type",
        "target": "and '\"resultFromat\"' does not exist in type",
        "custom": "and '\"lineWidht\"' does not exist in type",
        "variable": "and '\"auto\"' does not exist in type",
        "type": "Type 'string' is not assignable to type 'number'.",
        "plugin": "Type '\"singlestat\"' does not satisfy the constraint",
    }
    for name, message in expected.items():
        errors = errors_in(result, name)
        assert errors, f"tsc found no error in {name}.ts:\n{result.output}"
        assert any(message in line for line in errors), (name, errors)
