"""Approval levels: steps kept as history, the latest covering a time decides, and an
approved period refuses corrections until it is set back."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwmon.analytics.records import Approval, ApprovalLevel, level_at, levels_over
from gwmon.ingest.devservers import InfluxDatabase
from records.records_helpers import RecordsRig, at, iso, make_rig


@pytest.fixture
def rig(
    tmp_path: Path, influx_db: InfluxDatabase, capsys: pytest.CaptureFixture[str]
) -> RecordsRig:
    rig = make_rig(tmp_path, influx_db, capsys)
    rig.seed([(h, 10.0 + h / 10) for h in range(6)])
    return rig


def approve(
    rig: RecordsRig, start: float, end: float, level: str, *why: str
) -> tuple[int, str, str]:
    return rig.gwmon(
        "approve", "--probe", "P-1", "--quantity", "level", "--from", iso(start),
        "--to", iso(end), "--level", level, "--by", "C. Freigabe", *why,
    )  # fmt: skip


def offset(rig: RecordsRig, start: float, end: float) -> tuple[int, str, str]:
    return rig.gwmon(
        "corrections", "add", "--probe", "P-1", "--quantity", "level", "--kind", "offset",
        "--from", iso(start), "--to", iso(end), "--value", "0.1", "--by", "A", "--why", "w",
    )  # fmt: skip


def test_a_correction_inside_an_approved_period_is_refused_until_set_back(
    rig: RecordsRig, influx_db: InfluxDatabase
) -> None:
    code, out, err = approve(rig, 1, 2, "approved", "--why", "Jahresbericht 2025")
    assert code == 0, err
    assert out.splitlines()[0] == (
        f"P-1.level.a1: P-1 level {iso(1)} .. {iso(2)} set to approved by C. Freigabe"
    )
    raw_before = rig.raw_dump()
    code, _, err = offset(rig, 0, 5)
    assert code == 2
    assert f"cannot add a correction: P-1 level is approved from {iso(1)} to {iso(2)}" in err
    assert "Set the period back first" in err
    assert f"--from {iso(1)} --to {iso(2)} --level checked" in err
    assert influx_db.count("correction", field="sequence") == 0
    assert influx_db.count("reading_corrected") == 0
    # Outside the approved period a correction is fine.
    assert offset(rig, 3, 5)[0] == 0
    assert approve(rig, 1, 2, "checked", "--why", "Sondenwechsel nachtragen")[0] == 0
    code, _, err = offset(rig, 0, 5)
    assert code == 0, err
    assert rig.corrected_values() == [10.1, 10.2, 10.3, 10.5, 10.6, 10.7]
    assert rig.raw_dump() == raw_before
    steps = influx_db.rows("SELECT * FROM approval")
    assert [(s["approval_id"], s["level"], s["by"], s["why"]) for s in steps] == [
        ("P-1.level.a1", "approved", "C. Freigabe", "Jahresbericht 2025"),
        ("P-1.level.a2", "checked", "C. Freigabe", "Sondenwechsel nachtragen"),
    ]
    assert [(s["from_ns"], s["to_ns"]) for s in steps] == [(at(1), at(2))] * 2


def test_revert_inside_an_approved_period_is_refused(rig: RecordsRig) -> None:
    assert offset(rig, 0, 1)[0] == 0
    assert approve(rig, 0, 5, "approved")[0] == 0
    code, _, err = rig.gwmon("corrections", "revert", "P-1.level.c1", "--by", "B", "--why", "x")
    assert code == 2
    assert "cannot revert the correction: P-1 level is approved" in err
    assert "Set the period back first" in err


def test_approve_prints_the_levels_over_its_period(rig: RecordsRig) -> None:
    assert approve(rig, 0, 5, "checked")[0] == 0
    code, out, err = approve(rig, 2, 3, "approved")
    assert code == 0, err
    assert out.splitlines()[1:] == [f"  {iso(2)} .. {iso(3)}: approved"]
    code, _, err = approve(rig, 4, 1, "approved")
    assert (code, "--from must not be after --to" in err) == (2, True)
    code, _, err = rig.gwmon(
        "approve", "--probe", "NOPE", "--quantity", "level", "--from", iso(0), "--to", iso(1),
        "--level", "approved", "--by", "C",
    )  # fmt: skip
    assert (code, "probe 'NOPE' is not in the registry" in err) == (2, True)


def step(sequence: int, start: int, end: int, level: ApprovalLevel) -> Approval:
    return Approval(f"P.level.a{sequence}", "P", "level", level, sequence, start, end, "x", None, 0)


def test_latest_step_covering_a_time_decides() -> None:
    steps = [
        step(1, 0, 100, ApprovalLevel.CHECKED),
        step(2, 20, 40, ApprovalLevel.APPROVED),
        step(3, 30, 60, ApprovalLevel.RAW),
    ]
    parts = levels_over(steps, -10, 120)
    assert [(p.from_ns, p.to_ns, p.level.value) for p in parts] == [
        (-10, -1, "raw"),
        (0, 19, "checked"),
        (20, 29, "approved"),
        (30, 60, "raw"),
        (61, 100, "checked"),
        (101, 120, "raw"),
    ]
    assert level_at(steps, 25) == ApprovalLevel.APPROVED
    assert level_at(list(reversed(steps)), 35) == ApprovalLevel.RAW  # sequence, not list order
    assert level_at([], 35) == ApprovalLevel.RAW
