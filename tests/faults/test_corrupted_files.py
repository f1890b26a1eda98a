"""Fault 6: files cut short or garbled by a power loss. `gwmon run` reports what it
found at start-up, keeps what is intact, and runs; it never crashes in a loop (systemd
would restart it into the same crash).

The broker's queue and InfluxDB keep the readings themselves; what lives in gwmon's
own files is the analytics state (SQLite) and the mail outbox (one file per event and
mail). gwmon keeps no spool of its own (docs/reliability.md says why).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from faults.fault_helpers import GwmonRun
from gwmon.analytics.mail._outbox import Outbox, QueuedMail
from ingest_helpers import T0, data_topic, pack, publish, wait_for_count, write_config
from mail.mail_helpers import ROUTES_TOML
from servers import InfluxDatabase, MosquittoServer, free_port

ANALYTICS = """
[analytics]
state_dir = "state"
"""


def nitrate(probe: str, first: int, count: int) -> list[tuple[str, bytes]]:
    return [
        (
            data_topic(probe),
            pack(probe, [{"n": "nitrate", "u": "mg/L", "v": 20 + i / 10, "t": i * 3600}]),
        )
        for i in range(first, first + count)
    ]


def start(config: Path, log: Path) -> GwmonRun:
    port = int(config.read_text().split("[ops]\nport = ")[1].split()[0])
    return GwmonRun(config, log, port)


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_a_damaged_analytics_state_is_reported_set_aside_and_the_service_runs(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase, damage: str
) -> None:
    config = write_config(
        tmp_path, mosquitto, influx_db, extra=ANALYTICS, ops_extra=f"port = {free_port()}"
    )
    first = start(config, tmp_path / "first.log")
    try:
        first.wait_log("connected (session present")
        publish(mosquitto, nitrate("LE-01", 0, 400))
        wait_for_count(influx_db, "reading", 400)
        assert first.stop()[0] == 0
    finally:
        first.close()
    state = tmp_path / "state" / "analytics.sqlite3"
    with sqlite3.connect(state) as db:
        rows_before = db.execute("SELECT count(*) FROM history").fetchone()[0]
    assert rows_before > 300  # analytics keeps the readings its detectors look back on
    size = state.stat().st_size
    if damage == "truncated":
        with state.open("r+b") as handle:
            handle.truncate(size * 2 // 3)  # the last third never reached the disk
    else:
        with state.open("r+b") as handle:
            handle.seek(size // 2)  # the second half overwritten by garbage
            handle.write(os.urandom(size - size // 2))
    second = start(config, tmp_path / "second.log")
    try:
        second.wait_log("connected (session present")
        publish(mosquitto, nitrate("LE-01", 400, 5))
        wait_for_count(influx_db, "reading", 405)
        code, _ = second.stop()
    finally:
        second.close()
    log = second.log_text()
    assert code == 0, log
    assert "analytics state" in log and "damaged" in log, log
    aside = sorted((tmp_path / "state").glob("analytics.sqlite3.damaged-*"))
    assert aside, list((tmp_path / "state").iterdir())  # kept for a human
    assert "Traceback" not in log
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = log.split("kept what was readable (", 1)[1].split(")", 1)[0]
    print(f"FAULT FIGURE analytics state {damage}: kept {kept}; history rows before: {rows_before}")
    if damage == "truncated":
        # The pages before the cut are read: here the probe states and open alerts.
        assert "probe_state: 0 rows" not in kept, kept
