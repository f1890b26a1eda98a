"""Secrets never leak: `gwmon run` at DEBUG with the MQTT, InfluxDB and SMTP passwords and
the acknowledgement token key set through files and the environment, driven through
traffic, an alert mail, an acknowledgement over its link, and errors (an SMTP login
refused, a wrong InfluxDB password). Then every log line, every field of every point in
InfluxDB, and every file in the outbox and the state folder is searched for each secret,
raw and in the encodings HTTP basic auth and SMTP AUTH use."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from urllib.parse import unquote

import requests

from faults.fault_helpers import GwmonRun
from gwmon.ingest.devservers import LOOPBACK, InfluxServer, free_port
from ingest_helpers import data_topic, pack, wait_until
from mail.mail_helpers import ROUTES_TOML, SMTP_PASSWORD, SMTP_USER, SmtpServer, make_ca, text_of
from shipped_broker import ShippedMosquitto

MQTT_PASSWORD = "mqtt-S3cret-Ingest-41f9"
PROBE_PASSWORD = "probe-S3cret-LE07-b3"
INFLUX_PASSWORD = "influx-S3cret-77c2"
WRONG_INFLUX_PASSWORD = "wrong-Influx-Pw-5a6b"
WRONG_SMTP_PASSWORD = "wrong-Smtp-Pw-0d1e"
TOKEN_KEY = "token-Key-9e8d7c6b5a-do-not-log"
ADMIN = ("admin", "admin-S3cret-pw")
SECRETS = [
    MQTT_PASSWORD,
    PROBE_PASSWORD,
    INFLUX_PASSWORD,
    WRONG_INFLUX_PASSWORD,
    SMTP_PASSWORD,
    WRONG_SMTP_PASSWORD,
    TOKEN_KEY,
]


def encodings(secret: str) -> list[str]:
    """The secret as it could slip out: raw, basic auth, SMTP AUTH PLAIN and LOGIN."""
    forms = [secret]
    for user in ("gwmon", "gwmon-ingest", SMTP_USER):
        forms.append(base64.b64encode(f"{user}:{secret}".encode()).decode())
        forms.append(base64.b64encode(f"\0{user}\0{secret}".encode()).decode())
    forms.append(base64.b64encode(secret.encode()).decode())
    return forms


def start_influx(tmp_path: Path) -> InfluxServer:
    server = InfluxServer(tmp_path / "influx", auth_enabled=True)
    server.start()
    requests.post(
        f"{server.url}/query",
        data={"q": f"CREATE USER admin WITH PASSWORD '{ADMIN[1]}' WITH ALL PRIVILEGES"},
        timeout=10,
    ).raise_for_status()
    for statement in (
        "CREATE DATABASE gwmon",
        f"CREATE USER gwmon WITH PASSWORD '{INFLUX_PASSWORD}'",
        'GRANT ALL ON "gwmon" TO gwmon',
    ):
        requests.post(
            f"{server.url}/query", data={"q": statement}, auth=ADMIN, timeout=10
        ).raise_for_status()
    return server


def everything_in_influxdb(server: InfluxServer) -> str:
    """Every point of every measurement, all fields and tags, as text."""

    def query(statement: str) -> list[dict[str, object]]:
        response = requests.get(
            f"{server.url}/query",
            params={"db": "gwmon", "q": statement},
            auth=ADMIN,
            timeout=30,
        )
        response.raise_for_status()
        return list(response.json()["results"][0].get("series", []))

    names = [row[0] for serie in query("SHOW MEASUREMENTS") for row in serie["values"]]  # type: ignore[attr-defined]
    assert {"reading", "ingest_stats", "alert"} <= set(names), names
    dump = [json.dumps(query(f'SELECT * FROM "{name}"')) for name in names]
    return "\n".join(dump)


def write_gwmon_config(
    tmp_path: Path, broker: ShippedMosquitto, influx: InfluxServer, smtp: SmtpServer, ca: Path
) -> tuple[Path, int, int]:
    (tmp_path / "mqtt-password").write_text(MQTT_PASSWORD + "\n")
    (tmp_path / "token-key").write_text(TOKEN_KEY + "\n")
    ops_port, ack_port = free_port(), free_port()
    registry = Path(__file__).resolve().parents[2] / "examples" / "registry-wertvoll.csv"
    config = tmp_path / "gwmon.toml"
    config.write_text(
        f"""
[mqtt]
url = "{broker.url}"
username = "gwmon-ingest"
password_file = "{tmp_path / "mqtt-password"}"
client_id = "gwmon-secrets"

[influxdb]
url = "{influx.url}"
database = "gwmon"
username = "gwmon"
flush_interval_s = 0.2

[registry]
path = "{registry}"

[ingest]
stats_interval_s = 1.0

[ops]
port = {ops_port}

[analytics]
state_dir = "state"
stale_startup_grace_s = 3600.0

[mail]
enabled = true
from_address = "gwmon <gwmon@wasserwerke.example.org>"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
smtp_security = "starttls"
smtp_ca_file = "{ca}"
smtp_username = "{SMTP_USER}"
smtp_password_file = "{tmp_path / "smtp-password"}"
smtp_timeout_s = 5.0
retry_initial_s = 1.0
retry_max_s = 2.0
token_secret_file = "{tmp_path / "token-key"}"
ack_bind_port = {ack_port}
outbox_dir = "outbox"
digest_window_s = 0.5
reminder_interval_s = 0.0
operators = ["leitwarte@wasserwerke.example.org"]
maintenance = ["instandhaltung@wasserwerke.example.org"]
"""
        + ROUTES_TOML
    )
    return config, ops_port, ack_port


def publish_as_probe(broker: ShippedMosquitto, values: list[float], first: int) -> None:
    import paho.mqtt.client as mqtt  # noqa: PLC0415
    from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="LE-07", protocol=mqtt.MQTTv5)
    client.username_pw_set("LE-07", PROBE_PASSWORD)
    client.connect(LOOPBACK, broker.port)
    client.loop_start()
    now = int(time.time()) - 7200
    infos = [
        client.publish(
            data_topic("LE-07"),
            pack(
                "LE-07",
                [{"n": "nitrate", "u": "mg/L", "v": value, "t": (first + i) * 60}],
                base_time=now,
            ),
            qos=1,
        )
        for i, value in enumerate(values)
    ]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_no_secret_in_logs_stored_points_outbox_or_state_at_debug(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca", "secrets-test-ca")
    cert = ca.server_cert(tmp_path, "smtp", dns=["localhost"], ips=[LOOPBACK])
    smtp = SmtpServer(mode="starttls", cert=cert)
    refusing = smtp
    smtp.start()
    broker = ShippedMosquitto(
        tmp_path / "mosquitto", {"gwmon-ingest": MQTT_PASSWORD, "LE-07": PROBE_PASSWORD}
    )
    broker.start()
    influx = start_influx(tmp_path)
    config, ops_port, ack_port = write_gwmon_config(tmp_path, broker, influx, smtp, ca.cert_file)
    env = {"GWMON_INFLUXDB__PASSWORD": INFLUX_PASSWORD}
    logs: list[Path] = []
    try:
        # 1. The SMTP server refuses the login: the alert mail waits in the outbox.
        (tmp_path / "smtp-password").write_text(WRONG_SMTP_PASSWORD + "\n")
        logs.append(tmp_path / "run-1.log")
        run = GwmonRun(config, logs[-1], ops_port, extra_env=env, log_level="DEBUG")
        try:
            run.wait_log("connected (session present")
            publish_as_probe(broker, [54.2, 55.0, 56.1], 0)
            run.wait_log("mail delivery failed", timeout=30)
            assert smtp.mails() == []
            assert run.stop()[0] == 0
        finally:
            run.close()
        assert smtp.mails() == []
        # 2. The right password: the mail goes out; its link acknowledges the alert.
        (tmp_path / "smtp-password").write_text(SMTP_PASSWORD + "\n")
        # A fresh test server: aiosmtpd stays stuck in the refused session (smtplib tries
        # LOGIN after PLAIN failed), which is the test server's business, not gwmon's.
        refusing, smtp = smtp, SmtpServer(mode="starttls", cert=cert)
        smtp.start()
        config.write_text(
            config.read_text().replace(f"smtp_port = {refusing.port}", f"smtp_port = {smtp.port}")
        )
        logs.append(tmp_path / "run-2.log")
        run = GwmonRun(config, logs[-1], ops_port, extra_env=env, log_level="DEBUG")
        try:
            run.wait_log("connected (session present")
            wait_until(lambda: len(smtp.mails()) >= 1, timeout=30, what="alert mail delivered")
            plain = text_of(smtp.mails()[0].message, "plain")
            link = re.search(rf"(http://127\.0\.0\.1:{ack_port}/ack\?t=\S+)", plain)
            assert link is not None, plain
            assert requests.get(link.group(1), timeout=10).status_code == 200
            ack_token = unquote(link.group(1).split("t=", 1)[1])
            answer = requests.post(
                link.group(1).split("?")[0], data={"t": ack_token, "name": "Leitwarte"}, timeout=10
            )
            assert answer.status_code == 200
            publish_as_probe(broker, [57.0], 10)
            time.sleep(2.0)  # stats points, the acknowledgement in storage
            assert run.stop()[0] == 0
        finally:
            run.close()
        # 3. A wrong InfluxDB password: start-up stops with a message, not the secret.
        logs.append(tmp_path / "run-3.log")
        run = GwmonRun(
            config,
            logs[-1],
            ops_port,
            extra_env={"GWMON_INFLUXDB__PASSWORD": WRONG_INFLUX_PASSWORD},
            log_level="DEBUG",
        )
        try:
            code = run.process.wait(60)
        finally:
            run.close()
        assert code == 2, run.log_text()
        assert "401" in run.log_text() or "authorization failed" in run.log_text()
        stored = everything_in_influxdb(influx)
    finally:
        influx.stop()
        broker.stop()
        smtp.stop()
        refusing.stop()
    texts = {str(log): log.read_text(errors="replace") for log in logs}
    assert "DEBUG" in texts[str(logs[1])], (
        "the runs must log at DEBUG for this test to mean anything"
    )
    texts["influxdb"] = stored
    for folder in ("outbox", "state"):
        for path in (tmp_path / folder).rglob("*"):
            if path.is_file() and path.name != "token-key":
                texts[str(path)] = path.read_bytes().decode("latin-1")
    assert any("outbox" in name for name in texts)
    mails = b"".join(mail.data for mail in smtp.mails()).decode("latin-1")
    texts["delivered mails"] = mails
    for secret in SECRETS:
        for form in encodings(secret):
            leaks = [name for name, text in texts.items() if form in text]
            assert leaks == [], f"secret {secret[:6]}… found in {leaks}"
    print(
        f"SECRETS searched: {len(SECRETS)} secrets x {len(encodings(SECRETS[0]))} encodings in {len(texts)} logs/files"
    )
