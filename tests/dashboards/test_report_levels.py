"""The monthly report on the corrected series: the groundwater-level table per well
(monthly mean, highest and lowest with dates) and the approval levels, for a hand-made
month written through the contract's point builders."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from dashboards.dash_scenario import DEMO_REGISTRY
from gwmon.dashboards import DashboardsSettings
from gwmon.dashboards._report_html import render_html
from gwmon.dashboards._report_levels import level_month
from gwmon.dashboards._report_month import Period, collect
from gwmon.ingest import load_registry
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import (
    APPROVAL,
    QC,
    READING,
    READING_CORRECTED,
    FieldValue,
    InfluxClient,
    InfluxSettings,
    Point,
)

NS = 1_000_000_000
BERLIN = ZoneInfo("Europe/Berlin")
TAGS = {"probe": "LE-01", "site": "Leipzig-Stötteritz", "municipality": "Leipzig"}


def t(day: int, hour: int = 0, minute: int = 0, month: int = 11) -> int:
    return int(datetime(2026, month, day, hour, minute, tzinfo=BERLIN).timestamp()) * NS


# (time, raw level m NHN)
LEVELS = [
    (t(1), 128.0),  # the month's first instant (local time)
    (t(3, 12), 128.4),
    (t(5, 6), 127.6),  # QC spike: not counted
    (t(10, 8), 127.8),  # corrected to 127.7
    (t(15), 126.0),  # deleted by a correction
    (t(20, 12), 128.4),  # as high as on the 3rd: the first date is shown
    (t(30, 23, 30), 128.2),
    (t(1, 0, 0, month=12), 120.0),  # next month
    (t(31, 23, 59, month=10), 130.0),  # last month
]


def _points() -> list[Point]:
    level = {**TAGS, "quantity": "level"}
    nitrate = {**TAGS, "quantity": "nitrate"}
    points = [READING.point(level, {"value": v, "lag_s": 0.0}, time) for time, v in LEVELS]
    corrected: list[tuple[dict[str, str], int, float, float, bool]] = [
        (level, t(10, 8), 127.7, 127.8, False),
        (level, t(15), 126.0, 126.0, True),
        (nitrate, t(2), 40.0, 60.0, False),
    ]
    for tags, time, value, raw, deleted in corrected:
        fields: dict[str, FieldValue] = {
            "value": value,
            "raw_value": raw,
            "deleted": deleted,
            "corrections": "k1",
        }
        points.append(READING_CORRECTED.point(tags, fields, time))
    points += [
        READING.point(nitrate, {"value": 60.0, "lag_s": 0.0}, t(2)),
        READING.point(nitrate, {"value": 30.0, "lag_s": 0.0}, t(4)),
        QC.point({**level, "flag": "spike"}, {"value": 127.6, "detector": "spike", "detail": ""}, t(5, 6)),
    ]  # fmt: skip
    for quantity, to_ns in (("level", t(10, 23)), ("nitrate", t(3))):
        points.append(
            APPROVAL.point(
                {"probe": "LE-01", "quantity": quantity, "level": "approved"},
                {"approval_id": "a1", "sequence": 1, "from_ns": t(1), "to_ns": to_ns, "by": "R"},
                t(12),
            )
        )
    return points


@pytest.fixture
def month_report_db(influx_db: InfluxDatabase) -> InfluxDatabase:
    client = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name))
    client.write_points(_points())
    client.close()
    return influx_db


def test_level_table_of_a_hand_made_month(month_report_db: InfluxDatabase) -> None:
    registry = load_registry(DEMO_REGISTRY)
    client = InfluxClient(InfluxSettings(url=month_report_db.url, database=month_report_db.name))
    try:
        report = collect(client, registry, "Leipzig", Period.parse("2026-11", "Europe/Berlin"))
    finally:
        client.close()
    le01 = next(entry for entry in report.levels if entry.probe.probe_id == "LE-01")
    # Counted: 128.0, 128.4, 127.7 (corrected), 128.4, 128.2 -> mean 640.7 / 5
    assert le01.count == 5
    assert le01.mean == pytest.approx(128.14, abs=1e-9)
    assert le01.highest == (128.4, t(3, 12) / NS)
    assert le01.lowest == (127.7, t(10, 8) / NS)
    assert le01.approval_levels == ("approved", "raw")
    assert [entry.count for entry in report.levels if entry.probe.probe_id != "LE-01"] == [0] * 7
    # Nitrate from the corrected series: 60 corrected to 40; approval of the 2nd only.
    nitrate = next(entry for entry in report.probes if entry.probe.probe_id == "LE-01")
    assert (nitrate.values, nitrate.levels_used, nitrate.deleted) == (
        [40.0, 30.0],
        ["approved", "raw"],
        0,
    )

    text = render_html(report, DashboardsSettings(), charts=False)
    table = text.split("<h2>Grundwasserstand je Messstelle</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(<td.*?)</tr>", table)
    assert len(rows) == 1
    assert re.findall(r"<td[^>]*>(.*?)</td>", rows[0]) == [
        "LE-01", "Leipzig-Stötteritz", "5", "128,14",
        "128,40", "03.11.2026", "127,70", "10.11.2026", "freigegeben, ungeprüft",
    ]  # fmt: skip


def test_level_month_takes_the_first_of_equal_extremes() -> None:
    probe = load_registry(DEMO_REGISTRY).probes["LE-01"]
    month = level_month(
        probe, [(1.0, 5.0, "raw"), (2.0, 4.0, "checked"), (3.0, 5.0, "raw"), (4.0, 4.0, "raw")]
    )
    assert (month.highest, month.lowest, month.mean) == ((5.0, 1.0), (4.0, 2.0), 4.5)
    assert month.approval_levels == ("checked", "raw")
    assert level_month(probe, []).mean is None
