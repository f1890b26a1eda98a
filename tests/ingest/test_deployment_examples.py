"""The shipped broker config and ACL do what docs/deployment.md promises, on a real
Mosquitto running examples/mosquitto.conf itself (paths and ports moved to a temp dir)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

import gwmon_sim
from gwmon.ingest import IngestError
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer, mosquitto_password_file
from ingest_helpers import (
    REPO_ROOT,
    T0,
    data_topic,
    pack,
    running_service,
    wait_for_count,
    write_config,
)
from shipped_broker import ShippedMosquitto

PASSWORDS = {"LE-01": "pw-le01", "LE-02": "pw-le02", "gwmon-ingest": "pw-ingest"}


@pytest.fixture
def shipped_broker(tmp_path: Path) -> Iterator[ShippedMosquitto]:
    broker = ShippedMosquitto(tmp_path / "mosquitto", PASSWORDS)
    broker.start()
    yield broker
    broker.stop()


def ingest_config(tmp_path: Path, broker: MosquittoServer, database: InfluxDatabase) -> Path:
    secret = tmp_path / "ingest-password"
    secret.write_text("pw-ingest\n")
    return write_config(
        tmp_path,
        broker,
        database,
        mqtt_extra=f'username = "gwmon-ingest"\npassword_file = "{secret}"',
    )


def publish_as(
    broker: MosquittoServer, username: str, password: str, topic: str, payload: bytes
) -> None:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"probe-{username}", protocol=mqtt.MQTTv5
    )
    client.username_pw_set(username, password)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_probes_publish_only_as_themselves_and_the_ingest_reads_all(
    tmp_path: Path, shipped_broker: ShippedMosquitto, influx_db: InfluxDatabase
) -> None:
    with running_service(ingest_config(tmp_path, shipped_broker, influx_db)):
        own = pack("LE-01", [{"n": "nitrate", "u": "mg/L", "v": 21.0}])
        forged = pack("LE-02", [{"n": "nitrate", "u": "mg/L", "v": 99.0, "t": 60}])
        broker = shipped_broker
        publish_as(broker, "LE-01", "pw-le01", data_topic("LE-02"), forged)  # denied by the ACL
        publish_as(broker, "LE-01", "pw-le01", data_topic("LE-01"), own)
        wait_for_count(influx_db, "reading", 1)
        time.sleep(0.5)
    rows = influx_db.rows("SELECT value FROM reading GROUP BY probe")
    assert [(row["probe"], row["time"] // 1_000_000_000, row["value"]) for row in rows] == [
        ("LE-01", T0, 21.0)
    ]


def test_wrong_ingest_password_stops_start_up_with_a_clear_error(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    passwd = mosquitto_password_file(tmp_path / "gwmon.passwd", {"gwmon-ingest": "right"})
    broker = MosquittoServer(
        tmp_path / "mosquitto", extra_config=["allow_anonymous false", f"password_file {passwd}"]
    )
    broker.start()
    try:
        config = write_config(
            tmp_path, broker, influx_db, mqtt_extra='username = "gwmon-ingest"\npassword = "wrong"'
        )
        with pytest.raises(IngestError) as caught, running_service(config):
            pass
        message = str(caught.value)
        assert "refused the connection" in message and "[mqtt] username/password" in message
        assert "wrong" not in message
    finally:
        broker.stop()


class ProbeConnection:
    """A paho client as a probe's firmware uses it: its last will is the retained
    `{"online": false}`; records every disconnect it sees."""

    def __init__(
        self, broker: ShippedMosquitto, username: str, *, client_id: str, tls: bool
    ) -> None:
        self.disconnects: list[str] = []
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(username, PASSWORDS[username])
        self.client.will_set(f"gw/v1/{username}/status", b'{"online": false}', qos=1, retain=True)
        if tls:
            self.client.tls_set(ca_certs=str(broker.ca_file))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", broker.tls_port if tls else broker.port)
        self.client.loop_start()
        assert self.connected.wait(10), f"{username} did not connect"

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason_code: ReasonCode,
        properties: object,
    ) -> None:
        if not reason_code.is_failure:
            self.connected.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason_code: ReasonCode,
        properties: object,
    ) -> None:
        self.disconnects.append(str(reason_code))

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()  # a normal disconnect: the broker discards the will
        self.client.loop_stop()


@pytest.mark.parametrize("tls", [False, True], ids=["loopback-listener", "tls-listener"])
def test_a_probe_cannot_disconnect_another_by_using_its_client_id(
    tmp_path: Path, shipped_broker: ShippedMosquitto, influx_db: InfluxDatabase, tls: bool
) -> None:
    with running_service(ingest_config(tmp_path, shipped_broker, influx_db)):
        victim = ProbeConnection(shipped_broker, "LE-02", client_id="LE-02", tls=tls)
        intruder: ProbeConnection | None = None
        try:
            victim.publish("gw/v1/LE-02/status", b'{"online": true}', retain=True)
            wait_for_count(influx_db, "probe_status", 1, field="online")
            # LE-01 logs in with its own password but LE-02's client id.
            intruder = ProbeConnection(shipped_broker, "LE-01", client_id="LE-02", tls=tls)
            # It is connected, as LE-01: it may publish LE-01's data, and that is stored.
            intruder.publish(
                data_topic("LE-01"), pack("LE-01", [{"n": "nitrate", "u": "mg/L", "v": 7.5}])
            )
            wait_for_count(influx_db, "reading", 1)
            time.sleep(1.0)  # a take-over would have disconnected LE-02 by now
            assert victim.disconnects == []
            assert victim.client.is_connected()
        finally:
            if intruder is not None:
                intruder.close()
            victim.close()
        time.sleep(0.5)
    rows = influx_db.rows("SELECT online FROM probe_status GROUP BY probe")
    assert [(row["probe"], row["online"]) for row in rows] == [("LE-02", True)]
    assert [
        (row["probe"], row["value"])
        for row in influx_db.rows("SELECT value FROM reading GROUP BY probe")
    ] == [("LE-01", 7.5)]


def test_the_simulated_fleet_and_the_ingest_work_with_the_shipped_broker_config(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    scenario = gwmon_sim.load_scenario("smoke")
    probes = ["LE-01", "TH-01", "WU-01"]
    assert scenario.probes == tuple(probes)
    credentials = gwmon_sim.demo_credentials(probes, "test-only-secret")
    broker = ShippedMosquitto(tmp_path / "mosquitto", {**credentials, "gwmon-ingest": "pw-ingest"})
    broker.start()
    try:
        config = ingest_config(tmp_path, broker, influx_db)
        with running_service(config):
            pass  # the ingest's persistent session exists: now under its username
        # Published while the ingest is away (over TLS, as probes do): queued for it.
        fleet = gwmon_sim.Fleet(
            scenario,
            REPO_ROOT / "examples" / "registry-wertvoll.csv",
            f"mqtts://127.0.0.1:{broker.tls_port}",
            credentials=credentials,
            ca_file=broker.ca_file,
        )
        summary = fleet.run(drain_timeout_s=30)
        assert summary.done and summary.refused_logins == 0 and summary.denied_packs == 0
        with running_service(config) as service:
            wait_for_count(influx_db, "sequence", 3 * 48, field="seq")
            assert service.counters.rejected_messages == 0
    finally:
        broker.stop()
    counts = influx_db.rows('SELECT count("seq") FROM "sequence" GROUP BY "probe"')
    assert {row["probe"]: row["count"] for row in counts} == {
        "LE-01": 48,
        "TH-01": 48,
        "WU-01": 48,
    }
