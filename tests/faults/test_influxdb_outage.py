"""Fault 3: InfluxDB down under steady load, with the real `gwmon run` and the shipped
broker config. Nothing is lost when it returns; the backlog waits at the broker (the
ingest holds at most Receive Maximum messages); /healthz, /metrics and the log say what
is going on, and loudly before the broker's queue overflows.

The outage lasts GWMON_FAULT_OUTAGE_S seconds (default 20 in CI; docs/reliability.md
quotes a run with 180).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.fault_helpers import (
    FirmwarePublisher,
    GwmonRun,
    figure_of,
    held_ports,
    stored_readings,
)
from gwmon.ingest.devservers import InfluxDatabase, InfluxServer, free_port
from ingest_helpers import wait_for_count, wait_until, write_config
from shipped_broker import ShippedMosquitto

OUTAGE_S = float(os.environ.get("GWMON_FAULT_OUTAGE_S", "20"))
PROBES = ["LE-01", "LE-02", "TH-01", "WU-01"]
PASSWORDS = {probe: f"pw-{probe}" for probe in PROBES} | {"gwmon-ingest": "pw-ingest"}
RECEIVE_MAXIMUM = 100  # what the ingest holds unacknowledged; the rest waits at the broker


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[InfluxServer]:
    server = InfluxServer(tmp_path / "influx")
    server.start()
    yield server
    server.stop()


def start_broker(tmp_path: Path, **overrides: str) -> ShippedMosquitto:
    broker = ShippedMosquitto(
        tmp_path / "mosquitto",
        PASSWORDS,
        overrides={"sys_interval 10": "sys_interval 1", **overrides},
    )
    broker.start()
    return broker


def start_gwmon(
    tmp_path: Path, broker: ShippedMosquitto, influx: InfluxServer, *, queue_limit: int = 1_000_000
) -> tuple[GwmonRun, InfluxDatabase]:
    database = influx.new_database()
    port = free_port()
    config = write_config(
        tmp_path,
        broker,
        database,
        mqtt_extra=f'username = "gwmon-ingest"\npassword = "pw-ingest"\nreceive_maximum = {RECEIVE_MAXIMUM}',
        influx_extra="max_retry_interval_s = 2\ntimeout_s = 2",
        ops_extra=f"port = {port}\nbroker_queue_limit = {queue_limit}",
    )
    gwmon = GwmonRun(config, tmp_path / "gwmon.log", port)
    gwmon.wait_log("connected (session present")
    return gwmon, database


def test_influxdb_down_under_steady_load_loses_nothing_and_the_backlog_waits_at_the_broker(
    tmp_path: Path, influx: InfluxServer
) -> None:
    broker = start_broker(tmp_path)
    gwmon, database = start_gwmon(tmp_path, broker, influx)
    try:
        wait_until(lambda: gwmon.healthz()[0] == 200, what="healthy")
        duration_s = OUTAGE_S + 8
        publishers = [
            FirmwarePublisher(
                broker.port,
                probe,
                index,
                password=PASSWORDS[probe],
                count=int(duration_s / 0.05),
                interval_s=0.05,
            ).start()
            for index, probe in enumerate(PROBES)
        ]
        time.sleep(2)
        influx.stop()
        with held_ports(influx.port, influx.rpc_port):
            outage_started = time.monotonic()
            wait_until(lambda: gwmon.healthz()[0] == 503, timeout=15, what="/healthz 503")
            _, body = gwmon.healthz()
            assert any("InfluxDB" in problem for problem in body["problems"]), body
            peak_broker = peak_unacked = 0.0
            while time.monotonic() - outage_started < OUTAGE_S:
                metrics = gwmon.metrics()
                assert metrics["gwmon_store_writable"] == 0
                assert metrics["gwmon_broker_connected"] == 1
                assert metrics["gwmon_unacknowledged_messages"] <= RECEIVE_MAXIMUM
                peak_unacked = max(peak_unacked, metrics["gwmon_unacknowledged_messages"])
                peak_broker = max(peak_broker, metrics.get("gwmon_broker_stored_messages", 0))
                time.sleep(1)
        influx.start()
        for publisher in publishers:
            publisher.finish()
        expected: dict[tuple[str, int], float] = {}
        for publisher in publishers:
            expected |= publisher.expected()
        wait_for_count(database, "reading", len(expected), timeout=90)
        wait_until(lambda: gwmon.healthz()[0] == 200, timeout=15, what="/healthz 200 again")
        metrics = gwmon.metrics()
        code, _ = gwmon.stop()
    finally:
        gwmon.close()
        broker.stop()
    assert code == 0
    figure = figure_of(
        f"InfluxDB down {OUTAGE_S:.0f} s under steady load",
        f"influxd stopped {OUTAGE_S:.0f} s, 80 messages/s",
        expected,
        database,
        peak_broker_backlog=peak_broker,
        peak_unacknowledged=peak_unacked,
        write_errors=metrics["gwmon_write_errors_total"],
    )
    assert (figure.lost, figure.duplicated) == (0, 0)
    assert stored_readings(database) == expected
    # The backlog waited at the broker: far more than the ingest may hold unacknowledged.
    assert peak_broker > 3 * RECEIVE_MAXIMUM
    assert metrics["gwmon_readings_stored_total"] == len(expected)
    assert "InfluxDB write failed" in gwmon.log_text()


def test_a_broker_queue_about_to_overflow_is_said_loudly_and_what_it_drops_is_counted(
    tmp_path: Path, influx: InfluxServer
) -> None:
    limit = 400
    broker = start_broker(
        tmp_path, **{"max_queued_messages 1000000": f"max_queued_messages {limit}"}
    )
    gwmon, database = start_gwmon(tmp_path, broker, influx, queue_limit=limit)
    try:
        wait_until(lambda: gwmon.healthz()[0] == 200, what="healthy")
        influx.stop()
        with held_ports(influx.port, influx.rpc_port):
            publishers = [
                FirmwarePublisher(
                    broker.port,
                    probe,
                    index,
                    password=PASSWORDS[probe],
                    count=300,
                    interval_s=0.005,
                ).start()
                for index, probe in enumerate(PROBES)
            ]
            for publisher in publishers:
                publisher.finish()
            gwmon.wait_log("the broker DROPPED", timeout=15)
            time.sleep(2.5)  # two reports of the broker (sys_interval 1): the final count
            status, body = gwmon.healthz()
            metrics = gwmon.metrics()
            dropped = metrics["gwmon_broker_dropped_messages_total"]
        influx.start()
        expected: dict[tuple[str, int], float] = {}
        for publisher in publishers:
            expected |= publisher.expected()
        wait_for_count(database, "reading", int(len(expected) - dropped), timeout=60)
        time.sleep(1.5)
        code, _ = gwmon.stop()
    finally:
        gwmon.close()
        broker.stop()
    log = gwmon.log_text()
    assert "of its queue limit of 400" in log  # the warning before the overflow
    assert log.index("of its queue limit of 400") < log.index("the broker DROPPED")
    assert status == 503
    assert any(
        "broker" in problem and ("overflow" in problem or "dropped" in problem)
        for problem in body["problems"]
    ), body
    figure = figure_of(
        "broker queue overflows during an InfluxDB outage",
        f"influxd stopped, max_queued_messages {limit}, 1200 messages",
        expected,
        database,
        broker_dropped=dropped,
    )
    assert dropped > 0
    # Exactly what the broker says it dropped is missing; gwmon counted it.
    assert figure.lost == dropped
    assert figure.duplicated == 0
    assert code == 0
