"""Fault 4: SIGTERM while InfluxDB or the broker is unreachable. `gwmon run` exits within
a bounded time (systemd kills after TimeoutStopSec, 90 s by default; the shipped unit
waits 60 s), with an exit code that says why (3: InfluxDB, 4: broker), and nothing is
lost: what was not acknowledged, the broker redelivers to the next start."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.fault_helpers import GwmonRun, figure_of, stored_readings
from gwmon.ingest.devservers import (
    LOOPBACK,
    InfluxDatabase,
    InfluxServer,
    MosquittoServer,
    free_port,
)
from ingest_helpers import T0, data_topic, pack, publish, wait_for_count, wait_until, write_config

EXIT_STOPPED_STORE_DOWN = 3
EXIT_STOPPED_BROKER_DOWN = 4
# Generous: the worst case is one InfluxDB request timing out ([influxdb] timeout_s,
# 10 s by default) in the last write plus one in the analytics' final flush.
STOP_BOUND_S = 40.0


class Blackhole:
    """A TCP port that accepts connections and never answers (a hung server)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.sock.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[InfluxServer]:
    server = InfluxServer(tmp_path / "influx")
    server.start()
    yield server
    server.stop()


def messages(probe: str, count: int) -> list[tuple[str, bytes]]:
    return [
        (data_topic(probe), pack(probe, [{"n": "nitrate", "u": "mg/L", "v": 30 + i / 100, "t": i}]))
        for i in range(count)
    ]


def expected(probe: str, count: int) -> dict[tuple[str, int], float]:
    return {(probe, T0 + i): 30 + i / 100 for i in range(count)}


def gwmon_run(
    tmp_path: Path,
    broker_url_of: MosquittoServer,
    database: InfluxDatabase,
    *,
    name: str,
    flush_interval_s: float = 60,
    influx_url: str | None = None,
    mqtt_port: int | None = None,
) -> GwmonRun:
    config = write_config(
        tmp_path / name,
        broker_url_of,
        database,
        ops_extra=f"port = {free_port()}",
    )
    # Messages stay in the pending batch: nothing is written before the stop.
    text = config.read_text().replace(
        "flush_interval_s = 0.2", f"flush_interval_s = {flush_interval_s}"
    )
    if influx_url is not None:
        text = text.replace(f'url = "{database.url}"', f'url = "{influx_url}"')
    if mqtt_port is not None:
        text = text.replace(broker_url_of.url, f"mqtt://{LOOPBACK}:{mqtt_port}")
    config.write_text(text)
    return GwmonRun(
        config, tmp_path / f"{name}.log", int(text.split("[ops]\nport = ")[1].split()[0])
    )


@pytest.mark.parametrize(
    "writing",
    [False, True],
    ids=["batch-pending", "during-write-retries"],
)
def test_sigterm_while_influxdb_is_down_exits_3_quickly_and_the_restart_stores_everything(
    tmp_path: Path, mosquitto: MosquittoServer, influx: InfluxServer, writing: bool
) -> None:
    database = influx.new_database()
    # Writing: the batch is being written and retried with backoff (up to 30 s apart by
    # default) when SIGTERM comes; pending: it waits for its flush interval.
    first = gwmon_run(
        tmp_path, mosquitto, database, name="first", flush_interval_s=0.2 if writing else 60
    )
    try:
        first.wait_log("connected (session present")
        influx.stop()
        publish(mosquitto, messages("LE-04", 40))
        if writing:
            first.wait_log("retrying in 6.4 s", timeout=30)
        time.sleep(1.0)  # received, waiting in the batch
        code, took = first.stop()
    finally:
        first.close()
    assert code == EXIT_STOPPED_STORE_DOWN, first.log_text()
    assert took < 10  # nothing hangs here: refused connections, a backoff cut short
    assert "stopped: store_unavailable (exit code 3)" in first.log_text()
    influx.start()
    second = gwmon_run(tmp_path, mosquitto, database, name="second", flush_interval_s=0.2)
    try:
        second.wait_log("connected (session present: True)")
        wait_for_count(database, "reading", 40, timeout=90)
        code_after, _ = second.stop()
    finally:
        second.close()
    figure = figure_of(
        "SIGTERM while InfluxDB is down",
        "influxd stopped, then SIGTERM",
        expected("LE-04", 40),
        database,
        stop_s=round(took, 1),
    )
    assert (figure.lost, figure.duplicated, code_after) == (0, 0, 0)


def test_sigterm_while_influxdb_hangs_exits_3_within_the_bound(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    hung = Blackhole()
    gwmon = gwmon_run(
        tmp_path, mosquitto, influx_db, name="hung", influx_url=f"http://{LOOPBACK}:{hung.port}"
    )
    try:
        time.sleep(3.0)  # gwmon waits for the store at start-up (pings time out)
        code, took = gwmon.stop()
    finally:
        gwmon.close()
        hung.close()
    print(f"FAULT FIGURE SIGTERM while InfluxDB hangs: exit code {code} after {took:.1f} s")
    assert code == EXIT_STOPPED_STORE_DOWN, gwmon.log_text()
    assert took < STOP_BOUND_S


def test_sigterm_while_the_broker_is_down_exits_4_and_the_redelivery_stores_everything_once(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    broker = MosquittoServer(
        tmp_path / "mosquitto",
        extra_config=[
            "persistence true",
            f"persistence_location {tmp_path}/",
            "autosave_interval 1",
        ],
    )
    broker.start()
    try:
        first = gwmon_run(tmp_path, broker, influx_db, name="first")
        try:
            first.wait_log("connected (session present")
            publish(broker, messages("BE-04", 40))
            time.sleep(1.0)  # in the pending batch, not acknowledged (flush in 60 s)
            broker.stop()  # saves the ingest's session with the 40 unacknowledged
            first.wait_log("disconnected from broker")
            code, took = first.stop()
        finally:
            first.close()
        assert code == EXIT_STOPPED_BROKER_DOWN, first.log_text()
        assert took < STOP_BOUND_S
        # Stored on the way out, but not acknowledged: the broker has them still.
        assert stored_readings(influx_db) == expected("BE-04", 40)
        broker.start()
        second = gwmon_run(tmp_path, broker, influx_db, name="second")
        try:
            second.wait_log("connected (session present: True)")
            wait_until(lambda: second.metrics()["gwmon_messages_received_total"] >= 40)
            time.sleep(1.0)  # nothing more comes
            metrics = second.metrics()
            code_after, _ = second.stop()
        finally:
            second.close()
    finally:
        broker.stop()
    figure = figure_of(
        "SIGTERM while the broker is down",
        "mosquitto stopped, then SIGTERM",
        expected("BE-04", 40),
        influx_db,
        stop_s=round(took, 1),
        redelivered=metrics["gwmon_messages_received_total"],
    )
    assert (figure.lost, figure.duplicated, code_after) == (0, 0, 0)
    assert metrics["gwmon_messages_received_total"] == 40  # redelivered, rewritten, same points


def test_sigterm_while_the_broker_never_answers_exits_4_within_the_bound(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    hung = Blackhole()
    gwmon = gwmon_run(tmp_path, mosquitto, influx_db, name="hung", mqtt_port=hung.port)
    try:
        time.sleep(3.0)  # connected by TCP, waiting for a CONNACK that never comes
        code, took = gwmon.stop()
    finally:
        gwmon.close()
        hung.close()
    print(f"FAULT FIGURE SIGTERM while the broker hangs: exit code {code} after {took:.1f} s")
    assert code == EXIT_STOPPED_BROKER_DOWN, gwmon.log_text()
    assert took < STOP_BOUND_S
