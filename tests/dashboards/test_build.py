"""The dashboards as built: structure, checked-in JSON not stale, provisioning files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gwmon.dashboards import (
    DEFAULT_PROVIDER_PATH,
    DashboardsSettings,
    build_dashboards,
    build_files,
    iter_queries,
    validate_dashboard,
)
from gwmon.ingest import Registry
from gwmon.storage import InfluxSettings

REPO = Path(__file__).resolve().parents[2]
CHECKED_IN = REPO / "dashboards"
REGENERATE = (
    "gwmon dashboards build --out dashboards --provider-path "
    "/var/lib/grafana/dashboards/gwmon --registry examples/registry-wertvoll.csv (no config)"
)


@pytest.fixture(scope="module")
def built(registry: Registry) -> dict[str, dict[str, Any]]:
    return build_dashboards(DashboardsSettings(), registry)


def test_checked_in_files_are_not_stale(registry: Registry) -> None:
    files = build_files(
        DashboardsSettings(), registry, InfluxSettings(), provider_path=DEFAULT_PROVIDER_PATH
    )
    assert sorted(files) == [
        "json/gwmon-overview.json",
        "json/gwmon-probe.json",
        "json/gwmon-quality.json",
        "provisioning/dashboards/gwmon.yaml",
        "provisioning/datasources/gwmon.yaml",
    ]
    stale = [
        relative
        for relative, text in files.items()
        if (CHECKED_IN / relative).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"stale checked-in files {stale}; regenerate with: {REGENERATE}"
    # Nothing else lies in the checked-in json folder.
    assert sorted(p.name for p in (CHECKED_IN / "json").iterdir()) == [
        "gwmon-overview.json",
        "gwmon-probe.json",
        "gwmon-quality.json",
    ]


def test_json_is_deterministic_and_sorted(registry: Registry) -> None:
    first = build_files(DashboardsSettings(), registry, InfluxSettings())
    second = build_files(DashboardsSettings(), registry, InfluxSettings())
    assert first == second
    text = first["json/gwmon-probe.json"]
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_structure_is_valid(built: dict[str, dict[str, Any]]) -> None:
    for dashboard in built.values():
        assert validate_dashboard(dashboard, DashboardsSettings()) == []
    assert {d["uid"] for d in built.values()} == {"gwmon-overview", "gwmon-probe", "gwmon-quality"}
    assert [p["type"] for p in built["gwmon-overview.json"]["panels"]] == [
        "geomap", "bargauge", "table", "table", "bargauge",
    ]  # fmt: skip
    assert [v["name"] for v in built["gwmon-probe.json"]["templating"]["list"]] == [
        "municipality", "site", "probe",
    ]  # fmt: skip


def test_validation_catches_overlap_bad_datasource_ids_and_unknown_variables(
    built: dict[str, dict[str, Any]],
) -> None:
    broken = copy.deepcopy(built["gwmon-probe.json"])
    broken["panels"][1]["gridPos"] = {"x": 10, "y": 0, "w": 8, "h": 5}  # onto the nitrate panel
    broken["panels"][2]["id"] = broken["panels"][3]["id"]
    broken["panels"][4]["datasource"] = {"type": "prometheus", "uid": "x"}
    broken["panels"][4]["type"] = "graph"
    broken["panels"][0]["targets"][0]["query"] += ' AND "x" =~ /^$nope$/ AND [[other]]'
    broken["templating"]["list"] = [v for v in broken["templating"]["list"] if v["name"] != "site"]
    problems = validate_dashboard(broken, DashboardsSettings())
    text = "\n".join(problems)
    assert "panel ids not unique" in text
    assert "overlaps 'Nitrat (mg/L NO₃)'" in text
    assert "data source {'type': 'prometheus', 'uid': 'x'}" in text
    assert "unknown panel type 'graph'" in text
    assert "uses undefined variable(s) ['nope', 'other']" in text
    assert "variable probe: uses undefined variable(s) ['site']" in text


def test_english_titles_on_request(registry: Registry) -> None:
    english = build_dashboards(DashboardsSettings(language="en"), registry)
    assert english["gwmon-overview.json"]["title"] == "Groundwater – overview"
    assert english["gwmon-probe.json"]["panels"][0]["title"] == "Nitrate (mg/L NO₃)"
    german = build_dashboards(DashboardsSettings(), registry)
    assert german["gwmon-overview.json"]["title"] == "Grundwasser – Übersicht"
    # Queries do not depend on the language.
    assert [q.query for d in english.values() for q in iter_queries(d)] == [
        q.query for d in german.values() for q in iter_queries(d)
    ]


def test_units_decimals_and_thresholds_are_set(built: dict[str, dict[str, Any]]) -> None:
    nitrate = built["gwmon-probe.json"]["panels"][0]["fieldConfig"]["defaults"]
    assert nitrate["unit"] == "conmgL"
    assert nitrate["decimals"] == 1
    assert [s["value"] for s in nitrate["thresholds"]["steps"]] == [None, 37.5, 50.0]
    assert nitrate["custom"]["thresholdsStyle"] == {"mode": "line+area"}
    level = built["gwmon-probe.json"]["panels"][3]["fieldConfig"]["defaults"]
    assert (level["unit"], level["decimals"]) == ("suffix: m NHN", 2)


def test_map_bakes_every_registry_probe_with_its_coordinates(
    built: dict[str, dict[str, Any]], registry: Registry
) -> None:
    query = built["gwmon-overview.json"]["panels"][0]["targets"][0]["query"]
    statements = query.split(";")
    assert len(statements) == len(registry)
    probe = registry.probes["LE-07"]
    assert f'"last" * 0 + {probe.lat!r} AS "lat", "last" * 0 + {probe.lon!r} AS "lon"' in query


def test_provisioning_files(registry: Registry) -> None:
    influx = InfluxSettings(url="http://influx.example:8086", database="wasser")
    files = build_files(DashboardsSettings(), registry, influx, provider_path="/srv/dash")
    datasource = files["provisioning/datasources/gwmon.yaml"]
    assert 'url: "http://influx.example:8086"' in datasource
    assert 'dbName: "wasser"' in datasource
    assert "version: InfluxQL" in datasource
    assert 'uid: "gwmon-influxdb"' in datasource
    assert 'password: "${GWMON_INFLUXDB__PASSWORD}"' in datasource
    assert 'path: "/srv/dash"' in files["provisioning/dashboards/gwmon.yaml"]
    assert 'folderUid: "gwmon"' in files["provisioning/dashboards/gwmon.yaml"]
    token = build_files(
        DashboardsSettings(),
        registry,
        InfluxSettings(token=SecretStr("s3cr3t-token")),
    )["provisioning/datasources/gwmon.yaml"]
    assert "s3cr3t" not in token
    assert 'httpHeaderValue1: "Token ${GWMON_INFLUXDB__TOKEN}"' in token
    assert "password" not in token
