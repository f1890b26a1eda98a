"""The shipped broker config on a real Mosquitto: who may connect and publish what, and
`gwmon probes enrol` end to end. What is stored is asserted, not what the publisher was
told: MQTT 3.1.1 publishers get a PUBACK even when the broker drops the message."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gwmon.ingest.devservers import LOOPBACK, InfluxDatabase
from ingest_helpers import T0, data_topic, pack, running_service, wait_for_count, write_config
from shipped_broker import ShippedMosquitto

PASSWORDS = {"LE-01": "pw-le01", "LE-02": "pw-le02", "gwmon-ingest": "pw-ingest"}
NS = 1_000_000_000
REFUSED = 0x87  # "Not authorized": paho's reason code for CONNACK return code 5


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ShippedMosquitto]:
    server = ShippedMosquitto(tmp_path / "mosquitto", PASSWORDS)
    server.start()
    yield server
    server.stop()


def ingest_config(tmp_path: Path, broker: ShippedMosquitto, database: InfluxDatabase) -> Path:
    return write_config(
        tmp_path, broker, database, mqtt_extra='username = "gwmon-ingest"\npassword = "pw-ingest"'
    )


def connect(
    broker: ShippedMosquitto,
    username: str | None,
    password: str | None,
    *,
    protocol: MQTTProtocolVersion = mqtt.MQTTv311,
    tls: bool = False,
) -> tuple[mqtt.Client, int]:
    """(client, CONNACK reason code value); the client runs its loop."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"c-{username}", protocol=protocol)
    if username is not None:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set(ca_certs=str(broker.ca_file))
    answers: list[int] = []
    client.on_connect = lambda c, u, f, reason, p: answers.append(reason.value)
    client.connect(LOOPBACK, broker.tls_port if tls else broker.port)
    client.loop_start()
    deadline = time.monotonic() + 10
    while not answers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert answers, "no CONNACK"
    return client, answers[0]


def publish_and_close(client: mqtt.Client, topic: str, payload: bytes) -> bool:
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
    return info.is_published()


def stored(database: InfluxDatabase) -> list[tuple[str, str, int, float]]:
    rows = database.rows("SELECT value FROM reading GROUP BY probe, quantity")
    return sorted((r["probe"], r["quantity"], r["time"] // NS, r["value"]) for r in rows)


@pytest.mark.parametrize("tls", [False, True], ids=["loopback-listener", "tls-listener"])
def test_wrong_passwords_unknown_users_and_anonymous_clients_are_refused(
    broker: ShippedMosquitto, tls: bool
) -> None:
    for username, password in [
        ("LE-01", "wrong"),
        ("LE-01", "pw-le02"),  # another probe's password
        ("nobody", "pw-le01"),
        (None, None),  # anonymous
        ("gwmon-ingest", ""),
    ]:
        client, code = connect(broker, username, password, tls=tls)
        client.loop_stop()
        client.disconnect()
        # MQTT 3.1.1 CONNACK 5 "not authorized" (paho: reason code 0x87); never 0.
        assert code == REFUSED, (username, code)
    client, code = connect(broker, "LE-01", "pw-le01", tls=tls)
    client.disconnect()
    client.loop_stop()
    assert code == 0


def test_a_probe_publishing_under_another_probes_topics_never_reaches_storage(
    tmp_path: Path, broker: ShippedMosquitto, influx_db: InfluxDatabase
) -> None:
    forged_data = pack("LE-02", [{"n": "nitrate", "u": "mg/L", "v": 99.0}])
    with running_service(ingest_config(tmp_path, broker, influx_db)):
        for topic, payload in [
            (data_topic("LE-02"), forged_data),
            ("gw/v1/LE-02/status", b'{"online": false}'),
            ("gw/v1/LE-02/data/extra", forged_data),
        ]:
            client, code = connect(broker, "LE-01", "pw-le01")
            assert code == 0
            # Acknowledged by the broker (3.1.1: PUBACK also for a denied publish) ...
            assert publish_and_close(client, topic, payload)
        client, _ = connect(broker, "LE-01", "pw-le01")
        own = pack("LE-01", [{"n": "nitrate", "u": "mg/L", "v": 21.0, "t": 60}])
        assert publish_and_close(client, data_topic("LE-01"), own)
        wait_for_count(influx_db, "reading", 1)
        time.sleep(1.0)  # what was denied would have arrived by now
    # The ingest's user may only read. Published into the ingest's own session (same
    # client id, session kept) while the ingest is away, an allowed message would be
    # queued for it; MQTT 5 tells the publisher "not authorized".
    ingest_user = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="gwmon-ingest", protocol=mqtt.MQTTv5
    )
    ingest_user.username_pw_set("gwmon-ingest", "pw-ingest")
    ingest_user.connect(LOOPBACK, broker.port, clean_start=False)
    ingest_user.loop_start()
    reasons: list[int] = []
    ingest_user.on_publish = lambda c, u, mid, reason, p: reasons.append(reason.value)
    info = ingest_user.publish(
        data_topic("LE-01"), pack("LE-01", [{"n": "nitrate", "u": "mg/L", "v": 98.0}]), qos=1
    )
    info.wait_for_publish(10)
    ingest_user.disconnect()
    ingest_user.loop_stop()
    assert reasons == [REFUSED]
    with running_service(ingest_config(tmp_path, broker, influx_db)):
        time.sleep(1.5)  # a queued message would be delivered now
    assert stored(influx_db) == [("LE-01", "nitrate", T0 + 60, 21.0)]
    assert influx_db.count("probe_status", field="online") == 0
    assert influx_db.count("rejected", field="payload_bytes") == 0  # never reached gwmon


def gwmon_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gwmon.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_probes_enrol_prints_credentials_that_work_on_the_real_broker(
    tmp_path: Path, broker: ShippedMosquitto, influx_db: InfluxDatabase
) -> None:
    config = ingest_config(tmp_path, broker, influx_db)
    enrolled = gwmon_cli("probes", "enrol", "LE-05", "--config", str(config))
    assert enrolled.returncode == 0, enrolled.stderr
    out = enrolled.stdout
    password = re.search(r"^  password: (\S+)$", out, re.MULTILINE)
    line = re.search(r"^(LE-05:\$7\$101\$\S+)$", out, re.MULTILINE)
    assert password is not None and line is not None, out
    assert len(password.group(1)) >= 32
    assert "user LE-05\ntopic write gw/v1/LE-05/data\ntopic write gw/v1/LE-05/status\n" in out
    assert "3. In the registry: Leipzig-Baalsdorf, Leipzig." in out
    assert enrolled.stderr == ""  # nothing logged, least of all the password
    # Before the line is added the broker does not know LE-05.
    client, code = connect(broker, "LE-05", password.group(1))
    client.loop_stop()
    assert code == REFUSED
    # The operator's two steps: append the line, reload the broker.
    with broker.passwd.open("a") as handle:
        handle.write(line.group(1) + "\n")
    assert broker.process is not None
    broker.process.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    with running_service(config):
        client, code = connect(broker, "LE-05", password.group(1))
        assert code == 0
        assert publish_and_close(
            client, data_topic("LE-05"), pack("LE-05", [{"n": "nitrate", "u": "mg/L", "v": 33.3}])
        )
        wait_for_count(influx_db, "reading", 1)
    assert stored(influx_db) == [("LE-05", "nitrate", T0, 33.3)]
    # A second enrolment is a new password (nothing is kept or reused).
    again = gwmon_cli("probes", "enrol", "LE-05")
    assert again.returncode == 0 and password.group(1) not in again.stdout


def test_probes_enrol_refuses_an_id_that_cannot_be_a_broker_username() -> None:
    for bad in ["LE 05", "LE-05/#", "a" * 65, "+"]:
        refused = gwmon_cli("probes", "enrol", bad)
        assert refused.returncode == 2
        assert "cannot be enrolled" in refused.stderr and refused.stdout == ""
