"""The observer against a real InfluxDB: storage contract, restart, acknowledgements,
stale probes, late readings, withdrawal."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from analytics.analytics_helpers import (
    HOUR,
    NS,
    T0,
    Recorder,
    observer,
    probe,
    reading,
    registry,
    series,
    summary,
    write_config,
)
from gwmon.analytics import AlertEventType, AlertState, StateLockedError, build_observer
from gwmon.config import ConfigError
from gwmon.ingest import GwmonConfig
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import InfluxClient


@pytest.fixture
def config(tmp_path: Path, influx_db: InfluxDatabase) -> GwmonConfig:
    return write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name)


def open_alert_rows(influx_db: InfluxDatabase) -> list[tuple[Any, ...]]:
    """The documented open-alerts query of docs/alerts.md."""
    rows = influx_db.rows(
        'SELECT last("state") AS state, last("alert_id") AS alert_id, last("value") AS value, '
        'last("opened_at_s") AS opened_at_s FROM "alert" GROUP BY "probe", "kind"'
    )
    return sorted(
        (r["probe"], r["kind"], r["alert_id"], r["state"], r["value"], r["opened_at_s"])
        for r in rows
        if r["state"] != "resolved"
    )


def test_breach_is_stored_per_contract_and_closed(
    config: GwmonConfig, influx_db: InfluxDatabase
) -> None:
    obs = build_observer(config, registry(), InfluxClient(config.influxdb))
    recorder = Recorder()
    obs.add_listener(recorder)
    obs.batch_stored(series([45.0, 50.5, 51.0]))
    obs.batch_stored(series([52.5], start=3))
    assert [a.alert_id for a in obs.open_alerts()] == [
        "P-1.warning.20251124T160000Z",
        "P-1.breach.20251124T170000Z",
    ]
    assert open_alert_rows(influx_db) == [
        ("P-1", "breach", "P-1.breach.20251124T170000Z", "open", 52.5, T0 + HOUR),
        ("P-1", "warning", "P-1.warning.20251124T160000Z", "open", 52.5, T0),
    ]
    rows = influx_db.rows('SELECT * FROM "alert" WHERE "kind" = \'breach\'')
    first = rows[0]
    assert first["time"] == (T0 + HOUR) * NS  # measurement time of the opening reading
    assert (first["severity"], first["site"], first["municipality"]) == (
        "critical",
        "Teststelle",
        "Thallwitz",
    )
    assert first["arrival_at_s"] == T0 + HOUR + 5
    assert (first["threshold"], first["unit"], first["value"]) == (50.0, "mg/L", 51.0)
    assert first["message"].startswith(
        "Nitrate at P-1 (Teststelle, Thallwitz) exceeded the GrwV Anlage 2 threshold value "
        "(Schwellenwert) of "
        "50 mg/L on 2025-11-24 17:00 UTC"
    )
    obs.batch_stored(series([47.0, 46.0, 45.0], start=4))
    obs.close()
    assert open_alert_rows(influx_db) == [
        ("P-1", "warning", "P-1.warning.20251124T160000Z", "open", 52.5, T0)
    ]
    last = influx_db.rows('SELECT * FROM "alert" WHERE "kind" = \'breach\'')[-1]
    assert (last["state"], last["resolved_at_s"], last["time"]) == (
        "resolved",
        T0 + 4 * HOUR,  # 47.0 at h4 and 46.0 at h5 are below 47.5: closed at h4
        (T0 + 4 * HOUR) * NS,
    )
    assert [e.event_id for e in recorder.events if "breach" in e.event_id] == [
        "P-1.breach.20251124T170000Z:opened",
        "P-1.breach.20251124T170000Z:updated:1764010800000000000",  # 52.5 at h3
        "P-1.breach.20251124T170000Z:resolved:1764014400000000000",
    ]


def test_qc_flags_are_stored_next_to_readings(
    config: GwmonConfig, influx_db: InfluxDatabase
) -> None:
    obs = observer(config, registry())
    obs.batch_stored(
        [*series([30.0, 30.2, 30.1, 30.3, 95.0, 30.2]), reading(2, 130.0, "temperature")]
    )
    obs.close()
    rows = influx_db.rows('SELECT * FROM "qc"')
    assert [(r["time"], r["quantity"], r["flag"], r["detector"], r["value"]) for r in rows] == [
        ((T0 + 2 * HOUR) * NS, "temperature", "range", "range", 130.0),
        ((T0 + 4 * HOUR) * NS, "nitrate", "spike", "spike", 95.0),
    ]
    assert rows[0]["detail"] == "130 above physical maximum 40"
    assert obs.open_alerts()[0].alert_id == "P-1.sensor_fault.20251124T180000Z"


def test_state_survives_restart_without_duplicates(
    config: GwmonConfig, influx_db: InfluxDatabase
) -> None:
    first = observer(config, registry())
    recorder = Recorder()
    first.add_listener(recorder)
    first.batch_stored(series([51.0, 52.0]))
    first.close()
    second = observer(config, registry())
    second.add_listener(recorder)
    assert [a.alert_id for a in second.open_alerts()] == [
        "P-1.breach.20251124T160000Z",
        "P-1.warning.20251124T160000Z",
    ]
    # A redelivery of the same batch after the restart changes nothing.
    second.batch_stored(series([51.0, 52.0]))
    # The run continues from the persisted machine state: one more value >= 50 updates.
    second.batch_stored(series([53.0, 47.0, 47.0], start=2))
    second.close()
    ids = recorder.ids()
    assert len(ids) == len(set(ids))
    # 53 (h2) raised the peak and 47, 47 (h3, h4) closed it within one batch: one
    # change, stored with the final state (peak 53) at the closing time h3.
    assert [i for i in ids if "breach" in i] == [
        "P-1.breach.20251124T160000Z:opened",
        "P-1.breach.20251124T160000Z:resolved:1764010800000000000",
    ]
    assert influx_db.count("alert", "\"kind\" = 'breach'", field="state") == 2
    assert next(a for a in second.alerts() if a.kind.value == "breach").value == 53.0


def test_second_observer_on_the_same_state_is_refused(config: GwmonConfig) -> None:
    obs = observer(config, registry())
    try:
        with pytest.raises(StateLockedError, match="in use by another process"):
            observer(config, registry())
    finally:
        obs.close()


def test_bad_registry_qc_column_stops_construction(config: GwmonConfig) -> None:
    bad = registry(probe(qc={"nitrate.spike.max_jmp": "3"}))
    with pytest.raises(ConfigError, match="unknown parameter 'max_jmp'"):
        observer(config, bad)


def test_acknowledge_from_another_thread_is_stored_and_announced(
    config: GwmonConfig, influx_db: InfluxDatabase
) -> None:
    obs = observer(config, registry())
    recorder = Recorder()
    obs.add_listener(recorder)
    obs.batch_stored(series([51.0, 52.0]))
    aid = "P-1.breach.20251124T160000Z"
    results = []
    at = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    thread = threading.Thread(
        target=lambda: results.append(
            obs.acknowledge(aid, by="Frau Lehmann", comment="Probe genommen", at=at)
        )
    )
    thread.start()
    thread.join()
    acked = results[0]
    assert (acked.state, acked.acked_by, acked.ack_comment, acked.acked_at) == (
        AlertState.ACKNOWLEDGED,
        "Frau Lehmann",
        "Probe genommen",
        at,
    )
    assert recorder.events[-1].event_id == f"{aid}:acknowledged"
    assert recorder.events[-1].type is AlertEventType.ACKNOWLEDGED
    assert obs.acknowledge(aid, by="x", comment=None, at=at) == acked  # idempotent
    with pytest.raises(KeyError):
        obs.acknowledge("P-1.breach.20200101T000000Z", by="x", comment=None, at=at)
    # A later change keeps the acknowledgement; resolving keeps it too.
    obs.batch_stored(series([55.0, 40.0, 40.0], start=2))
    obs.close()
    rows = influx_db.rows(f'SELECT * FROM "alert" WHERE "alert_id" = \'{aid}\'')
    assert [(r["state"], r.get("acked_by")) for r in rows] == [
        ("open", None),
        ("acknowledged", "Frau Lehmann"),  # the ack point, wall clock 2026-11-26 10:00
        ("resolved", "Frau Lehmann"),  # bumped after the ack so last() is the present state
    ]
    assert rows[1]["time"] == int(at.timestamp()) * NS
    assert rows[2]["time"] == rows[1]["time"] + 1000
    assert (rows[2]["resolved_at_s"], rows[2]["value"]) == (T0 + 3 * HOUR, 55.0)


def test_cli_style_ack_in_storage_is_picked_up_by_tick(
    config: GwmonConfig, influx_db: InfluxDatabase
) -> None:
    obs = observer(config, registry())
    recorder = Recorder()
    obs.add_listener(recorder)
    obs.batch_stored(series([51.0, 52.0]))
    aid = "P-1.breach.20251124T160000Z"
    # What `gwmon alerts ack` writes (tested end to end in test_analytics_cli.py):
    from gwmon.analytics import alert_point  # noqa: PLC0415

    alert = next(a for a in obs.open_alerts() if a.alert_id == aid)
    ack_at = datetime(2026, 1, 1, tzinfo=UTC)
    acked = alert.with_changes(state=AlertState.ACKNOWLEDGED, acked_at=ack_at, acked_by="cli")
    InfluxClient(config.influxdb).write_points([alert_point(acked, int(ack_at.timestamp()) * NS)])
    obs.tick(T0 + 3 * HOUR)
    mine = next(a for a in obs.open_alerts() if a.alert_id == aid)
    assert (mine.state, mine.acked_by, mine.acked_at) == (AlertState.ACKNOWLEDGED, "cli", ack_at)
    assert recorder.events[-1].event_id == f"{aid}:acknowledged"
    # The running service now writes 'acknowledged', never 'open' over it.
    obs.batch_stored(series([56.0], start=2))
    obs.close()
    last = influx_db.rows(
        f'SELECT last("state") AS state FROM "alert" WHERE "alert_id" = \'{aid}\''
    )
    assert last[0]["state"] == "acknowledged"


def test_stale_probe_opens_after_silence_and_closes_when_data_returns(
    config: GwmonConfig, influx_db: InfluxDatabase
) -> None:
    two = registry(probe("P-1"), probe("P-2"))
    obs = observer(config, two)
    recorder = Recorder()
    obs.add_listener(recorder)
    obs.batch_stored([reading(0, 30.0, probe_id="P-1")])  # arrives T0 + 5 s
    arrival = T0 + 5
    obs.tick(arrival)  # first tick: P-2 never heard of, clock starts now
    obs.tick(arrival + 3 * HOUR)  # exactly 3 x 3600 s: not yet
    assert obs.open_alerts() == []
    obs.tick(arrival + 3 * HOUR + 1)
    stale = obs.open_alerts()
    assert [(a.alert_id, a.threshold, a.value) for a in stale] == [
        ("P-1.stale.20251124T190005Z", 10800.0, 10801.0),
        ("P-2.stale.20251124T190005Z", 10800.0, 10801.0),
    ]
    obs.tick(arrival + 5 * HOUR)  # still silent: no second alert
    assert len(obs.open_alerts()) == 2
    late = reading(1, 30.5, probe_id="P-1", lag_s=6 * HOUR)
    obs.batch_stored([late])
    assert [a.alert_id for a in obs.open_alerts()] == ["P-2.stale.20251124T190005Z"]
    resolved = next(a for a in obs.alerts() if a.alert_id == "P-1.stale.20251124T190005Z")
    assert resolved.resolved_at == datetime.fromtimestamp(late.arrival_ns / NS, tz=UTC)
    obs.close()


def test_late_reading_withdraws_an_alarm_that_did_not_hold(
    config: GwmonConfig, influx_db: InfluxDatabase
) -> None:
    obs = observer(config, registry())
    recorder = Recorder()
    obs.add_listener(recorder)
    obs.batch_stored([reading(0, 51.0), reading(2, 52.0)])  # h1 still missing
    assert next(a.alert_id for a in obs.open_alerts()) == "P-1.breach.20251124T160000Z"
    obs.batch_stored([reading(1, 45.0)])  # in measurement order: 51, 45, 52 -> no breach
    obs.close()
    assert [a.kind.value for a in obs.open_alerts()] == ["warning"]
    rows = summary(obs)
    assert (
        "P-1.breach.20251124T160000Z",
        "breach",
        "resolved",
        51.0 if False else 52.0,
        "2025-11-24T16:00:00+00:00",
        True,
    ) in rows
    assert recorder.ids()[-1] == "P-1.breach.20251124T160000Z:withdrawn"
    assert obs.stats.replays == 1
    assert open_alert_rows(influx_db) == [
        ("P-1", "warning", "P-1.warning.20251124T160000Z", "open", 52.0, T0)
    ]


def test_late_reading_changes_flags_and_stored_qc_follows(
    config: GwmonConfig, influx_db: InfluxDatabase
) -> None:
    obs = observer(config, registry())
    obs.batch_stored([*series([30.0, 30.2, 30.1]), reading(4, 31.0)])
    # h4: 31.0 vs median of 3 earlier values: fine. Now a late h3 makes h4 ... still fine,
    # but the late h3 itself is a spike (70 vs 30.1): flagged; later 31.0 is compared
    # against a window holding 70 and stays unflagged.
    obs.batch_stored([reading(3, 70.0)])
    rows = influx_db.rows('SELECT * FROM "qc"')
    assert [(r["time"], r["flag"]) for r in rows] == [((T0 + 3 * HOUR) * NS, "spike")]
    # Replace the spike value (InfluxDB keeps the last write): the flag disappears again.
    obs.batch_stored([reading(3, 30.4)])
    obs.close()
    assert influx_db.rows('SELECT * FROM "qc"') == []
    assert [a.state for a in obs.alerts()] == [AlertState.RESOLVED]  # the fault, withdrawn
    assert obs.alerts()[0].withdrawn is True


def test_readings_beyond_the_horizon_are_counted_not_evaluated(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    config = write_config(
        tmp_path,
        influx_url=influx_db.url,
        database=influx_db.name,
        analytics="reorder_horizon_s = 36000.0",
    )
    obs = observer(config, registry())
    obs.batch_stored(series([30.0 + 0.1 * i for i in range(30)]))
    obs.batch_stored([reading(2.5, 99.0)])  # 27.5 h behind the newest: beyond 10 h (+10 %)
    obs.close()
    assert obs.stats.too_late == 1
    assert influx_db.rows('SELECT * FROM "qc"') == []


def test_disabled_analytics_does_nothing_and_opens_no_state(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    config = write_config(
        tmp_path, influx_url=influx_db.url, database=influx_db.name, analytics="enabled = false"
    )
    obs = observer(config, registry())
    obs.batch_stored(series([51.0, 52.0, 53.0]))
    obs.tick(T0 + 10 * HOUR)
    obs.close()
    assert obs.open_alerts() == []
    assert not (tmp_path / "state").exists()
    assert influx_db.rows('SELECT * FROM "alert"') == []
    with pytest.raises(KeyError):
        obs.acknowledge("P-1.breach.20251124T160000Z", by="x", comment=None, at=datetime.now(UTC))


def test_cli_ack_after_the_service_resolved_keeps_it_resolved(
    config: GwmonConfig, influx_db: InfluxDatabase
) -> None:
    """CLI acknowledges (wall clock, later) an alert the service resolves (measurement
    time, earlier) before its next poll: the alert stays resolved, with the ack recorded,
    and the stored present state (last point) says resolved."""
    from gwmon.analytics import alert_point  # noqa: PLC0415

    obs = observer(config, registry())
    obs.batch_stored(series([51.0, 52.0]))
    aid = "P-1.breach.20251124T160000Z"
    alert = next(a for a in obs.open_alerts() if a.alert_id == aid)
    ack_at = datetime(2026, 1, 1, tzinfo=UTC)
    acked = alert.with_changes(state=AlertState.ACKNOWLEDGED, acked_at=ack_at, acked_by="cli")
    InfluxClient(config.influxdb).write_points([alert_point(acked, int(ack_at.timestamp()) * NS)])
    obs.batch_stored(series([40.0, 40.0], start=2))  # resolves it at h2, before the poll
    obs.tick(T0 + 5 * HOUR)
    obs.close()
    mine = next(a for a in obs.alerts() if a.alert_id == aid)
    assert (mine.state, mine.acked_by) == (AlertState.RESOLVED, "cli")
    assert aid not in [a.alert_id for a in obs.open_alerts()]
    last = influx_db.rows(
        f'SELECT last("state") AS state, last("acked_by") AS acked FROM "alert" '
        f"WHERE \"alert_id\" = '{aid}'"
    )
    assert (last[0]["state"], last[0]["acked"]) == ("resolved", "cli")


def test_failed_commit_leaves_memory_equal_to_the_state_file(
    config: GwmonConfig, influx_db: InfluxDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    obs = observer(config, registry())
    obs.batch_stored(series([51.0, 52.0]))
    before = summary(obs)
    from gwmon.analytics._state import StateStore  # noqa: PLC0415 - to inject the fault

    original = StateStore.commit

    def broken(self: StateStore, changes: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(StateStore, "commit", broken)
    with pytest.raises(OSError, match="disk full"):
        obs.batch_stored(series([40.0, 40.0], start=2))
    assert summary(obs) == before  # the uncommitted resolve is gone from memory too
    monkeypatch.setattr(StateStore, "commit", original)
    obs.batch_stored(series([40.0, 40.0], start=2))  # redelivered: now it counts
    obs.close()
    breach = next(a for a in obs.alerts() if a.kind.value == "breach")
    assert breach.state is AlertState.RESOLVED
