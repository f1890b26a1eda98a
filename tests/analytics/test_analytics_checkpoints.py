"""The evaluator's checkpoints live in the state file: a restart does not change which
late readings a prune leaves in reach, nor anything else the observer decides
(docs/quality-control.md, "Late and duplicate readings")."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

from analytics.analytics_helpers import (
    HOUR,
    NS,
    T0,
    Recorder,
    observer,
    reading,
    registry,
    summary,
    write_config,
)
from gwmon.analytics import AnalyticsStats
from gwmon.ingest import GwmonConfig, Reading
from gwmon.ingest.devservers import InfluxServer
from gwmon.storage import InfluxClient

# 20 h: checkpoints every 2 h, so with hourly readings a prune's cutoff (newest - 20 h)
# falls between two checkpoints every other hour, and `base` moves to the one before it.
HORIZON = "reorder_horizon_s = 72000.0"
TABLES = ("history", "probe_state", "alerts", "series", "checkpoints")
FIXTURE = Path(__file__).parent / "fixtures" / "analytics-state-v1.sql"


def batches() -> list[list[Reading]]:
    """120 hourly nitrate readings (breaches, warnings), one a batch, each followed by a
    batch re-sending hours 22..20 before it with other values: late readings around the
    prunes' cutoffs (newest - 20 h), some in reach and some too late."""
    values = [42 + 12 * math.sin(i / 9) + (0.3 if i % 3 else -0.2) for i in range(120)]
    out: list[list[Reading]] = []
    for newest, value in enumerate(values):
        out.append([reading(newest, round(value, 2))])
        late = [
            reading(i, round(values[i] + 0.7, 2), lag_s=(newest - i) * HOUR + 60)
            for i in range(max(newest - 22, 0), max(newest - 19, 0))
        ]
        if late:
            out.append(late)
    return out


def state_tables(config: GwmonConfig) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the observer keeps in its state file but the outbox (whose ids differ
    when some were delivered before a restart)."""
    path = Path(config.source).parent / "state" / "analytics.sqlite3"
    with sqlite3.connect(path) as db:
        present = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        return {
            table: sorted(db.execute(f"SELECT * FROM {table}"))
            for table in TABLES
            if table in present
        }


def run(
    config: GwmonConfig, store: InfluxClient, parts: list[list[list[Reading]]]
) -> tuple[list[object], list[str], list[tuple[int, int, int]]]:
    """Feed each part of batches to an observer of its own (a restart between parts):
    the alerts at the end, the events announced, each part's (too_late, replays,
    duplicates)."""
    events: list[str] = []
    counts: list[tuple[int, int, int]] = []
    alerts: list[object] = []
    for part in parts:
        obs = observer(config, registry(), store)
        recorder = Recorder()
        obs.add_listener(recorder)
        try:
            for batch in part:
                obs.batch_stored(batch)
            alerts = list(summary(obs))
            stats: AnalyticsStats = obs.stats
            counts.append((stats.too_late, stats.replays, stats.duplicates))
        finally:
            obs.close()
        events.extend(recorder.ids())
    return alerts, events, counts


def test_a_restart_leaves_the_prunes_and_everything_else_unchanged(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    """The same batches, to one observer and to one restarted in the middle: the same
    state file (base, current, retained readings, alerts, checkpoints), alerts, events
    and counts of too-late readings. Before the checkpoints were kept in the state file,
    the first prunes after the restart fed `base` forward to the exact cutoff, so late
    readings between the last checkpoint and the cutoff counted as too late."""
    items = batches()
    one_db, restarted_db = influxdb.new_database(), influxdb.new_database()
    one = write_config(
        tmp_path / "one", influx_url=one_db.url, database=one_db.name, analytics=HORIZON
    )
    restarted = write_config(
        tmp_path / "restarted",
        influx_url=restarted_db.url,
        database=restarted_db.name,
        analytics=HORIZON,
    )
    middle = len(items) // 2
    alerts, events, counts = run(one, InfluxClient(one.influxdb), [items])
    alerts_r, events_r, counts_r = run(
        restarted, InfluxClient(restarted.influxdb), [items[:middle], items[middle:]]
    )
    opened = [e for e in events if ".breach." in e and e.endswith(":opened")]
    assert len(set(opened)) >= 2  # the series has alarms
    too_late, replays, duplicates = counts[0]
    assert too_late > 0 and replays > 0 and duplicates > 0  # every kind of late reading
    assert [sum(c[i] for c in counts_r) for i in range(3)] == [too_late, replays, duplicates]
    assert alerts_r == alerts
    assert events_r == events
    tables = state_tables(one)
    assert state_tables(restarted) == tables
    assert tables["checkpoints"]  # the state file holds them
    assert sorted(one_db.rows('SELECT * FROM "qc"'), key=str) == sorted(
        restarted_db.rows('SELECT * FROM "qc"'), key=str
    )


def test_a_prune_moves_base_to_a_stored_checkpoint_after_a_restart(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    """After a restart, the prune takes the checkpoint the state file holds (a grid time
    before the cutoff), so a late reading at that grid time is still evaluated (it
    replaces the reading there) instead of counting as too late."""
    database = influxdb.new_database()
    config = write_config(
        tmp_path, influx_url=database.url, database=database.name, analytics=HORIZON
    )
    store = InfluxClient(config.influxdb)
    _, _, first = run(config, store, [[[reading(i, 40.0 + i % 4) for i in range(22)]]])
    # 23 h: newest 22 h, cutoff 2 h, and the prune waits for the oldest to be 2 h (a
    # tenth of the horizon) before the cutoff, so it comes with the reading at 23 h:
    # cutoff 3 h, the newest checkpoint at or before it is the one at 2 h.
    late_at = 2
    _, _, second = run(
        config,
        store,
        [[[reading(22, 41.0)], [reading(23, 42.0)], [reading(late_at, 47.5, lag_s=22 * HOUR)]]],
    )
    assert first == [(0, 0, 0)]
    assert second == [(0, 1, 0)]  # the late reading replayed, none too late
    tables = state_tables(config)
    oldest = min(tables["history"], key=lambda row: int(row[2]))
    assert oldest[2:4] == ((T0 + late_at * HOUR) * NS, 47.5)  # the late value, evaluated


def test_a_state_file_without_the_checkpoint_table_opens_and_prunes(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    """A state file written before the checkpoints were kept (no table): opening it
    creates the table; the readings after the file's are evaluated and pruned to the
    horizon (the first prune feeds forward: no checkpoint yet), and their checkpoints
    are stored."""
    database = influxdb.new_database()
    config = write_config(
        tmp_path, influx_url=database.url, database=database.name, analytics=HORIZON
    )
    (tmp_path / "state").mkdir()
    with sqlite3.connect(tmp_path / "state" / "analytics.sqlite3") as db:
        db.executescript(FIXTURE.read_text(encoding="utf-8"))
        assert not db.execute(
            "SELECT name FROM sqlite_master WHERE name = 'checkpoints'"
        ).fetchall()
    newest_s = max(time_ns for _, _, time_ns in state_tables_raw(tmp_path)) // NS
    start = (newest_s - T0) // HOUR + 1
    _, _, counts = run(
        config, InfluxClient(config.influxdb), [[[reading(start + i, 30.0)] for i in range(60)]]
    )
    assert counts == [(0, 0, 0)]
    tables = state_tables(config)
    times = sorted(row[2] for row in tables["history"] if row[0] == "P-1" and row[1] == "nitrate")
    newest = (T0 + (start + 59) * HOUR) * NS
    assert times[-1] == newest
    assert newest - times[0] <= 72000 * NS * 1.1 + HOUR * NS  # pruned to the horizon
    assert tables["checkpoints"]  # the table exists now and holds checkpoints


def state_tables_raw(directory: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(directory / "state" / "analytics.sqlite3") as db:
        return list(db.execute("SELECT probe, quantity, time_ns FROM history"))
