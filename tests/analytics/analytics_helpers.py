"""Helpers for the analytics tests: a small registry, configs, readings, an event recorder."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gwmon.analytics import AlertEvent, AnalyticsObserver
from gwmon.analytics._state import StateStore
from gwmon.ingest import GwmonConfig, Probe, Reading, Registry, load_config
from gwmon.storage import InfluxClient

NS = 1_000_000_000
T0 = 1_764_000_000  # 2025-11-24 16:00 UTC, a whole hour
HOUR = 3600


def probe(probe_id: str = "P-1", **changes: Any) -> Probe:
    base = Probe(
        probe_id=probe_id,
        site="Teststelle",
        municipality="Thallwitz",
        lat=51.4,
        lon=12.68,
        ground_level_m_nhn=112.9,
        expected_interval_s=3600,
        level_min_m_nhn=107.2,
        level_max_m_nhn=112.4,
        nitrate_loq_mg_l=0.5,
    )
    return replace(base, **changes)


def registry(*probes: Probe) -> Registry:
    items = probes or (probe(),)
    return Registry(probes={p.probe_id: p for p in items})


def write_config(
    directory: Path,
    *,
    influx_url: str = "http://127.0.0.1:9",
    database: str = "gwmon",
    analytics: str = "",
    mqtt_url: str = "mqtt://127.0.0.1:1883",
    client_id: str = "gwmon-test",
) -> GwmonConfig:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "gwmon.toml"
    path.write_text(
        f"""
[mqtt]
url = "{mqtt_url}"
client_id = "{client_id}"
[influxdb]
url = "{influx_url}"
database = "{database}"
flush_interval_s = 0.2
[registry]
path = "registry.csv"
[analytics]
state_dir = "state"
stale_startup_grace_s = 0.0
{analytics}
""",
        encoding="utf-8",
    )
    return load_config(path)


def reading(
    hour: float, value: float, quantity: str = "nitrate", probe_id: str = "P-1", lag_s: float = 5
) -> Reading:
    time_ns = int((T0 + hour * HOUR) * NS)
    return Reading(
        probe=probe_id,
        quantity=quantity,
        time_ns=time_ns,
        value=value,
        record_name=quantity,
        arrival_ns=time_ns + int(lag_s * NS),
    )


def series(values: Iterable[float], quantity: str = "nitrate", start: float = 0) -> list[Reading]:
    return [reading(start + i, v, quantity) for i, v in enumerate(values)]


class Recorder:
    """An AlertListener that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    def alert_event(self, event: AlertEvent) -> None:
        self.events.append(event)

    def ids(self) -> list[str]:
        return [event.event_id for event in self.events]


def observer(
    config: GwmonConfig, reg: Registry, store: InfluxClient | None = None
) -> AnalyticsObserver:
    return AnalyticsObserver(config, reg, store or InfluxClient(config.influxdb))


# The state file's tables as they are, in a stable order (the retained readings are
# compared as `StateStore.history` reads them: the `history` rows and the runs, `_runs.py`).
STATE_TABLES = {
    "probe_state": "SELECT * FROM probe_state ORDER BY probe",
    "alerts": "SELECT * FROM alerts ORDER BY alert_id",
    "series": "SELECT * FROM series ORDER BY probe, kind",
    "outbox": "SELECT kind, body FROM outbox ORDER BY id",
    "checkpoints": "SELECT * FROM checkpoints ORDER BY probe, boundary_ns",
}


def feed_and_dump(
    obs: AnalyticsObserver,
    batches: Iterable[Sequence[Reading]],
    state_dir: Path,
    tables: Mapping[str, str] = STATE_TABLES,
) -> tuple[dict[str, list[Any]], list[str], tuple[int, int, int, int]]:
    """Feed `batches` to `obs`, close it, and give what it left: the state file's
    `tables` (name → SELECT) plus the retained readings as `StateStore.history` reads
    them, the alert event ids, and the counts (readings, duplicates, too late, flags)."""
    recorder = Recorder()
    obs.add_listener(recorder)
    try:
        for batch in batches:
            obs.batch_stored(batch)
        stats = (obs.stats.readings, obs.stats.duplicates, obs.stats.too_late, obs.stats.flags)
    finally:
        obs.close()
    with sqlite3.connect(state_dir / "analytics.sqlite3") as db:
        dumped: dict[str, list[Any]] = {
            name: db.execute(select).fetchall() for name, select in tables.items()
        }
    state = StateStore(state_dir)
    try:
        dumped["history"] = list(state.history())
    finally:
        state.close()
    return dumped, recorder.ids(), stats


Row = tuple[str, str, str, float | None, str | None, bool]


def summary(obs: AnalyticsObserver) -> list[Row]:
    """Alerts as comparable tuples: id, kind, state, value, resolved_at, withdrawn."""
    return [
        (
            a.alert_id,
            a.kind.value,
            a.state.value,
            a.value,
            None if a.resolved_at is None else a.resolved_at.isoformat(),
            a.withdrawn,
        )
        for a in obs.alerts()
    ]


def valid(obs: AnalyticsObserver) -> list[Row]:
    return [row for row in summary(obs) if not row[5]]


def as_dict(rows: Iterable[Mapping[str, Any]], key: str) -> dict[Any, Mapping[str, Any]]:
    return {row[key]: row for row in rows}
