"""mqtts:// with certificate verification against a real Mosquitto TLS listener."""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import trustme
from paho.mqtt.enums import CallbackAPIVersion

from gwmon.ingest import IngestError
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from ingest_helpers import T0, data_topic, pack, running_service, wait_for_count, write_config


@pytest.fixture
def tls_broker(tmp_path: Path) -> tuple[MosquittoServer, trustme.CA, Path]:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(cert_dir / "server.pem"))
    server_cert.private_key_pem.write_to_path(str(cert_dir / "server.key"))
    ca.cert_pem.write_to_path(str(cert_dir / "ca.pem"))
    broker = MosquittoServer(
        tmp_path / "mosquitto-tls",
        extra_config=[f"certfile {cert_dir / 'server.pem'}", f"keyfile {cert_dir / 'server.key'}"],
    )
    return broker, ca, cert_dir / "ca.pem"


def test_ingest_over_verified_tls(
    tmp_path: Path, tls_broker: tuple[MosquittoServer, trustme.CA, Path], influx_db: InfluxDatabase
) -> None:
    broker, _, ca_file = tls_broker
    broker.start()
    try:
        config = write_config(tmp_path, broker, influx_db, mqtt_extra=f'ca_file = "{ca_file}"')
        config.write_text(config.read_text().replace("mqtt://", "mqtts://"))
        with running_service(config):
            # Publish over TLS as a probe would.
            client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            client.tls_set(ca_certs=str(ca_file))
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            info = client.publish(
                data_topic("LE-04"),
                pack("LE-04", [{"n": "nitrate", "u": "mg/L", "v": 18.5}]),
                qos=1,
            )
            info.wait_for_publish(10)
            client.disconnect()
            client.loop_stop()
            wait_for_count(influx_db, "reading", 1)
        rows = influx_db.rows("SELECT value FROM reading")
        assert [(row["time"], row["value"]) for row in rows] == [(T0 * 1_000_000_000, 18.5)]
    finally:
        broker.stop()


def test_unverifiable_broker_certificate_stops_start_up_with_the_fix(
    tmp_path: Path, tls_broker: tuple[MosquittoServer, trustme.CA, Path], influx_db: InfluxDatabase
) -> None:
    broker, _, _ = tls_broker
    broker.start()
    try:
        other_ca = trustme.CA()
        wrong_ca = tmp_path / "other-ca.pem"
        other_ca.cert_pem.write_to_path(str(wrong_ca))
        config = write_config(tmp_path, broker, influx_db, mqtt_extra=f'ca_file = "{wrong_ca}"')
        config.write_text(config.read_text().replace("mqtt://", "mqtts://"))
        with pytest.raises(IngestError) as caught, running_service(config):
            pass
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
        assert "[mqtt] ca_file" in str(caught.value)
    finally:
        broker.stop()
