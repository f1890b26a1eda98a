"""A state file written by gwmon before the alert book and the derived codec
(fixtures/analytics-state-v1.sql, with an outbox a crash left undelivered) loads, and
its outbox reaches InfluxDB and the listeners exactly as the old code delivered it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from analytics.analytics_helpers import HOUR, T0, Recorder, observer, registry, write_config
from gwmon.analytics import AlertState
from gwmon.ingest.devservers import InfluxDatabase

FIXTURE = Path(__file__).parent / "fixtures" / "analytics-state-v1.sql"


def test_old_state_file_loads_and_its_outbox_is_delivered(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name)
    (tmp_path / "state").mkdir()
    with sqlite3.connect(tmp_path / "state" / "analytics.sqlite3") as db:
        db.executescript(FIXTURE.read_text(encoding="utf-8"))
    obs = observer(config, registry())
    recorder = Recorder()
    obs.add_listener(recorder)
    assert [(a.alert_id, a.state) for a in obs.alerts()] == [
        ("P-1.breach.20251124T180000Z", AlertState.RESOLVED),
        ("P-1.warning.20251124T180000Z", AlertState.RESOLVED),
        ("P-1.sensor_fault.20251124T190000Z", AlertState.RESOLVED),
        ("P-1.sensor_fault.20251125T000000Z", AlertState.OPEN),
    ]
    assert obs.book.get("P-1.breach.20251124T180000Z").acked_by == "Frau Lehmann"  # type: ignore[union-attr]
    obs.tick(T0 + 12 * HOUR)
    obs.close()
    assert recorder.ids() == ["P-1.warning.20251124T180000Z:resolved:1764039600000000000"]
    rows = influx_db.rows('SELECT * FROM "alert"')
    assert [
        (r["alert_id"], r["state"], r["time"], r["acked_by"], r["resolved_at_s"], r["value"])
        for r in rows
    ] == [  # what the code that wrote the file delivered from it
        ("P-1.breach.20251124T180000Z", "open", 1764007200000000000, None, None, 53.5),
        ("P-1.warning.20251124T180000Z", "open", 1764007200000000000, None, None, 53.5),
        ("P-1.sensor_fault.20251124T190000Z", "open", 1764010800000000000, None, None, 52),
        (
            "P-1.sensor_fault.20251124T190000Z",
            "resolved",
            1764014400000000000,
            None,
            1764014400,
            52,
        ),
        ("P-1.sensor_fault.20251125T000000Z", "open", 1764028800000000000, None, None, 99),
        ("P-1.warning.20251124T180000Z", "resolved", 1764039600000000000, None, 1764039600, 53.5),
        (
            "P-1.breach.20251124T180000Z",
            "acknowledged",
            1764063015250000000,
            "Frau Lehmann",
            None,
            53.5,
        ),
        (
            "P-1.breach.20251124T180000Z",
            "resolved",
            1764063015250001000,
            "Frau Lehmann",
            1764021600,
            53.5,
        ),
    ]
    qc = influx_db.rows('SELECT * FROM "qc"')
    # The spike at 21:00 was written and withdrawn again (an old `query` outbox row).
    assert [(r["time"], r["quantity"], r["flag"]) for r in qc] == [
        (1764010800000000000, "nitrate", "spike"),
        (1764028800000000000, "temperature", "range"),
    ]
