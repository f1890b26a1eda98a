"""The probe dashboard's data-management queries, as Grafana would send them, against a
real InfluxDB holding raw and corrected values, dips, corrections and approvals written
through the contract's point builders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dashboards.dash_scenario import START_S
from dashboards.test_queries import rows, run, target
from gwmon.dashboards import DashboardsSettings, build_dashboards, iter_queries
from gwmon.ingest import Registry
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import (
    APPROVAL,
    CORRECTION,
    DIP,
    READING,
    READING_CORRECTED,
    FieldValue,
    InfluxClient,
    InfluxSettings,
    Point,
)

NS = 1_000_000_000
HOUR = 3600
T = START_S + 48 * HOUR  # two days into the dashboards' time range
TAGS = {"probe": "LE-07", "site": "Leipzig-Probstheida", "municipality": "Leipzig"}
LEVEL = {**TAGS, "quantity": "level"}


def _points() -> list[Point]:
    points = [
        READING.point(LEVEL, {"value": 125.0 + hour / 100, "lag_s": 0.0}, (T + hour * HOUR) * NS)
        for hour in range(3)
    ]
    corrected: list[tuple[int, float, bool]] = [
        (0, 125.05, False),
        (1, 125.06, False),
        (2, 125.02, True),
    ]
    for hour, value, deleted in corrected:
        fields: dict[str, FieldValue] = {
            "value": value,
            "raw_value": 125.0 + hour / 100,
            "deleted": deleted,
            "corrections": "c1",
        }
        points.append(READING_CORRECTED.point(LEVEL, fields, (T + hour * HOUR) * NS))
    dip: dict[str, FieldValue] = {
        "depth_below_mp_m": 7.0,
        "measuring_point_m_nhn": 132.0,
        "level_m_nhn": 125.0,
        "depth_below_ground_m": 6.4,
        "by": "Herr Krause",
        "note": "Logger gereinigt",
        "source": "dips.csv:2",
    }
    points.append(DIP.point(TAGS, dip, (T + 30 * 60) * NS))
    correction: dict[str, FieldValue] = {
        "correction_id": "c1",
        "state": "active",
        "sequence": 1,
        "from_ns": T * NS,
        "to_ns": (T + 2 * HOUR) * NS,
        "value": 0.05,
        "by": "Frau Richter",
        "why": "Versatz zum Abstich",
        "created_at_s": float(T + 5 * HOUR),
    }
    points.append(
        CORRECTION.point(
            {"probe": "LE-07", "quantity": "level", "kind": "offset"},
            correction,
            (T + 5 * HOUR) * NS,
        )
    )
    approval: dict[str, FieldValue] = {
        "approval_id": "a1",
        "sequence": 1,
        "from_ns": T * NS,
        "to_ns": (T + HOUR) * NS,
        "by": "Frau Richter",
    }
    points.append(
        APPROVAL.point(
            {"probe": "LE-07", "quantity": "level", "level": "checked"},
            approval,
            (T + 6 * HOUR) * NS,
        )
    )
    return points  # fmt: skip


@pytest.fixture(scope="module")
def probe_dashboard(registry: Registry) -> dict[str, Any]:
    return build_dashboards(DashboardsSettings(), registry)["gwmon-probe.json"]


@pytest.fixture
def records_client(influx_db: InfluxDatabase) -> Iterator[InfluxClient]:
    client = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name))
    client.write_points(_points())
    yield client
    client.close()


def test_level_panel_draws_raw_corrected_and_dips(
    probe_dashboard: dict[str, Any], records_client: InfluxClient, registry: Registry
) -> None:
    panel = "Grundwasserstand"
    raw = rows(run(records_client, target(probe_dashboard, panel, "A"), registry))
    corrected = rows(run(records_client, target(probe_dashboard, panel, "E"), registry))
    dips = rows(run(records_client, target(probe_dashboard, panel, "F"), registry))
    # 30-minute buckets; the deleted value at hour 2 is not drawn as corrected.
    assert [(row["time"] // 1000, row["level"]) for row in raw] == [
        (T, 125.0), (T + HOUR, 125.01), (T + 2 * HOUR, 125.02),
    ]  # fmt: skip
    assert [(row["time"] // 1000, row["level_corrected"]) for row in corrected] == [
        (T, 125.05), (T + HOUR, 125.06),
    ]  # fmt: skip
    assert [(row["time"] // 1000, row["dip"]) for row in dips] == [(T + 1800, 125.0)]
    # Another probe selected: nothing of LE-07.
    assert (
        rows(run(records_client, target(probe_dashboard, panel, "E"), registry, probe="LE-01"))
        == []
    )


def test_approval_and_correction_tables(
    probe_dashboard: dict[str, Any], records_client: InfluxClient, registry: Registry
) -> None:
    (approval,) = rows(run(records_client, target(probe_dashboard, "Freigabestufen"), registry))
    assert (approval["level"], approval["quantity"], approval["by"]) == (
        "checked",
        "level",
        "Frau Richter",
    )
    assert (approval["from_ms"], approval["to_ms"]) == (T * 1000, (T + HOUR) * 1000)
    (correction,) = rows(run(records_client, target(probe_dashboard, "Korrekturen"), registry))
    assert (correction["kind"], correction["state"], correction["value"]) == (
        "offset",
        "active",
        0.05,
    )
    assert (correction["from_ms"], correction["to_ms"]) == (T * 1000, (T + 2 * HOUR) * 1000)


def test_corrections_and_visits_as_annotations(
    probe_dashboard: dict[str, Any], records_client: InfluxClient, registry: Registry
) -> None:
    annotations = {
        query.where: query.query
        for query in iter_queries(probe_dashboard)
        if query.where.startswith("annotation")
    }
    assert sorted(annotations) == [
        "annotation Alarme", "annotation Korrekturen", "annotation Wartung und Abstiche",
    ]  # fmt: skip
    (made,) = rows(run(records_client, annotations["annotation Korrekturen"], registry))
    assert (made["time"] // 1000, made["why"], made["kind"]) == (
        T + 5 * HOUR,
        "Versatz zum Abstich",
        "offset",
    )
    (visit,) = rows(run(records_client, annotations["annotation Wartung und Abstiche"], registry))
    assert (visit["note"], visit["by"]) == ("Logger gereinigt", "Herr Krause")
    listed = {a["name"]: a for a in probe_dashboard["annotations"]["list"]}
    assert (listed["Korrekturen"]["textColumn"], listed["Korrekturen"]["tagsColumn"]) == (
        "why",
        "kind,state",
    )
