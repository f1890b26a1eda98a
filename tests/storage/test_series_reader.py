"""gwmon.storage.series against a real InfluxDB: corrected where corrected, raw
elsewhere (also for a raw value newer than the last recompute), deleted values kept as
None, the latest approval step by sequence, QC flags per time."""

from __future__ import annotations

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
    series,
)

NS = 1_000_000_000
TAGS = {"probe": "P-1", "site": "s", "municipality": "m", "quantity": "level"}


def _approval(sequence: int, first: int, last: int, level: str, set_at: int) -> Point:
    fields: dict[str, FieldValue] = {
        "approval_id": f"a{sequence}", "sequence": sequence, "from_ns": first * NS,
        "to_ns": last * NS, "by": "x",
    }  # fmt: skip
    tags = {"probe": "P-1", "quantity": "level", "level": level}
    return APPROVAL.point(tags, fields, set_at * NS)


def test_reader(influx_db: InfluxDatabase) -> None:
    client = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name))
    raw = {10: 1.0, 20: 2.0, 30: 3.0, 40: 4.0}  # 40: arrived after the recompute
    points = [READING.point(TAGS, {"value": v, "lag_s": 0.0}, t * NS) for t, v in raw.items()]
    for t, value, deleted in ((10, 1.5, False), (20, 2.0, True), (30, 3.0, False)):
        fields: dict[str, FieldValue] = {
            "value": value, "raw_value": raw[t], "deleted": deleted, "corrections": "c1" if t < 30 else "",
        }  # fmt: skip
        points.append(READING_CORRECTED.point(TAGS, fields, t * NS))
    # Step 2 is newer by sequence but was written with an older wall-clock time.
    points += [_approval(1, 10, 40, "approved", 200), _approval(2, 30, 30, "checked", 100)]
    points.append(
        QC.point(
            {**TAGS, "flag": "spike"}, {"value": 3.0, "detector": "spike", "detail": ""}, 30 * NS
        )
    )
    points.append(
        QC.point({**TAGS, "flag": "gap"}, {"value": 3.0, "detector": "gap", "detail": ""}, 30 * NS)
    )
    client.write_points(points)
    try:
        corrected = series.read_series(client, "P-1", "level")
        raw_series = series.read_series(
            client, "P-1", "level", corrected=False, start_ns=20 * NS, end_ns=40 * NS
        )
        approvals = series.read_approvals(client, "P-1", "level")
        flags = series.read_flags(client, "P-1", "level")
    finally:
        client.close()
    assert [(v.time_ns // NS, v.value, v.raw_value, v.corrections) for v in corrected] == [
        (10, 1.5, 1.0, "c1"), (20, None, 2.0, "c1"), (30, 3.0, 3.0, ""), (40, 4.0, 4.0, ""),
    ]  # fmt: skip
    assert [(v.time_ns // NS, v.value) for v in raw_series] == [(20, 2.0), (30, 3.0)]
    assert [approvals.level_at(t * NS) for t in (5, 10, 30, 40, 41)] == [
        "raw", "approved", "checked", "approved", "raw",
    ]  # fmt: skip
    assert flags == {30 * NS: ("gap", "spike")}
    assert series.suspect(flags[30 * NS]) and not series.suspect(("gap",))
    assert series.levels_text(["raw", "approved", "raw"]) == "approved,raw"
