"""Corrections on a real InfluxDB: exact corrected values, raw untouched, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwmon.ingest.devservers import InfluxDatabase
from records.records_helpers import RecordsRig, at, iso, make_rig

RAW = [(0, 10.0), (1, 10.1), (2, 10.2), (3, 10.3), (4, 10.4), (5, 10.5)]


@pytest.fixture
def rig(
    tmp_path: Path, influx_db: InfluxDatabase, capsys: pytest.CaptureFixture[str]
) -> RecordsRig:
    rig = make_rig(tmp_path, influx_db, capsys)
    rig.seed(RAW)
    return rig


def add(rig: RecordsRig, kind: str, start: float, end: float, *value: str) -> tuple[int, str, str]:
    return rig.gwmon(
        "corrections", "add", "--probe", "P-1", "--quantity", "level", "--kind", kind,
        "--from", iso(start), "--to", iso(end), *value, "--by", "A. Tester", "--why", "test",
    )  # fmt: skip


def test_offset_adds_the_constant_inside_the_period_only(rig: RecordsRig) -> None:
    raw_before = rig.raw_dump()
    code, out, err = add(rig, "offset", 1, 3, "--value", "0.05")
    assert code == 0, err
    assert "added P-1.level.c1: offset +0.05" in out
    assert "6 point(s) recomputed" in out  # the first operation writes the whole series
    rows = rig.corrected()
    assert [row["time"] for row in rows] == [at(h) for h in range(6)]
    assert [row["value"] for row in rows] == [10.0, 10.15, 10.25, 10.35, 10.4, 10.5]
    assert [row["raw_value"] for row in rows] == [v for _, v in RAW]
    assert [row["deleted"] for row in rows] == [False] * 6
    assert [row["corrections"] for row in rows] == ["", *["P-1.level.c1"] * 3, "", ""]
    assert {row["site"] for row in rows} == {"Teststelle"}
    assert rig.raw_dump() == raw_before


def test_drift_is_prorated_from_zero_to_the_end_value(rig: RecordsRig) -> None:
    raw_before = rig.raw_dump()
    code, _, err = add(rig, "drift", 0, 4, "--end-value", "0.08")
    assert code == 0, err
    # 0.08 x (0, 1/4, 2/4, 3/4, 1) = 0, 0.02, 0.04, 0.06, 0.08; hour 5 is outside.
    assert rig.corrected_values() == [10.0, 10.12, 10.24, 10.36, 10.48, 10.5]
    assert rig.raw_dump() == raw_before


def test_delete_marks_the_period_deleted_and_keeps_every_point(
    rig: RecordsRig, influx_db: InfluxDatabase
) -> None:
    raw_before = rig.raw_dump()
    code, _, err = add(rig, "delete", 2, 3)
    assert code == 0, err
    rows = rig.corrected()
    assert [row["deleted"] for row in rows] == [False, False, True, True, False, False]
    assert [row["value"] for row in rows] == [v for _, v in RAW]
    kept = influx_db.rows('SELECT "value" FROM reading_corrected WHERE "deleted" = false')
    assert [row["time"] for row in kept] == [at(0), at(1), at(4), at(5)]
    assert rig.raw_dump() == raw_before


def test_operations_apply_in_order_and_revert_recomputes_their_period(rig: RecordsRig) -> None:
    raw_before = rig.raw_dump()
    assert add(rig, "offset", 0, 5, "--value", "-0.1")[0] == 0
    assert rig.raw_dump() == raw_before
    assert add(rig, "drift", 2, 4, "--end-value", "0.02")[0] == 0
    assert rig.raw_dump() == raw_before
    assert add(rig, "delete", 5, 5)[0] == 0
    assert rig.raw_dump() == raw_before
    rows = rig.corrected()
    assert [row["value"] for row in rows] == [9.9, 10.0, 10.1, 10.21, 10.32, 10.4]
    assert [row["deleted"] for row in rows] == [False] * 5 + [True]
    assert rows[3]["corrections"] == "P-1.level.c1,P-1.level.c2"

    code, out, err = rig.gwmon(
        "corrections", "revert", "P-1.level.c1", "--by", "B. Prüfer", "--why", "wrong sign"
    )
    assert code == 0, err
    assert "reverted P-1.level.c1 (offset)" in out
    assert rig.raw_dump() == raw_before
    assert rig.corrected_values() == [10.0, 10.1, 10.2, 10.31, 10.42, 10.5]

    for correction_id in ("P-1.level.c2", "P-1.level.c3"):
        assert rig.gwmon("corrections", "revert", correction_id, "--by", "B", "--why", "x")[0] == 0
    rows = rig.corrected()
    assert [row["value"] for row in rows] == [v for _, v in RAW]
    assert [row["deleted"] for row in rows] == [False] * 6
    assert [row["corrections"] for row in rows] == [""] * 6
    assert rig.raw_dump() == raw_before


def test_corrections_list_keeps_who_when_why(rig: RecordsRig) -> None:
    assert add(rig, "offset", 1, 3, "--value", "0.05")[0] == 0
    assert (
        rig.gwmon("corrections", "revert", "P-1.level.c1", "--by", "B. Prüfer", "--why", "no")[0]
        == 0
    )
    assert add(rig, "delete", 4, 5)[0] == 0
    rows = rig.gwmon_json("corrections", "list", "--probe", "P-1")
    assert [(r["id"], r["kind"], r["state"], r["sequence"]) for r in rows] == [
        ("P-1.level.c1", "offset", "reverted", 1),
        ("P-1.level.c2", "delete", "active", 2),
    ]
    first = rows[0]
    assert (first["from"], first["to"], first["value"]) == (iso(1), iso(3), 0.05)
    assert (first["by"], first["why"]) == ("A. Tester", "test")
    assert (first["reverted_by"], first["reverted_why"]) == ("B. Prüfer", "no")
    assert first["created_at"] <= first["reverted_at"]
    assert rig.gwmon_json("corrections", "list", "--probe", "P-2") == []
    code, out, _ = rig.gwmon("corrections", "list", "--format", "table")
    assert code == 0
    assert out.splitlines()[0].split() == [
        "id", "kind", "state", "from", "to", "value", "by", "why", "reverted_by"
    ]  # fmt: skip
    assert out.rstrip().endswith("2 correction(s)")


def test_refused_requests_say_why_and_store_nothing(
    rig: RecordsRig, influx_db: InfluxDatabase
) -> None:
    cases = [
        (("--value", "0.05"), "2026-01-01T01:00:00", "has no UTC offset"),
        ((), iso(1), "an offset needs --value"),
    ]
    for value, start, message in cases:
        code, _, err = rig.gwmon(
            "corrections", "add", "--probe", "P-1", "--quantity", "level", "--kind", "offset",
            "--from", start, "--to", iso(3), *value, "--by", "A", "--why", "w",
        )  # fmt: skip
        assert code == 2
        assert message in err
    code, _, err = add(rig, "delete", 1, 2, "--value", "1")
    assert (code, "--value belongs to --kind offset" in err) == (2, True)
    code, _, err = add(rig, "offset", 3, 1, "--value", "1")
    assert (code, "--from must not be after --to" in err) == (2, True)
    code, _, err = rig.gwmon("corrections", "revert", "P-1.level.c9", "--by", "B", "--why", "x")
    assert code == 2
    assert "no correction 'P-1.level.c9'" in err
    assert influx_db.count("correction", field="sequence") == 0
    assert influx_db.count("reading_corrected") == 0
    assert add(rig, "offset", 1, 2, "--value", "1")[0] == 0
    assert rig.gwmon("corrections", "revert", "P-1.level.c1", "--by", "B", "--why", "x")[0] == 0
    code, _, err = rig.gwmon("corrections", "revert", "P-1.level.c1", "--by", "B", "--why", "x")
    assert code == 2
    assert "already reverted by B" in err


def test_censored_flag_carries_over(
    tmp_path: Path, influx_db: InfluxDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = make_rig(tmp_path, influx_db, capsys)
    rig.seed([(0, 0.5), (1, 12.0)], quantity="nitrate", censored_hours=[0])
    code, _, err = rig.gwmon(
        "corrections", "add", "--probe", "P-1", "--quantity", "nitrate", "--kind", "offset",
        "--from", iso(0), "--to", iso(1), "--value", "-0.2", "--by", "A", "--why", "w",
    )  # fmt: skip
    assert code == 0, err
    rows = rig.corrected(quantity="nitrate")
    assert [(row["value"], row["censored"]) for row in rows] == [(0.3, True), (11.8, None)]
