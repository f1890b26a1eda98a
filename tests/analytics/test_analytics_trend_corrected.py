"""The trend test runs on the corrected series and says which approval levels it used
(issue 12): corrected points, a deleted value and an approval written through the
contract's point builders into a real InfluxDB."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.analytics_helpers import NS, probe, registry
from gwmon.analytics import TrendSettings, run_trend
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import (
    APPROVAL,
    READING,
    READING_CORRECTED,
    TREND,
    FieldValue,
    InfluxClient,
    InfluxSettings,
    Point,
)
from gwmon.storage import influxql as q

DAY = 86400
START = 1_609_459_200  # 2021-01-01 00:00 UTC
RAW = [30.0, 29.0, 31.0, 28.0, 30.0, 29.0, 31.0, 30.0]  # no trend
CORRECTED = [30.0 + i for i in range(8)]  # drift-corrected: rising by 1 per 60 days
TIMES = [START + i * 60 * DAY for i in range(8)]
DELETED_AT = START + 8 * 60 * DAY  # raw 90 mg/L, removed by a delete


def tags(probe_id: str) -> dict[str, str]:
    return {
        "probe": probe_id,
        "site": "Teststelle",
        "municipality": "Thallwitz",
        "quantity": "nitrate",
    }


def points() -> list[Point]:
    out: list[Point] = []
    for probe_id in ("CORR", "RAWP"):
        out += [
            READING.point(tags(probe_id), {"value": v, "lag_s": 0.0}, t * NS)
            for t, v in zip(TIMES, RAW, strict=True)
        ]
        out.append(READING.point(tags(probe_id), {"value": 90.0, "lag_s": 0.0}, DELETED_AT * NS))
    for t, raw, value in zip(TIMES, RAW, CORRECTED, strict=True):
        fields: dict[str, FieldValue] = {
            "value": value,
            "raw_value": raw,
            "deleted": False,
            "corrections": "d1",
        }
        out.append(READING_CORRECTED.point(tags("CORR"), fields, t * NS))
    deleted: dict[str, FieldValue] = {
        "value": 90.0,
        "raw_value": 90.0,
        "deleted": True,
        "corrections": "x1",
    }
    out.append(READING_CORRECTED.point(tags("CORR"), deleted, DELETED_AT * NS))
    approval: dict[str, FieldValue] = {
        "approval_id": "a1",
        "sequence": 1,
        "from_ns": TIMES[0] * NS,
        "to_ns": TIMES[3] * NS,
        "by": "R",
    }
    out.append(
        APPROVAL.point(
            {"probe": "CORR", "quantity": "nitrate", "level": "approved"}, approval, TIMES[7] * NS
        )
    )
    return out


def test_trend_uses_the_corrected_series_and_names_the_approval_levels(
    influx_db: InfluxDatabase,
) -> None:
    store = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name))
    try:
        store.write_points(points())
        now = datetime.fromtimestamp(START + 1000 * DAY, tz=UTC)
        reports = run_trend(
            store, registry(probe("CORR"), probe("RAWP")), TrendSettings(open_alerts=False), now=now
        )
        stored = {
            row["probe"]: row
            for row in store.query_rows(
                q.select(TREND, "verdict", "n", "approval_levels").group_by("probe")
            )
        }
    finally:
        store.close()
    by_probe = {report.probe.probe_id: report for report in reports}
    corrected = by_probe["CORR"]
    # 8 corrected values (the deleted 90 left out), strictly rising: S = 28.
    assert (corrected.result.n, corrected.result.s, corrected.result.verdict) == (8, 28, "rising")
    assert corrected.approval_levels == ("approved", "raw")
    raw = by_probe["RAWP"]
    assert raw.result.n == 9 and raw.result.verdict != "rising"  # raw incl. the 90
    assert raw.approval_levels == ("raw",)
    assert (stored["CORR"]["verdict"], stored["CORR"]["n"], stored["CORR"]["approval_levels"]) == (
        "rising",
        8,
        "approved,raw",
    )
    assert stored["RAWP"]["approval_levels"] == "raw"
