"""The shipped broker ACL does what docs/deployment.md promises, on a real Mosquitto."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gwmon.ingest import IngestError
from ingest_helpers import (
    REPO_ROOT,
    T0,
    data_topic,
    pack,
    running_service,
    wait_for_count,
    write_config,
)
from servers import InfluxDatabase, MosquittoServer, mosquitto_password_file


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
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    acl = tmp_path / "gwmon.acl"
    shutil.copy(REPO_ROOT / "examples" / "mosquitto.acl", acl)
    passwd = mosquitto_password_file(
        tmp_path / "gwmon.passwd",
        {"LE-01": "pw-le01", "LE-02": "pw-le02", "gwmon-ingest": "pw-ingest"},
    )
    broker = MosquittoServer(
        tmp_path / "mosquitto",
        extra_config=["allow_anonymous false", f"password_file {passwd}", f"acl_file {acl}"],
    )
    broker.start()
    try:
        secret = tmp_path / "ingest-password"
        secret.write_text("pw-ingest\n")
        config = write_config(
            tmp_path,
            broker,
            influx_db,
            mqtt_extra=f'username = "gwmon-ingest"\npassword_file = "{secret}"',
        )
        with running_service(config):
            own = pack("LE-01", [{"n": "nitrate", "u": "mg/L", "v": 21.0}])
            forged = pack("LE-02", [{"n": "nitrate", "u": "mg/L", "v": 99.0, "t": 60}])
            publish_as(broker, "LE-01", "pw-le01", data_topic("LE-02"), forged)  # denied by the ACL
            publish_as(broker, "LE-01", "pw-le01", data_topic("LE-01"), own)
            wait_for_count(influx_db, "reading", 1)
            time.sleep(0.5)
        rows = influx_db.rows("SELECT value FROM reading GROUP BY probe")
        assert [(row["probe"], row["time"] // 1_000_000_000, row["value"]) for row in rows] == [
            ("LE-01", T0, 21.0)
        ]
    finally:
        broker.stop()


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
