"""`run_trend` and the CLI against a real InfluxDB fixture."""

from __future__ import annotations

import argparse
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from analytics.analytics_helpers import NS, Recorder, observer, probe, registry, write_config
from gwmon.analytics import TrendSettings, mann_kendall, run_trend
from gwmon.analytics.cli import register_cli
from gwmon.ingest import GwmonConfig, Registry
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import InfluxClient, Point

Setup = tuple[GwmonConfig, InfluxClient, Registry, np.ndarray, np.ndarray]

DAY = 86400
START = 1_609_459_200  # 2021-01-01 00:00 UTC


def write_readings(store: InfluxClient, probe_id: str, points: list[tuple[int, float]]) -> None:
    tags = {
        "probe": probe_id,
        "site": "Teststelle",
        "municipality": "Thallwitz",
        "quantity": "nitrate",
    }
    store.write_points(
        Point("reading", tags, {"value": v, "lag_s": 1.0}, t * NS) for t, v in points
    )


def flag(store: InfluxClient, probe_id: str, t: int, value: float, name: str) -> None:
    tags = {
        "probe": probe_id,
        "site": "Teststelle",
        "municipality": "Thallwitz",
        "quantity": "nitrate",
        "flag": name,
    }
    store.write_points(
        [Point("qc", tags, {"value": value, "detector": name, "detail": "x"}, t * NS)]
    )


@pytest.fixture
def setup(tmp_path: Path, influx_db: InfluxDatabase) -> Setup:
    config = write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name)
    store = InfluxClient(config.influxdb)
    rng = np.random.default_rng(7)
    days = np.arange(3 * 365)
    rising = 30 + 4.0 * days / 365.25 + rng.normal(0, 1.0, len(days))  # +4 mg/L/a
    flat = 25 + rng.normal(0, 1.0, len(days))
    # RISE: daily values at 06:00 plus a second reading at 18:00 that must be thinned away
    write_readings(
        store,
        "RISE",
        [(START + int(d) * DAY + 6 * 3600, float(v)) for d, v in zip(days, rising, strict=True)],
    )
    write_readings(store, "RISE", [(START + int(d) * DAY + 18 * 3600, 500.0) for d in days[:3]])
    # a spike flagged by QC is excluded from the test
    write_readings(
        store, "FLAT", [(START + int(d) * DAY, float(v)) for d, v in zip(days, flat, strict=True)]
    )
    write_readings(store, "FLAT", [(START + 400 * DAY + 3600, 480.0)])
    flag(store, "FLAT", START + 400 * DAY + 3600, 480.0, "spike")
    write_readings(store, "FEW", [(START + d * DAY, 10.0 + d) for d in range(4)])
    # values below the LOQ (0.5) count as 0.25
    write_readings(
        store,
        "LOQ",
        [(START + d * 100 * DAY, v) for d, v in enumerate([0.1, 0.2, 0.4, 1.0, 2.0, 3.0])],
    )
    reg = registry(probe("RISE"), probe("FLAT"), probe("FEW"), probe("LOQ"), probe("NONE"))
    return config, store, reg, rising, flat


def test_run_trend_stores_results_and_opens_a_trend_alert(
    setup: Setup, influx_db: InfluxDatabase
) -> None:
    _config, store, reg, rising, _flat = setup
    settings = TrendSettings()
    reports = {
        r.probe.probe_id: r
        for r in run_trend(store, reg, settings, now=datetime(2026, 1, 1, tzinfo=UTC))
    }
    rise = reports["RISE"]
    assert rise.used_values == 3 * 365  # the 18:00 values of the first three days are not used
    expected = mann_kendall(
        [START + d * DAY + 6 * 3600 for d in range(3 * 365)], rising.tolist(), loq=0.5
    )
    assert rise.result == expected
    assert rise.result.verdict == "rising"
    assert rise.result.slope_per_year == pytest.approx(4.0, abs=0.3)
    assert rise.result.reversal_start_reached is True  # values above 37.5 near the end
    assert rise.alert_action == "opened"
    assert rise.alert is not None
    assert rise.alert.alert_id == "RISE.trend.20231231T060000Z"
    flat_report = reports["FLAT"]
    assert flat_report.flagged_excluded == 1
    assert flat_report.used_values == 3 * 365
    assert flat_report.result.verdict == "no_trend"
    assert flat_report.alert_action is None
    few = reports["FEW"].result
    assert (few.verdict, few.reason) == (
        "insufficient",
        "4 values; the trend test needs at least 5 single values",
    )
    assert reports["NONE"].result.n == 0
    loq = reports["LOQ"].result
    assert (loq.below_loq, loq.s) == (3, 12)  # three tied 0.25s: 15 pairs - 3 tied = 12
    stored = {r["probe"]: r for r in influx_db.rows('SELECT * FROM "trend"')}
    assert set(stored) == {"RISE", "FLAT", "FEW", "LOQ", "NONE"}
    row = stored["RISE"]
    assert row["time"] == (START + (3 * 365 - 1) * DAY + 6 * 3600) * NS
    assert (row["n"], row["verdict"], row["reversal_start_reached"], row["quantity"]) == (
        1095,
        "rising",
        True,
        "nitrate",
    )
    assert row["s"] == expected.s and row["p"] == pytest.approx(expected.p, rel=1e-12)
    assert row["slope_per_year"] == pytest.approx(expected.slope_per_year, rel=1e-12)
    assert (row["first_s"], row["last_s"]) == (expected.first_s, expected.last_s)
    assert stored["FEW"]["verdict"] == "insufficient"
    assert stored["NONE"]["time"] == int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * NS
    alert = influx_db.rows('SELECT * FROM "alert" WHERE "kind" = \'trend\'')
    # LOQ: 0.25 0.25 0.25 1 2 3 -> S = 12, Var = (510 - 66)/18, z = 11/4.967 = 2.21: rising
    assert [(a["probe"], a["state"], a["alert_id"], a["unit"]) for a in alert] == [
        ("LOQ", "open", "LOQ.trend.20220516T000000Z", "mg/L/a"),
        ("RISE", "open", "RISE.trend.20231231T060000Z", "mg/L/a"),
    ]
    assert loq.p == pytest.approx(math.erfc(11 / math.sqrt(444 / 18) / math.sqrt(2)), rel=1e-12)
    assert "has been reached" in alert[1]["message"]
    assert "has not been reached yet" in alert[0]["message"]
    # Running again with the same data changes nothing.
    again = run_trend(store, [reg.probes["RISE"]], settings)
    assert again[0].alert_action is None
    # Newer data without a trend resolves it (a new run over the newest 400 days only).
    last = START + 3 * 365 * DAY
    write_readings(
        store, "RISE", [(last + d * DAY, 40.0 + (1 if d % 2 else -1)) for d in range(400)]
    )
    resolved = run_trend(
        store, [reg.probes["RISE"]], settings, since=datetime.fromtimestamp(last, tz=UTC)
    )
    assert resolved[0].result.verdict == "no_trend"
    assert resolved[0].alert_action == "resolved"
    states = influx_db.rows('SELECT * FROM "alert" WHERE "probe" = \'RISE\'')
    assert [(s["state"], s["time"]) for s in states] == [
        ("open", (START + (3 * 365 - 1) * DAY + 6 * 3600) * NS),
        ("resolved", (last + 399 * DAY) * NS),
    ]
    assert states[1]["resolved_at_s"] == last + 399 * DAY


def test_running_service_announces_trend_alerts_from_the_cli(
    setup: Setup, influx_db: InfluxDatabase
) -> None:
    config, store, reg, _, _ = setup
    obs = observer(config, reg)
    recorder = Recorder()
    obs.add_listener(recorder)
    run_trend(store, reg, TrendSettings())
    obs.tick(2_000_000_000.0)
    expected = ["LOQ.trend.20220516T000000Z", "RISE.trend.20231231T060000Z"]
    assert [a.alert_id for a in obs.open_alerts()] == expected
    assert sorted(recorder.ids()) == [f"{aid}:opened" for aid in expected]
    obs.tick(2_000_000_100.0)  # next poll: nothing new
    assert len(recorder.events) == 2
    obs.close()


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="gwmon")
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", type=Path)
    sub = parser.add_subparsers(dest="command", required=True)
    register_cli(sub, parent)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_trend_formats_and_alert_list_and_ack(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    _config, _store, _reg, _, _ = setup
    path = tmp_path / "gwmon.toml"
    (tmp_path / "registry.csv").write_text(
        "probe_id,site,municipality,lat,lon,ground_level_m_nhn,nitrate_loq_mg_l\n"
        "RISE,Teststelle,Thallwitz,51.4,12.68,112.9,0.5\n"
        "FEW,Teststelle,Thallwitz,51.4,12.68,112.9,0.5\n",
        encoding="utf-8",
    )
    code, out, err = cli(["trend", "--config", str(path), "--format", "json"], capsys)
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [(r["probe"], r["verdict"], r["alert_action"]) for r in rows] == [
        ("RISE", "rising", "opened"),
        ("FEW", "insufficient", ""),
    ]
    code, out, _ = cli(
        ["trend", "--config", str(path), "--probe", "FEW", "--format", "csv"], capsys
    )
    assert code == 0
    assert out.splitlines()[0].startswith("probe,site,n,s,tau,z,p,slope_mg_l_per_year,verdict")
    assert out.splitlines()[1].startswith("FEW,Teststelle,4,,,,,,insufficient")
    code, out, _ = cli(["trend", "--config", str(path), "--probe", "RISE"], capsys)
    assert code == 0
    assert out.splitlines()[0].split() == [
        "probe",
        "n",
        "S",
        "tau",
        "p",
        "Sen",
        "mg/L/a",
        "verdict",
        ">=reversal",
        "alert",
        "note",
    ]
    assert out.splitlines()[1].split()[:2] == ["RISE", "1095"]
    code, _, err = cli(["trend", "--config", str(path), "--probe", "NOPE"], capsys)
    assert (code, err) == (2, "gwmon: probe 'NOPE' is not in the registry\n")
    code, _, err = cli(["trend", "--config", str(path), "--since", "last tuesday"], capsys)
    assert code == 2 and "--since 'last tuesday' is not a date" in err

    code, out, _ = cli(
        ["alerts", "list", "--config", str(path), "--open", "--format", "json"], capsys
    )
    listed = json.loads(out)
    assert [(a["alert_id"], a["state"]) for a in listed] == [
        ("RISE.trend.20231231T060000Z", "open")
    ]
    code, out, _ = cli(
        [
            "alerts",
            "ack",
            "RISE.trend.20231231T060000Z",
            "--config",
            str(path),
            "--by",
            "Herr Krause",
            "--comment",
            "Landwirt informiert",
        ],
        capsys,
    )
    assert code == 0 and out.startswith("acknowledged RISE.trend.20231231T060000Z (acknowledged)")
    code, out, _ = cli(
        ["alerts", "ack", "RISE.trend.20231231T060000Z", "--config", str(path), "--by", "x"], capsys
    )
    assert code == 0 and "already acknowledged by Herr Krause" in out
    code, _, err = cli(
        ["alerts", "ack", "RISE.trend.20200101T000000Z", "--config", str(path), "--by", "x"], capsys
    )
    assert (code, err) == (
        1,
        "gwmon: no alert RISE.trend.20200101T000000Z (see `gwmon alerts list`)\n",
    )
    code, _, err = cli(["alerts", "ack", "'; DROP", "--config", str(path), "--by", "x"], capsys)
    assert code == 2 and "is not an alert id" in err
    code, out, _ = cli(["alerts", "list", "--config", str(path)], capsys)
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["id", "state", "severity"]
    assert lines[1].split()[:3] == ["RISE.trend.20231231T060000Z", "acknowledged", "warning"]
    assert lines[1].rstrip().endswith("Herr Krause")
    assert lines[-1] == "1 alert(s)"
    assert not math.isnan(listed[0]["value"])


def test_cli_reports_config_errors_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[analytics.trend]\nalpha = 2\n", encoding="utf-8")
    (tmp_path / "registry.csv").write_text(
        "probe_id,site,municipality,lat,lon,ground_level_m_nhn\nA,s,m,51,12,100\n", encoding="utf-8"
    )
    code, _, err = cli(["trend", "--config", str(bad)], capsys)
    assert code == 2
    assert "analytics.trend.alpha" in err
