"""`gwmon dips import|list` on a real InfluxDB: the geometry valid at the dip, bad rows
by line, idempotent re-import, and the drift alert (maintenance)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from gwmon.analytics import Alert, AlertKind, AlertState, Severity
from gwmon.analytics.mail._router import MAINTENANCE, MailRouter
from gwmon.analytics.mail._settings import MailSettings
from gwmon.analytics.mail._texts import Notice, RenderContext, Section, render_plain, subject
from gwmon.ingest.devservers import InfluxDatabase
from records.records_helpers import RecordsRig, at, iso, make_rig

GOOD = """\
probe_id,time,depth_below_mp_m,by,note
P-1,2026-01-01T03:00:00+01:00,3.25,M. Berger,vor Reinigung
P-2,2026-01-01T02:00:00Z,4.00,M. Berger,
"""
# P-1 before its re-survey: 113.5 - 3.25 = 110.25 m NHN, 112.9 - 110.25 = 2.65 m below
# ground; P-2: 120.6 - 4.00 = 116.6 m NHN, 3.4 m below ground.


@pytest.fixture
def rig(
    tmp_path: Path, influx_db: InfluxDatabase, capsys: pytest.CaptureFixture[str]
) -> RecordsRig:
    rig = make_rig(tmp_path, influx_db, capsys)
    rig.seed([(1, 110.31), (2, 110.29), (3, 110.27)])  # P-1 reads 0.04 m high at the dip
    rig.seed([(2, 116.62)], probe="P-2")  # 0.02 m: within P-2's 0.05 m
    return rig


def write(rig: RecordsRig, name: str, text: str) -> Path:
    path = rig.directory / name
    path.write_bytes(text.encode("utf-8"))
    return path


def drift_alerts(database: InfluxDatabase) -> list[dict[str, Any]]:
    return database.rows("SELECT * FROM alert WHERE kind = 'drift'")


def test_dips_are_stored_with_level_depth_and_logger_offset(
    rig: RecordsRig, influx_db: InfluxDatabase
) -> None:
    code, out, err = rig.gwmon("dips", "import", str(write(rig, "dips.csv", GOOD)))
    assert code == 0, err
    assert (
        out.splitlines()[0]
        == f"imported 2 dip(s) from {rig.directory / 'dips.csv'}; 0 row(s) skipped"
    )
    rows = influx_db.rows("SELECT * FROM dip")
    assert [(r["time"], r["probe"]) for r in rows] == [(at(2), "P-1"), (at(2), "P-2")]
    p1, p2 = rows
    assert (p1["depth_below_mp_m"], p1["measuring_point_m_nhn"]) == (3.25, 113.5)
    assert (p1["level_m_nhn"], p1["depth_below_ground_m"]) == (110.25, 2.65)
    assert (p1["logger_level_m_nhn"], p1["logger_offset_m"], p1["logger_time_ns"]) == (
        110.29,
        0.04,
        at(2),
    )
    assert (p1["by"], p1["note"], p1["source"]) == ("M. Berger", "vor Reinigung", "dips.csv:2")
    assert (p1["site"], p1["municipality"]) == ("Teststelle", "Thallwitz")
    assert (p2["level_m_nhn"], p2["depth_below_ground_m"], p2["logger_offset_m"]) == (
        116.6,
        3.4,
        0.02,
    )
    assert p2["note"] == ""
    listed = rig.gwmon_json("dips", "list", "--probe", "P-1")
    assert [(d["probe"], d["time"], d["level_m_nhn"], d["logger_offset_m"]) for d in listed] == [
        ("P-1", iso(2), 110.25, 0.04)
    ]
    code, out, _ = rig.gwmon("dips", "list")
    assert out.rstrip().endswith("2 dip(s)")


def test_reimport_is_idempotent(rig: RecordsRig, influx_db: InfluxDatabase) -> None:
    path = write(rig, "dips.csv", GOOD)
    assert rig.gwmon("dips", "import", str(path))[0] == 0
    dips_first = influx_db.query("SELECT * FROM dip")
    alerts_first = influx_db.query("SELECT * FROM alert")
    raw_first = rig.raw_dump()
    code, out, err = rig.gwmon("dips", "import", str(path))
    assert code == 0, err
    assert "drift alert" not in out  # nothing changed
    assert influx_db.query("SELECT * FROM dip") == dips_first
    assert influx_db.count("dip", field="level_m_nhn") == 2
    assert influx_db.query("SELECT * FROM alert") == alerts_first
    assert rig.raw_dump() == raw_first


def test_excel_variant_gives_the_same_dips(
    tmp_path: Path, influx_db: InfluxDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = []
    for name, text in [
        ("comma", GOOD),
        ("excel", GOOD.replace(",", ";").replace("3.25", "3,25").replace("4.00", "4,00")),
    ]:
        rig = make_rig(tmp_path / name, influx_db, capsys)
        data = ("\ufeff" + text.replace("\n", "\r\n")) if name == "excel" else text
        path = rig.directory / "dips.csv"
        path.write_bytes(data.encode("utf-8"))
        assert rig.gwmon("dips", "import", str(path))[0] == 0
        stored.append(influx_db.query("SELECT * FROM dip"))
        influx_db.query("DROP MEASUREMENT dip")
    assert stored[0] == stored[1]
    assert len(stored[0][0]["values"]) == 2


def test_bad_rows_are_reported_by_line_and_skipped(
    rig: RecordsRig, influx_db: InfluxDatabase
) -> None:
    text = (
        GOOD
        + "P-1,2026-01-01T05:00:00,3.3,X,\n"  # line 4
        + "P-9,2026-01-01T05:00:00Z,3.3,X,\n"  # line 5
        + "P-1,2026-01-01T06:00:00Z,abc,X,\n"  # line 6
        + "P-3,2026-01-01T06:00:00Z,1.0,X,\n"  # line 7: no measuring point known
        + "P-2,2026-01-01T02:00:00Z,4.10,Y,\n"  # line 8: same dip as line 3
        + "P-1,2026-01-01T07:00:00Z,3.3,,\n"  # line 9: no `by`
        + "P-1,2026-01-01T07:00:00Z,3,3,X,\n"  # line 10: decimal comma in a ',' file
        + "P-1,2026-01-01T08:00:00Z,5000,X,\n"  # line 11
    )
    path = write(rig, "dips.csv", text)
    code, out, err = rig.gwmon("dips", "import", str(path))
    assert code == 1  # some rows skipped, the others imported
    assert "imported 2 dip(s)" in out
    assert "8 row(s) skipped" in out
    lines = err.splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == [f"line {n}" for n in range(4, 12)]
    assert "has no UTC offset" in lines[0]
    assert "probe_id 'P-9' is not in the registry" in lines[1]
    assert "'abc' is not a number" in lines[2]
    assert "no measuring point" in lines[3]
    assert "same probe_id and time as line 3" in lines[4]
    assert "column by is empty" in lines[5]
    assert "more fields than header columns" in lines[6]
    assert "outside -50..1000" in lines[7]
    assert all(line.endswith("; skipped") for line in lines)
    assert influx_db.count("dip", field="level_m_nhn") == 2


def test_unusable_file_is_refused_whole(rig: RecordsRig, influx_db: InfluxDatabase) -> None:
    path = write(rig, "dips.csv", "probe;when;depth\nP-1;x;1\n")
    code, _, err = rig.gwmon("dips", "import", str(path))
    assert code == 2
    assert "header lacks column(s) probe_id, time, depth_below_mp_m, by" in err
    code, _, err = rig.gwmon("dips", "import", str(rig.directory / "missing.csv"))
    assert (code, "cannot read" in err) == (2, True)
    assert influx_db.count("dip", field="level_m_nhn") == 0


def test_dip_uses_the_geometry_valid_at_its_time(
    rig: RecordsRig, influx_db: InfluxDatabase
) -> None:
    # P-1 re-surveyed on 2026-01-10: measuring point 113.40, ground 112.80.
    text = (
        "probe_id,time,depth_below_mp_m,by,note\n"
        "P-1,2026-01-09T23:59:59Z,3.25,M,\n"
        "P-1,2026-01-10T00:00:00Z,3.25,M,\n"
    )
    assert rig.gwmon("dips", "import", str(write(rig, "dips.csv", text)))[0] == 0
    rows = influx_db.rows("SELECT * FROM dip")
    assert [
        (r["measuring_point_m_nhn"], r["level_m_nhn"], r["depth_below_ground_m"]) for r in rows
    ] == [
        (113.5, 110.25, 2.65),
        (113.4, 110.15, 2.65),
    ]


def test_drift_alert_opens_beyond_the_tolerance_and_resolves_within(
    rig: RecordsRig, influx_db: InfluxDatabase
) -> None:
    code, out, err = rig.gwmon("dips", "import", str(write(rig, "dips.csv", GOOD)))
    assert code == 0, err
    alerts = drift_alerts(influx_db)
    assert len(alerts) == 1  # P-2's 0.02 m is within its 0.05 m
    alert = alerts[0]
    assert alert["alert_id"] == "P-1.drift.20260101T020000Z"
    assert (alert["probe"], alert["state"], alert["severity"]) == ("P-1", "open", "warning")
    assert (alert["value"], alert["threshold"], alert["unit"]) == (0.04, 0.03, "m")
    assert alert["time"] == at(2)
    assert "logger minus dip +0.040 m, tolerance ±0.03 m" in alert["message"]
    assert "drift alert opened: P-1.drift.20260101T020000Z" in out

    # A later dip exactly at the tolerance (110.27 - 110.24 = 0.03) is not beyond it.
    later = "probe_id,time,depth_below_mp_m,by,note\nP-1,2026-01-01T03:00:00Z,3.26,M,\n"
    code, out, err = rig.gwmon("dips", "import", str(write(rig, "later.csv", later)))
    assert code == 0, err
    assert "drift alert resolved: P-1.drift.20260101T020000Z" in out
    states = [(a["state"], a["time"]) for a in drift_alerts(influx_db)]
    assert states == [("open", at(2)), ("resolved", at(3))]


def test_a_correction_that_meets_the_dip_resolves_the_drift_alert(
    rig: RecordsRig, influx_db: InfluxDatabase
) -> None:
    assert rig.gwmon("dips", "import", str(write(rig, "dips.csv", GOOD)))[0] == 0
    code, out, err = rig.gwmon(
        "corrections", "add", "--probe", "P-1", "--quantity", "level", "--kind", "offset",
        "--from", iso(0), "--to", iso(3), "--value", "-0.04", "--by", "A", "--why", "Dip",
    )  # fmt: skip
    assert code == 0, err
    assert "drift alert resolved: P-1.drift.20260101T020000Z" in out
    last = drift_alerts(influx_db)[-1]
    assert last["state"] == "resolved"
    assert "agrees with the logger after correction P-1.level.c1" in last["message"]
    code, out, err = rig.gwmon("corrections", "revert", "P-1.level.c1", "--by", "A", "--why", "x")
    assert code == 0, err
    assert "drift alert opened" in out  # a new alert: the old one stays resolved
    assert [a["state"] for a in drift_alerts(influx_db)] == ["open", "resolved", "open"]


def test_drift_from_dips_fills_the_end_value(rig: RecordsRig) -> None:
    assert rig.gwmon("dips", "import", str(write(rig, "dips.csv", GOOD)))[0] == 0
    code, out, err = rig.gwmon(
        "corrections", "add", "--probe", "P-1", "--quantity", "level", "--kind", "drift",
        "--from", iso(0), "--to", iso(2), "--from-dips", "--by", "A", "--why", "Drift",
    )  # fmt: skip
    assert code == 0, err
    assert "end value -0.04 from the dips" in out
    # 0 at hour 0, -0.02 at hour 1, -0.04 at hour 2 (meets the dip), hour 3 outside.
    assert rig.corrected_values() == [110.29, 110.25, 110.27]


def _drift_alert(message: str) -> Alert:
    """An open drift alert of P-1: the logger 0.04 m off the dip (tolerance 0.03 m)."""
    return Alert(
        alert_id="P-1.drift.20260101T020000Z",
        probe="P-1",
        site="Teststelle",
        municipality="Thallwitz",
        kind=AlertKind.DRIFT,
        severity=Severity.WARNING,
        state=AlertState.OPEN,
        opened_at=datetime(2026, 1, 1, 2, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, 2, tzinfo=UTC),
        value=0.04,
        threshold=0.03,
        unit="m",
        message=message,
    )


def test_drift_alerts_go_to_maintenance() -> None:
    alert = _drift_alert("m")
    settings = MailSettings.model_validate(
        {"maintenance": ["wartung@example.org"], "operators": ["ops@example.org"]}
    )
    assert MailRouter(settings).audience_keys(alert) == [MAINTENANCE]


def test_drift_mail_in_german_and_english() -> None:
    alert = _drift_alert("The level logger of P-1 reads 0.040 m above the manual dip")
    notice = Notice("opened", f"{alert.alert_id}:opened", alert, 0.0)
    texts = {}
    languages: tuple[Literal["de"], Literal["en"]] = ("de", "en")
    for lang in languages:
        ctx = RenderContext(
            lang=lang,
            audience="Instandhaltung",
            now=datetime(2026, 1, 1, 3, tzinfo=UTC),
            late_after_s=900.0,
            reminder_every=None,
        )
        section = Section(notice=notice, dashboard_url="https://grafana.example.org/d/x")
        texts[lang] = (subject(notice, lang), render_plain([section], ctx))
    de_subject, de_body = texts["de"]
    en_subject, en_body = texts["en"]
    assert de_subject.startswith("[gwmon] SONDE WEICHT VOM ABSTICH AB")
    assert en_subject.startswith("[gwmon] LOGGER DRIFT AGAINST MANUAL DIP")
    assert "Abweichung Sonde − Abstich: +0,040 m" in de_body
    assert "Toleranz: ± 0,030 m" in de_body
    assert "Handmessung" in de_body
    assert "Logger minus dip: +0.040 m" in en_body
    assert "Tolerance: ± 0.030 m" in en_body
    assert "reads 0.040 m above the manual dip" in en_body  # the detail line
