"""End to end: simulated probes (gwmon_sim) -> real Mosquitto -> IngestService -> real
InfluxDB, with the analytics observer attached. Expected alarm times are computed here
from the simulator's own ground truth with the documented rule, not with gwmon's code."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

import gwmon_sim
from analytics.analytics_helpers import NS, Recorder, write_config
from gwmon.analytics import AlertKind, AlertState, AnalyticsObserver, build_observer
from gwmon.ingest import IngestService, load_registry
from gwmon.ingest.devservers import InfluxDatabase, InfluxServer, MosquittoServer
from gwmon.storage import InfluxClient

Point3 = tuple[int, float, tuple[str, ...]]

REGISTRY = Path(__file__).resolve().parents[2] / "examples" / "registry-wertvoll.csv"

HEAD = """
[scenario]
name = "{name}"
start = "2026-09-01T00:00:00Z"
days = {days}
interval_s = 3600
seed = 3
probes = {probes}
[defaults]
nitrate_record = "nitrate"
level_record = "depth"
"""


def scenario(name: str, probes: list[str], events: str, days: int = 4) -> gwmon_sim.Scenario:
    text = HEAD.format(name=name, days=days, probes=str(probes).replace("'", '"')) + events
    return gwmon_sim.parse_scenario(text)


def run_pipeline(
    tmp: Path,
    mosquitto: MosquittoServer,
    influx_db: InfluxDatabase,
    scen: gwmon_sim.Scenario,
    client_id: str,
) -> tuple[AnalyticsObserver, Recorder, IngestService]:
    """Publish the whole scenario through the real broker into a running IngestService
    with analytics; return the (closed) observer, its recorded events and the ingest."""
    config = write_config(
        tmp,
        influx_url=influx_db.url,
        database=influx_db.name,
        mqtt_url=mosquitto.url,
        client_id=client_id,
    )
    registry = load_registry(REGISTRY)
    obs = build_observer(config, registry, InfluxClient(config.influxdb))
    recorder = Recorder()
    obs.add_listener(recorder)
    service = IngestService(config, registry, observers=[obs])
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not service.connected:
        assert time.monotonic() < deadline, "ingest did not connect"
        time.sleep(0.05)
    fleet = gwmon_sim.Fleet(scen, REGISTRY, mosquitto.url)
    summary = fleet.run(drain_timeout_s=30)
    assert summary.done
    expected = sum(
        sum(1 for s in c.samples if s.sent_value is not None)
        for c in gwmon_sim.simulate(scen, REGISTRY)
    )
    # depth also yields a derived level reading per cycle
    deadline = time.monotonic() + 30
    while obs.stats.readings - obs.stats.duplicates < expected:  # distinct readings
        assert time.monotonic() < deadline, f"{obs.stats.readings} of >= {expected} readings"
        time.sleep(0.1)
    time.sleep(0.5)
    service.stop()
    thread.join(20)
    assert not thread.is_alive()
    return obs, recorder, service


def truth(scen: gwmon_sim.Scenario, probe_id: str, quantity: str = "nitrate") -> list[Point3]:
    out: list[Point3] = []
    for cycle in gwmon_sim.simulate(scen, REGISTRY):
        if cycle.probe_id != probe_id:
            continue
        for sample in cycle.samples:
            if sample.quantity == quantity and sample.sent_value is not None:
                out.append((cycle.t_stamp, sample.sent_value, sample.faults))
    return out


def documented_rule(
    points: list[Point3],
    threshold: float = 50.0,
    release: float = 47.5,
    n_open: int = 2,
    n_close: int = 2,
) -> list[tuple[int, int | None]]:
    """docs/quality-control.md: open at the first of n_open consecutive values > threshold,
    close at the first of n_close consecutive values < release (times in s)."""
    episodes: list[tuple[int, int | None]] = []
    run: list[int] = []
    is_open, opened = False, 0
    for t, v, _ in points:
        if not is_open:
            run = [*run, t] if v > threshold else []
            if len(run) == n_open:
                is_open, opened, run = True, run[0], []
        else:
            run = [*run, t] if v < release else []
            if len(run) == n_close:
                episodes.append((opened, run[0]))
                is_open, run = False, []
    if is_open:
        episodes.append((opened, None))
    return episodes


def seconds(moment: datetime | None) -> int | None:
    return None if moment is None else round(moment.timestamp())


def test_genuine_breach_opens_exactly_one_breach_alert(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    scen = scenario(
        "breach",
        ["TH-02"],
        """
[[events]]
probe = "TH-02"
kind = "nitrate_episode"
day = 1
days = 2
target_mg_l = 62.0
ramp_hours = 24
""",
    )
    points = truth(scen, "TH-02")
    assert not any(faults for _, _, faults in points)
    [(opened, resolved)] = documented_rule(points)
    obs, recorder, service = run_pipeline(tmp_path, mosquitto, influx_db, scen, "e2e-breach")
    breaches = [a for a in obs.alerts() if a.kind is AlertKind.BREACH]
    assert len(breaches) == 1
    breach = breaches[0]
    assert (seconds(breach.opened_at), seconds(breach.resolved_at)) == (opened, resolved)
    assert breach.state is AlertState.RESOLVED
    assert resolved is not None
    assert breach.value == max(v for t, v, _ in points if opened <= t < resolved)
    assert [
        a for a in obs.alerts() if a.kind is AlertKind.SENSOR_FAULT and a.quantity == "nitrate"
    ] == []
    assert next(e.event_id for e in recorder.events if e.alert.kind is AlertKind.BREACH) == (
        f"TH-02.breach.{time.strftime('%Y%m%dT%H%M%S', time.gmtime(opened))}Z:opened"
    )
    stored = influx_db.rows(
        'SELECT last("state") AS state, last("resolved_at_s") AS r FROM "alert" '
        'WHERE "kind" = \'breach\' GROUP BY "probe"'
    )
    assert [(r["probe"], r["state"], r["r"]) for r in stored] == [("TH-02", "resolved", resolved)]
    assert service.counters.observer_errors == 0


def test_injected_spike_opens_sensor_fault_and_no_breach(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    scen = scenario(
        "spike",
        ["TH-02"],  # ~27 mg/L: far from the warning threshold
        """
[[events]]
probe = "TH-02"
kind = "spike"
day = 1.5
quantity = "nitrate"
value = 95.0
""",
        days=3,
    )
    points = truth(scen, "TH-02")
    assert max(v for _, v, faults in points if not faults) < 35.0
    spiked = [(t, v) for t, v, faults in points if "spike" in faults]
    assert len(spiked) == 1 and spiked[0][1] == 95.0
    spike_t = spiked[0][0]
    after = [t for t, _, _ in points if t > spike_t]
    obs, _, _ = run_pipeline(tmp_path, mosquitto, influx_db, scen, "e2e-spike")
    kinds = sorted(a.kind.value for a in obs.alerts() if a.quantity in ("nitrate", None))
    assert kinds == ["sensor_fault"]
    fault = next(a for a in obs.alerts() if a.kind is AlertKind.SENSOR_FAULT)
    assert (seconds(fault.opened_at), seconds(fault.resolved_at)) == (spike_t, after[0])
    assert fault.value == 95.0
    rows = influx_db.rows('SELECT * FROM "qc" WHERE "quantity" = \'nitrate\'')
    assert [(r["time"] // NS, r["flag"], r["value"]) for r in rows] == [(spike_t, "spike", 95.0)]


OUTAGE_EVENTS = """
[[events]]
probe = "LE-02"
kind = "nitrate_episode"
day = 1.1
days = 0.4
target_mg_l = 60.0
ramp_hours = 3
"""


def comparable(obs: AnalyticsObserver) -> list[tuple[object, ...]]:
    return [
        (a.alert_id, a.kind.value, a.state.value, a.value, seconds(a.resolved_at), a.withdrawn)
        for a in obs.alerts()
        if a.kind is not AlertKind.STALE
    ]


def test_offline_then_backfill_gives_the_same_alerts_as_live(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx_server_db_pair: tuple[InfluxDatabase, InfluxDatabase],
) -> None:
    live_db, backfill_db = influx_server_db_pair
    live_scen = scenario("live", ["LE-01", "LE-02"], OUTAGE_EVENTS, days=3)
    offline = (
        OUTAGE_EVENTS
        + """
[[events]]
probe = "LE-02"
kind = "offline"
day = 1
days = 1

[[events]]
probe = "LE-02"
kind = "duplicate"
day = 0
probability = 0.3
"""
    )
    backfill_scen = scenario("backfill", ["LE-01", "LE-02"], offline, days=3)
    live, _, _ = run_pipeline(tmp_path / "live", mosquitto, live_db, live_scen, "e2e-live")
    late, _, _ = run_pipeline(tmp_path / "late", mosquitto, backfill_db, backfill_scen, "e2e-late")
    # the same readings were stored, but LE-02's day 1 arrived a simulated day late
    query = 'SELECT "value" FROM "reading" WHERE "probe" = \'LE-02\' AND "quantity" = \'nitrate\''
    assert live_db.rows(query) == backfill_db.rows(query)
    lags = backfill_db.rows('SELECT max("lag_s") FROM "reading" WHERE "probe" = \'LE-02\'')
    assert lags[0]["max"] >= 0  # arrival is wall clock; the sim runs faster than real time
    expected = comparable(live)
    [breach] = [a for a in live.alerts() if a.probe == "LE-02" and a.kind is AlertKind.BREACH]
    start = live_scen.resolve_start(0)
    opened, resolved = seconds(breach.opened_at), seconds(breach.resolved_at)
    assert opened is not None and resolved is not None
    assert start + 86400 < opened < resolved < start + 2 * 86400
    assert comparable(late) == expected
    assert late.stats.duplicates > 0  # the probe re-sent packs: recognised, no effect


@pytest.fixture
def influx_server_db_pair(influxdb: InfluxServer) -> tuple[InfluxDatabase, InfluxDatabase]:
    return influxdb.new_database(), influxdb.new_database()


def test_cli_ack_reaches_the_running_service(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    """`gwmon alerts ack` in another process-like path (the CLI handler, writing to
    InfluxDB) while `IngestService` runs: the service takes the acknowledgement over on
    its next poll and announces it; its later writes keep the alert acknowledged."""
    import argparse  # noqa: PLC0415

    from gwmon.analytics.cli import register_cli  # noqa: PLC0415

    scen = scenario(
        "open-breach",
        ["TH-02"],
        """
[[events]]
probe = "TH-02"
kind = "nitrate_episode"
day = 1
target_mg_l = 62.0
ramp_hours = 12
""",
        days=2,
    )
    config = write_config(
        tmp_path,
        influx_url=influx_db.url,
        database=influx_db.name,
        mqtt_url=mosquitto.url,
        client_id="e2e-ack",
        analytics="ack_poll_interval_s = 0.2",
    )
    (tmp_path / "registry.csv").write_bytes(REGISTRY.read_bytes())
    registry = load_registry(REGISTRY)
    obs = build_observer(config, registry, InfluxClient(config.influxdb))
    recorder = Recorder()
    obs.add_listener(recorder)
    service = IngestService(config, registry, observers=[obs])
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not service.connected:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert gwmon_sim.Fleet(scen, REGISTRY, mosquitto.url).run(drain_timeout_s=30).done
        deadline = time.monotonic() + 30
        while not any(a.kind is AlertKind.BREACH for a in obs.open_alerts()):
            assert time.monotonic() < deadline, "no breach opened"
            time.sleep(0.1)
        breach = next(a for a in obs.open_alerts() if a.kind is AlertKind.BREACH)
        parser = argparse.ArgumentParser(prog="gwmon")
        parent = argparse.ArgumentParser(add_help=False)
        parent.add_argument("--config", type=Path)
        register_cli(parser.add_subparsers(dest="command", required=True), parent)
        args = parser.parse_args(
            [
                "alerts",
                "ack",
                breach.alert_id,
                "--config",
                str(tmp_path / "gwmon.toml"),
                "--by",
                "Stabsstelle Leipzig",
                "--comment",
                "Probenahme veranlasst",
            ]
        )
        assert args.handler(args) == 0
        deadline = time.monotonic() + 10
        while f"{breach.alert_id}:acknowledged" not in recorder.ids():
            assert time.monotonic() < deadline, "the running service did not take the ack over"
            time.sleep(0.1)
        mine = next(a for a in obs.open_alerts() if a.alert_id == breach.alert_id)
        assert (mine.state, mine.acked_by, mine.ack_comment) == (
            AlertState.ACKNOWLEDGED,
            "Stabsstelle Leipzig",
            "Probenahme veranlasst",
        )
    finally:
        service.stop()
        thread.join(20)
    last = influx_db.rows(
        f'SELECT last("state") AS state FROM "alert" WHERE "alert_id" = \'{breach.alert_id}\''
    )
    assert last[0]["state"] == "acknowledged"
    assert recorder.ids().count(f"{breach.alert_id}:acknowledged") == 1
