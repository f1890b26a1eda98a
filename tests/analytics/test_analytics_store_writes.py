"""Analytics writes go through the one StoreWriter (analytics/_delivery.py): a point
InfluxDB refuses is recorded in `rejected` and counted while the alert it belongs to is
kept and announced; while InfluxDB does not take writes (here: the database is missing)
the points wait in the outbox and are written once it does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from analytics.analytics_helpers import NS, T0, Recorder, observer, registry, series, write_config
from gwmon.analytics import TrendSettings, run_trend
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import InfluxClient, InfluxSettings, StoreWriteError


def poison(database: InfluxDatabase, line: str) -> None:
    """Write a foreign point first: InfluxDB keeps field types per shard (a week)."""
    response = requests.post(
        f"{database.url}/write", params={"db": database.name}, data=line, timeout=10
    )
    assert response.status_code == 204


def refusals(database: InfluxDatabase) -> list[tuple[str, str, str]]:
    rows = database.rows('SELECT * FROM "rejected"')
    return [(r["probe"], r["ingestor"], r["payload"].split(",", 1)[0]) for r in rows]


def test_refused_alert_points_are_recorded_counted_and_the_alerts_still_announced(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    poison(influx_db, f'alert,probe=foreign value="text",state="x" {T0 * NS}')
    config = write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name)
    obs = observer(config, registry())
    recorder = Recorder()
    obs.add_listener(recorder)
    obs.batch_stored(series([45.0, 50.5, 51.0]))
    assert recorder.ids() == [
        "P-1.warning.20251124T160000Z:opened",
        "P-1.breach.20251124T170000Z:opened",
    ]
    assert [a.alert_id for a in obs.open_alerts()] == [
        "P-1.warning.20251124T160000Z",
        "P-1.breach.20251124T170000Z",
    ]
    # Both alert points (float `value` in a shard where it is a string) are refused:
    # recorded with the probe, by the ingest's client id, and not tried again.
    assert refusals(influx_db) == [("P-1", "gwmon-test", "alert"), ("P-1", "gwmon-test", "alert")]
    assert obs.stats.store_refused == 2
    obs.tick(T0 + 3 * 3600)
    obs.close()
    assert obs.stats.store_refused == 2
    assert influx_db.rows('SELECT "alert_id" FROM "alert" WHERE "probe" = \'P-1\'') == []


def test_points_wait_while_the_database_is_missing_and_are_written_when_it_exists(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    later = f"{influx_db.name}_later"
    config = write_config(tmp_path, influx_url=influx_db.url, database=later)
    obs = observer(config, registry())
    recorder = Recorder()
    obs.add_listener(recorder)
    obs.batch_stored(series([45.0, 50.5, 51.0]))
    assert len(recorder.events) == 2  # announced at once: mail does not wait for InfluxDB
    assert obs.stats.store_errors == 1
    requests.post(f"{influx_db.url}/query", data={"q": f'CREATE DATABASE "{later}"'}, timeout=10)
    obs.tick(T0 + 3 * 3600)
    obs.close()
    stored = InfluxDatabase(influx_db.url, later).rows('SELECT "alert_id", "state" FROM "alert"')
    assert [(r["time"], r["alert_id"], r["state"]) for r in stored] == [
        (T0 * NS, "P-1.warning.20251124T160000Z", "open"),
        ((T0 + 3600) * NS, "P-1.breach.20251124T170000Z", "open"),
    ]
    assert len(recorder.events) == 2  # delivered once
    assert obs.stats.store_refused == 0


def test_a_refused_trend_point_is_recorded_and_fails_the_command(
    influx_db: InfluxDatabase, tmp_path: Path
) -> None:
    poison(influx_db, f'trend,probe=foreign n="text" {T0 * NS}')
    store = InfluxClient(
        write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name).influxdb
    )
    with pytest.raises(StoreWriteError, match=r"refused 1 point\(s\)"):
        run_trend(store, registry(), TrendSettings(), now=datetime.fromtimestamp(T0, tz=UTC))
    assert refusals(influx_db) == [("P-1", "gwmon-trend", "trend")]


def test_qc_withdrawals_are_data_and_quoted_on_the_way_out(influx_db: InfluxDatabase) -> None:
    """A withdrawal is stored as data and built into a DELETE when delivered: a probe id
    that looks like InfluxQL deletes nothing else; the DELETE text of older state files
    is read back only when it is exactly such a statement."""
    from gwmon.analytics._delivery import QcWithdrawal, withdrawal_from_old_statement  # noqa: PLC0415

    t = T0 * NS
    for probe in ("P-1", "P-2"):
        poison(influx_db, f"qc,probe={probe},quantity=nitrate,flag=spike value=1.0 {t}")
    hostile = QcWithdrawal("P-1' OR \"probe\" = 'P-2", "nitrate", "spike", t)
    assert QcWithdrawal.from_body(hostile.to_body()) == hostile
    InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name)).query(
        hostile.statement()
    )
    assert influx_db.count("qc") == 2
    plain = QcWithdrawal("P-1", "nitrate", "spike", t)
    old_text = (
        f'DELETE FROM "qc" WHERE "probe" = \'P-1\' AND "quantity" = \'nitrate\' '
        f"AND \"flag\" = 'spike' AND time >= {t} AND time <= {t}"
    )
    assert withdrawal_from_old_statement(old_text) == plain
    assert withdrawal_from_old_statement(old_text.replace("time <=", "time <")) is None
    assert withdrawal_from_old_statement("DROP MEASUREMENT qc") is None
    InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name)).query(
        plain.statement()
    )
    assert [r["probe"] for r in influx_db.rows('SELECT * FROM "qc"')] == ["P-2"]
