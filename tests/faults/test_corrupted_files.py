"""Fault 6: files cut short or garbled by a power loss. `gwmon run` reports what it
found at start-up, keeps what is intact, and runs; it never crashes in a loop (systemd
would restart it into the same crash).

The broker's queue and InfluxDB keep the readings themselves; what lives in gwmon's
own files is the analytics state (SQLite) and the mail outbox (one file per event and
mail). gwmon keeps no spool of its own (docs/reliability.md says why).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from faults.fault_helpers import GwmonRun
from gwmon.analytics.mail._outbox import Outbox, QueuedMail
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer, free_port
from ingest_helpers import T0, data_topic, pack, publish, wait_for_count, wait_until, write_config
from mail.mail_helpers import ROUTES_TOML

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
        # Retained readings: `history` rows and those of the runs (8 bytes a time).
        rows_before = db.execute(
            "SELECT (SELECT count(*) FROM history) + "
            "(SELECT coalesce(sum(length(times) / 8), 0) FROM history_run)"
        ).fetchone()[0]
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


MAIL = (
    """
[analytics]
state_dir = "state"

[mail]
enabled = true
transport = "maildir"
maildir = "maildir"
outbox_dir = "outbox"
from_address = "gwmon <gwmon@wasserwerke.example.org>"
ack_bind_port = 0
token_secret = "test-only-token-secret"
operators = ["leitwarte@wasserwerke.example.org"]
maintenance = ["instandhaltung@wasserwerke.example.org"]
"""
    + ROUTES_TOML
)


def test_a_damaged_mail_outbox_is_reported_once_and_the_intact_mails_go_out_once(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(
        tmp_path, mosquitto, influx_db, extra=MAIL, ops_extra=f"port = {free_port()}"
    )
    outbox = Outbox(tmp_path / "outbox")
    message = b"From: gwmon@wasserwerke.example.org\r\nTo: leitwarte@wasserwerke.example.org\r\nSubject: intact\r\n\r\nintact mail\r\n"
    for key in ("intact", "cut"):
        outbox.queue_mail(
            QueuedMail(
                key, ["leitwarte@wasserwerke.example.org"], "gwmon@wasserwerke.example.org", [], T0
            ),
            message.replace(b"intact", key.encode()),
        )
    # Power loss: one mail's record cut short, one event half written, the reminder
    # book garbled.
    cut = tmp_path / "outbox" / "queue" / "cut.json"
    cut.write_bytes(cut.read_bytes()[:20])
    (tmp_path / "outbox" / "events" / "half.json").write_bytes(b'{"event_id": "LE-07-br')
    (tmp_path / "outbox" / "alerts.json").write_bytes(b"\x00\x00\x00garbage")
    gwmon = start(config, tmp_path / "gwmon.log")
    try:
        gwmon.wait_log("connected (session present")
        delivered = tmp_path / "maildir" / "new"
        wait_until(lambda: delivered.exists() and len(list(delivered.iterdir())) >= 1)
        time.sleep(3.0)  # several sender cycles: nothing more, no error repeated
        code, _ = gwmon.stop()
    finally:
        gwmon.close()
    log = gwmon.log_text()
    assert code == 0, log
    mails = [path.read_bytes() for path in delivered.iterdir()]
    assert len(mails) == 1 and b"Subject: intact" in mails[0]
    failed = sorted(path.name for path in (tmp_path / "outbox" / "failed").iterdir())
    assert "event-half.json" in failed  # kept for a human, never retried
    assert "cut.eml" in failed and "cut.json" in failed, failed
    assert log.count("unreadable outbox entry") == 1, log
    assert log.count("unreadable outbox event") == 1, log
    assert "reminders start afresh" in log
    assert "Traceback" not in log
    print(
        f"FAULT FIGURE mail outbox damaged: delivered {len(mails)} intact mail once, set aside {failed}"
    )
