"""The ingest against real Mosquitto and InfluxDB: exact values, exactly once, no loss."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from gwmon.ingest.devservers import InfluxDatabase, InfluxServer, MosquittoServer
from ingest_helpers import (
    T0,
    data_topic,
    pack,
    publish,
    running_service,
    wait_for_count,
    wait_until,
    write_config,
)

NS = 1_000_000_000


def stored_values(database: InfluxDatabase, probe: str) -> dict[tuple[str, int], float]:
    rows = database.rows(f"SELECT value FROM reading WHERE probe = '{probe}' GROUP BY quantity")
    return {(row["quantity"], row["time"] // NS): row["value"] for row in rows}


def test_every_record_name_and_unit_is_stored_in_canonical_units(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    records = [
        {"n": "nitrate", "u": "mg/L", "v": 41.8},
        {"n": "nitrate", "u": "kg/m3", "v": 0.0412, "t": 60},
        {"n": "nitrate_n", "u": "mg/L", "v": 10, "t": 120},
        {"n": "nitrate_n", "u": "kg/m3", "v": 0.0113, "t": 180},
        {"n": "level", "u": "m", "v": 135.5},
        {"n": "depth", "u": "m", "v": 8.13, "t": 60},
        {"n": "temperature", "u": "Cel", "v": 10.4},
        {"n": "temperature", "u": "K", "v": 283.55, "t": 60},
        {"n": "conductivity", "u": "uS/cm", "v": 650},
        {"n": "conductivity", "u": "S/m", "v": 0.0712, "t": 60},
        {"n": "battery", "u": "%EL", "v": 87},
    ]
    with running_service(config):
        publish(mosquitto, [(data_topic("LE-07"), pack("LE-07", records))])
        wait_for_count(influx_db, "reading", 12)
    assert stored_values(influx_db, "LE-07") == {
        ("nitrate", T0): 41.8,
        ("nitrate", T0 + 60): 41.2,
        ("nitrate", T0 + 120): 44.27,  # NO3-N x 4.427
        ("nitrate", T0 + 180): 50.0251,  # 11.3 mg/L NO3-N
        ("level", T0): 135.5,
        ("depth", T0 + 60): 8.13,
        ("level", T0 + 60): 135.27,  # ground level 143.4 m NHN - 8.13 m
        ("temperature", T0): 10.4,
        ("temperature", T0 + 60): 10.4,
        ("conductivity", T0): 650.0,
        ("conductivity", T0 + 60): 712.0,
        ("battery", T0): 87.0,
    }
    tags = influx_db.rows(
        "SELECT value, site, municipality FROM reading WHERE probe = 'LE-07' LIMIT 1"
    )
    assert (tags[0]["site"], tags[0]["municipality"]) == ("Leipzig-Probstheida", "Leipzig")


def test_backfill_pack_with_many_timestamps_is_stored_at_measurement_times(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    records: list[dict[str, object]] = []
    for hour in range(240):  # ten days of hourly samples buffered offline
        records += [
            {"t": hour * 3600, "n": "seq", "v": 1000 + hour},
            {"t": hour * 3600, "n": "nitrate", "u": "mg/L", "v": 30 + hour / 100},
        ]
    payload = pack("WU-03", records)
    assert len(payload) < 65_536
    with running_service(config):
        publish(mosquitto, [(data_topic("WU-03"), payload)])
        wait_for_count(influx_db, "reading", 240)
        wait_for_count(influx_db, "sequence", 240, field="seq")
    values = stored_values(influx_db, "WU-03")
    assert values == {("nitrate", T0 + h * 3600): 30 + h / 100 for h in range(240)}
    seqs = influx_db.rows("SELECT seq, lag_s FROM sequence WHERE probe = 'WU-03'")
    assert [row["seq"] for row in seqs] == list(range(1000, 1240))
    # Arrival is now, the oldest sample is from 2025: lag is large and positive.
    assert all(row["lag_s"] > 3600 for row in seqs)


def test_redelivered_and_duplicate_messages_are_stored_once(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    message = (data_topic("TH-02"), pack("TH-02", [{"n": "nitrate", "u": "mg/L", "v": 22.5}]))
    other = (
        data_topic("TH-02"),
        pack("TH-02", [{"n": "nitrate", "u": "mg/L", "v": 23.0, "t": 3600}]),
    )
    with running_service(config) as service:
        publish(mosquitto, [message, message, other, message])
        wait_until(lambda: service.counters.received == 4 and service.counters.batches >= 1)
        wait_until(lambda: service.counters.readings == 4, what="4 readings written")
    assert stored_values(influx_db, "TH-02") == {
        ("nitrate", T0): 22.5,
        ("nitrate", T0 + 3600): 23.0,
    }


BAD_MESSAGES: list[tuple[str, str, bytes]] = [
    ("bad_topic", "gw/v1/not a probe!/data", b"[]"),
    ("unknown_probe", data_topic("ZZ-99"), pack("ZZ-99", [{"n": "nitrate", "u": "mg/L", "v": 1}])),
    ("payload_too_large", data_topic("LE-01"), b"[" + b" " * 70_000 + b"]"),
    ("not_utf8", data_topic("LE-01"), b'[{"n": "nitrate", "u": "\xff"}]'),
    ("invalid_json", data_topic("LE-01"), b'[{"n": "nitrate",'),
    ("not_senml", data_topic("LE-01"), b'{"n": "nitrate", "v": 1}'),
    ("empty_pack", data_topic("LE-01"), b"[]"),
    (
        "base_name_mismatch",
        data_topic("LE-01"),
        pack("LE-02", [{"n": "nitrate", "u": "mg/L", "v": 1}]),
    ),
    ("unknown_quantity", data_topic("LE-01"), pack("LE-01", [{"n": "ph", "u": "pH", "v": 7}])),
    ("unknown_unit", data_topic("LE-01"), pack("LE-01", [{"n": "nitrate", "u": "ppm", "v": 7}])),
    ("missing_value", data_topic("LE-01"), pack("LE-01", [{"n": "nitrate", "u": "mg/L"}])),
    (
        "non_finite_value",
        data_topic("LE-01"),
        b'[{"bt": 1764140400, "n": "nitrate", "u": "mg/L", "v": NaN}]',
    ),
    (
        "missing_time",
        data_topic("LE-01"),
        pack("LE-01", [{"n": "nitrate", "u": "mg/L", "v": 1}], base_time=None),
    ),
    (
        "future_time",
        data_topic("LE-01"),
        pack("LE-01", [{"n": "nitrate", "u": "mg/L", "v": 1}], base_time=4_000_000_000),
    ),
    ("bad_sequence", data_topic("LE-01"), pack("LE-01", [{"n": "seq", "v": -1}])),
    ("bad_status", "gw/v1/LE-01/status", b'{"firmware": "1.0"}'),
]


def test_every_rejection_reason_is_recorded_and_the_stream_goes_on(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    good = (data_topic("LE-01"), pack("LE-01", [{"n": "nitrate", "u": "mg/L", "v": 12.5, "t": 7}]))
    messages = [(topic, payload) for _, topic, payload in BAD_MESSAGES] + [good]
    with running_service(config) as service:
        publish(mosquitto, messages)
        wait_for_count(influx_db, "reading", 1)
        wait_for_count(influx_db, "rejected", len(BAD_MESSAGES), field="payload_bytes")
        assert service.counters.received == len(messages)
    rows = influx_db.rows(
        "SELECT reason, probe, probe_id, topic, payload, detail, record_index FROM rejected"
    )
    assert sorted(row["reason"] for row in rows) == sorted(reason for reason, _, _ in BAD_MESSAGES)
    by_reason = {row["reason"]: row for row in rows}
    assert (by_reason["unknown_probe"]["probe"], by_reason["unknown_probe"]["probe_id"]) == (
        "_unknown",
        "ZZ-99",
    )
    assert by_reason["bad_topic"]["probe"] == "_invalid"
    assert by_reason["unknown_quantity"]["record_index"] == 0
    assert by_reason["invalid_json"]["record_index"] == -1
    assert by_reason["invalid_json"]["payload"] == '[{"n": "nitrate",'
    assert len(by_reason["payload_too_large"]["payload"]) < 2100  # truncated for storage
    assert stored_values(influx_db, "LE-01") == {("nitrate", T0 + 7): 12.5}


def test_a_pack_with_one_bad_record_keeps_its_good_records(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    records = [
        {"n": "nitrate", "u": "mg/L", "v": 33.3},
        {"n": "turbidity", "u": "NTU", "v": 4},
        {"n": "level", "u": "m", "v": 130.25},
    ]
    with running_service(config):
        publish(mosquitto, [(data_topic("LE-02"), pack("LE-02", records))])
        wait_for_count(influx_db, "reading", 2)
        wait_for_count(influx_db, "rejected", 1, field="payload_bytes")
    assert stored_values(influx_db, "LE-02") == {("nitrate", T0): 33.3, ("level", T0): 130.25}
    (row,) = influx_db.rows("SELECT reason, record_index, payload FROM rejected")
    assert (row["reason"], row["record_index"]) == ("unknown_quantity", 1)
    assert json.loads(row["payload"]) == {"n": "turbidity", "u": "NTU", "v": 4}


def test_status_messages_are_stored(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    status = json.dumps({"online": True, "firmware": "1.4.2", "battery": 87.5, "t": T0}).encode()
    publish(mosquitto, [("gw/v1/BE-02/status", status)], retain=True)
    with running_service(config):
        wait_for_count(influx_db, "probe_status", 1, field="online")
    (row,) = influx_db.rows("SELECT online, firmware, battery FROM probe_status GROUP BY probe")
    assert row["probe"] == "BE-02"
    assert (row["time"], row["online"], row["firmware"], row["battery"]) == (
        T0 * NS,
        True,
        "1.4.2",
        87.5,
    )


def test_messages_published_while_the_ingest_is_down_arrive_when_it_returns(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    with running_service(config):
        pass  # creates the persistent session on the broker
    messages = [
        (data_topic("LO-01"), pack("LO-01", [{"n": "nitrate", "u": "mg/L", "v": 20 + i, "t": i}]))
        for i in range(50)
    ]
    publish(mosquitto, messages)
    with running_service(config):
        wait_for_count(influx_db, "reading", 50)
    assert stored_values(influx_db, "LO-01") == {("nitrate", T0 + i): 20.0 + i for i in range(50)}


def test_shared_subscription_splits_the_load_and_stores_everything_once(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    group = 'shared_group = "gwmon"'
    first = write_config(
        tmp_path / "a", mosquitto, influx_db, client_id="ingest-a", mqtt_extra=group
    )
    second = write_config(
        tmp_path / "b", mosquitto, influx_db, client_id="ingest-b", mqtt_extra=group
    )
    messages = [
        (data_topic("BE-01"), pack("BE-01", [{"n": "nitrate", "u": "mg/L", "v": 30.0, "t": i}]))
        for i in range(400)
    ]
    with running_service(first) as a, running_service(second) as b:
        publish(mosquitto, messages)
        wait_for_count(influx_db, "reading", 400)
        wait_until(lambda: a.counters.received + b.counters.received == 400)
        assert a.counters.received > 0
        assert b.counters.received > 0
    assert influx_db.count("reading") == 400


def test_gwmon_creates_a_missing_database_on_influxdb_1x(
    tmp_path: Path, mosquitto: MosquittoServer, influxdb: InfluxServer
) -> None:
    database = InfluxDatabase(influxdb.url, influxdb.unique_name("created"))
    config = write_config(tmp_path, mosquitto, database)
    with running_service(config):
        publish(
            mosquitto,
            [(data_topic("LE-03"), pack("LE-03", [{"n": "battery", "u": "%EL", "v": 55}]))],
        )
        wait_for_count(database, "reading", 1)
    assert stored_values(database, "LE-03") == {("battery", T0): 55.0}


def test_influxdb_outage_loses_nothing(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    server = InfluxServer(tmp_path / "influx-outage")
    server.start()
    try:
        database = server.new_database()
        config = write_config(tmp_path, mosquitto, database)
        with running_service(config) as service:
            server.stop()
            messages = [
                (
                    data_topic("TH-01"),
                    pack("TH-01", [{"n": "nitrate", "u": "mg/L", "v": 10.0 + i, "t": i}]),
                )
                for i in range(60)
            ]
            publish(mosquitto, messages)
            wait_until(lambda: service.counters.received >= 1, what="messages received")
            time.sleep(1.5)  # writes fail and are retried meanwhile
            server.start()
            wait_for_count(database, "reading", 60, timeout=60)
        assert stored_values(database, "TH-01") == {
            ("nitrate", T0 + i): 10.0 + i for i in range(60)
        }
    finally:
        server.stop()


# -- the real service process: kill -9 and SIGTERM ----------------------------------------------
def start_gwmon_run(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "gwmon.cli", "run", "--config", str(config)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def wait_connected(log: Path, process: subprocess.Popen[bytes], occurrences: int = 1) -> None:
    def connected() -> bool:
        assert process.poll() is None, log.read_text()
        return log.read_text().count("connected (session present") >= occurrences

    wait_until(connected, timeout=20, what="gwmon run connected")


def test_kill_9_mid_stream_then_restart_stores_every_published_reading(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db, influx_extra="batch_size = 200")
    log = tmp_path / "gwmon.log"
    total = 3000
    messages = [
        (
            data_topic("LE-05"),
            pack(
                "LE-05", [{"n": "nitrate", "u": "mg/L", "v": round(20 + i * 0.001, 3), "t": i * 60}]
            ),
        )
        for i in range(total)
    ]
    process = start_gwmon_run(config, log)
    wait_connected(log, process)

    def paced_publisher() -> None:
        for start in range(0, total, 100):
            publish(mosquitto, messages[start : start + 100], client_id=f"pub-{start}")
            time.sleep(0.05)

    publisher = threading.Thread(target=paced_publisher)
    publisher.start()
    wait_until(lambda: influx_db.count("reading") >= 500, timeout=60, what="500 stored")
    process.kill()  # SIGKILL: no flush, no ack, no goodbye
    process.wait(10)
    stored_at_kill = influx_db.count("reading")
    assert stored_at_kill < total, "the kill must happen mid-stream for this test to mean anything"
    process = start_gwmon_run(config, log)
    try:
        wait_connected(log, process, occurrences=2)
        publisher.join(120)
        wait_for_count(influx_db, "reading", total, timeout=90)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    expected = {("nitrate", T0 + i * 60): round(20 + i * 0.001, 3) for i in range(total)}
    stored = stored_values(influx_db, "LE-05")
    print(
        f"FAULT FIGURE gwmon run SIGKILL mid-stream: sent={total} stored={len(stored)} "
        f"lost={len(set(expected) - set(stored))} duplicated={len(set(stored) - set(expected))} "
        f"stored_at_kill={stored_at_kill}"
    )
    assert stored == expected


def test_sigterm_flushes_the_pending_batch_acks_and_exits_0(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    text = config.read_text().replace("flush_interval_s = 0.2", "flush_interval_s = 60")
    config.write_text(text)
    log = tmp_path / "gwmon.log"
    process = start_gwmon_run(config, log)
    wait_connected(log, process)
    messages = [
        (
            data_topic("BE-03"),
            pack("BE-03", [{"n": "level", "u": "m", "v": 112.0 + i / 100, "t": i}]),
        )
        for i in range(50)
    ]
    publish(mosquitto, messages)
    time.sleep(1.0)
    assert influx_db.count("reading") == 0, "nothing may be written before the flush interval"
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, log.read_text()
    assert stored_values(influx_db, "BE-03") == {
        ("level", T0 + i): 112.0 + i / 100 for i in range(50)
    }
    # Acknowledged: a new session under the same client id gets nothing redelivered.
    with running_service(config) as service:
        time.sleep(1.0)
        assert service.counters.received == 0


def test_ingest_reconnects_and_resubscribes_after_a_broker_restart(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    with running_service(config) as service:
        publish(
            mosquitto,
            [(data_topic("WU-01"), pack("WU-01", [{"n": "nitrate", "u": "mg/L", "v": 5.5}]))],
        )
        wait_for_count(influx_db, "reading", 1)
        mosquitto.restart()  # no persistence in the test broker: the session is gone too
        wait_until(lambda: service.connections == 2, timeout=30, what="reconnected, subscribed")
        publish(
            mosquitto,
            [
                (
                    data_topic("WU-01"),
                    pack("WU-01", [{"n": "nitrate", "u": "mg/L", "v": 6.5, "t": 60}]),
                )
            ],
        )
        wait_for_count(influx_db, "reading", 2)
    assert stored_values(influx_db, "WU-01") == {("nitrate", T0): 5.5, ("nitrate", T0 + 60): 6.5}


def test_points_influxdb_refuses_are_recorded_and_the_stream_goes_on(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    # Someone else wrote `reading.value` as an integer into this shard: our floats for the
    # same shard conflict (HTTP 400 partial write). gwmon must record that and move on.
    response = requests.post(
        f"{influx_db.url}/write",
        params={"db": influx_db.name},
        data=f"reading,probe=foreign value=1i {T0 * NS}",
        timeout=10,
    )
    assert response.status_code == 204
    config = write_config(tmp_path, mosquitto, influx_db)
    conflicting = pack("LE-06", [{"n": "nitrate", "u": "mg/L", "v": 15.0}])
    with running_service(config) as service:
        publish(mosquitto, [(data_topic("LE-06"), conflicting)])
        wait_for_count(influx_db, "rejected", 1, field="payload_bytes")
        publish(mosquitto, [("gw/v1/LE-06/status", b'{"online": true}')])
        wait_for_count(influx_db, "probe_status", 1, field="online")
        assert service.counters.store_refused == 1
        assert service.counters.readings == 0
    (row,) = influx_db.rows("SELECT reason, probe, quantity, detail FROM rejected")
    assert (row["reason"], row["probe"], row["quantity"]) == ("store_refused", "LE-06", "nitrate")
    assert "field type conflict" in row["detail"]
