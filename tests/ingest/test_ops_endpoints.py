"""`gwmon run` serves /metrics (Prometheus) and /healthz on its [ops] port, over real
HTTP: exact values after a known stream, 503 with the reason while InfluxDB is down and
200 when it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.fault_helpers import GwmonRun
from gwmon.ingest.devservers import InfluxServer, MosquittoServer, free_port
from ingest_helpers import data_topic, pack, publish, wait_for_count, wait_until, write_config

ALERT_KINDS = ["breach", "warning", "level_low", "level_high", "sensor_fault", "stale", "trend"]


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[InfluxServer]:
    server = InfluxServer(tmp_path / "influx")
    server.start()
    yield server
    server.stop()


def test_metrics_after_a_known_stream_are_exact(
    tmp_path: Path, mosquitto: MosquittoServer, influx: InfluxServer
) -> None:
    database = influx.new_database()
    port = free_port()
    config = write_config(
        tmp_path,
        mosquitto,
        database,
        ops_extra=f"port = {port}",
        extra='[analytics]\nstate_dir = "state"\nstale_startup_grace_s = 3600.0',
    )
    gwmon = GwmonRun(config, tmp_path / "gwmon.log", port)
    now = int(time.time()) - 3600
    good = [
        (
            data_topic("LE-07"),
            pack(
                "LE-07",
                [
                    {"n": "nitrate", "u": "mg/L", "v": 54.2 + i / 10, "t": i * 60},
                    {"n": "level", "u": "m", "v": 130.5, "t": i * 60},
                ],
                base_time=now,
            ),
        )
        for i in range(10)
    ]
    bad = [
        (data_topic("ZZ-99"), pack("ZZ-99", [{"n": "nitrate", "u": "mg/L", "v": 1}])),
        (data_topic("LE-01"), b"{not json"),
        (data_topic("LE-01"), b"{not json either"),
        (data_topic("LE-01"), pack("LE-01", [{"n": "nitrate", "u": "ppm", "v": 7}], base_time=now)),
    ]
    try:
        gwmon.wait_log("connected (session present")
        publish(mosquitto, good + bad)
        wait_for_count(database, "reading", 20)
        wait_until(lambda: gwmon.metrics()["gwmon_messages_received_total"] == 14)
        wait_until(lambda: gwmon.metrics()["gwmon_unacknowledged_messages"] == 0)
        wait_until(
            lambda: gwmon.metrics().get('gwmon_alerts_open{kind="breach"}') == 1,
            what="breach alert open",
        )
        metrics = gwmon.metrics()
        status, body = gwmon.healthz()
        code, _ = gwmon.stop()
    finally:
        gwmon.close()
    assert code == 0
    assert metrics["gwmon_readings_stored_total"] == 20
    rejected = {
        key: value for key, value in metrics.items() if key.startswith("gwmon_rejected_total")
    }
    assert rejected == {
        'gwmon_rejected_total{reason="invalid_json"}': 2,
        'gwmon_rejected_total{reason="unknown_probe"}': 1,
        'gwmon_rejected_total{reason="unknown_unit"}': 1,
    }
    writes = metrics["gwmon_batch_write_seconds_count"]
    assert writes >= 1
    assert metrics['gwmon_batch_write_seconds_bucket{le="+Inf"}'] == writes
    assert 0 < metrics["gwmon_batch_write_seconds_sum"] < writes * 10
    assert (
        time.time() - 120 < metrics["gwmon_last_successful_write_timestamp_seconds"] <= time.time()
    )
    assert {kind: metrics[f'gwmon_alerts_open{{kind="{kind}"}}'] for kind in ALERT_KINDS} == {
        # 54-55 mg/L: above the warning and the breach threshold; 130.5 m NHN is below
        # LE-07's minimum operating level (examples/registry-wertvoll.csv).
        kind: (1.0 if kind in ("breach", "warning", "level_low") else 0.0)
        for kind in ALERT_KINDS
    }
    assert metrics["gwmon_mails_queued"] == 0  # mail is off in this config
    assert (metrics["gwmon_broker_connected"], metrics["gwmon_store_writable"]) == (1, 1)
    assert (status, body) == (200, {"status": "ok"})


def test_healthz_is_503_with_the_reason_while_influxdb_is_down_and_200_when_back(
    tmp_path: Path, mosquitto: MosquittoServer, influx: InfluxServer
) -> None:
    database = influx.new_database()
    port = free_port()
    config = write_config(tmp_path, mosquitto, database, ops_extra=f"port = {port}")
    gwmon = GwmonRun(config, tmp_path / "gwmon.log", port)
    try:
        gwmon.wait_log("connected (session present")
        wait_until(lambda: gwmon.healthz()[0] == 200, what="healthy")
        influx.stop()  # no traffic: /healthz itself must notice
        wait_until(lambda: gwmon.healthz()[0] == 503, timeout=10, what="503")
        _, body = gwmon.healthz()
        assert body["status"] == "unavailable"
        # /ping fails at once; a write in the meantime (stats, analytics) says it too.
        (problem,) = body["problems"]
        assert problem in (
            "InfluxDB does not answer /ping (ConnectionError)",
        ) or problem.startswith("InfluxDB is not accepting writes since "), problem
        assert gwmon.metrics()["gwmon_store_writable"] == 0
        influx.start()
        wait_until(lambda: gwmon.healthz()[0] == 200, timeout=15, what="200 again")
        mosquitto.stop()
        wait_until(lambda: gwmon.healthz()[0] == 503, timeout=10, what="503 without broker")
        _, without_broker = gwmon.healthz()
        assert "not connected to the MQTT broker" in without_broker["problems"]
        mosquitto.start()
        wait_until(lambda: gwmon.healthz()[0] == 200, timeout=30, what="200 with the broker back")
        assert gwmon.get("/nothing").status_code == 404
        code, _ = gwmon.stop()
    finally:
        gwmon.close()
    assert code == 0
