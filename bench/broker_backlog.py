"""What a backlog costs Mosquitto: memory, persistence file, save and load time.

The ingest's persistent session queues every message while InfluxDB (or the ingest) is
down. This measures, on the Debian broker, a backlog of N realistic probe packs queued
for one offline persistent session: the broker's resident memory, the size of its
persistence file, how long the save on SIGTERM and the load on start take, and that
all N come out again. docs/reliability.md quotes the figures for the weekend question.

    .venv/bin/python bench/broker_backlog.py --messages 100000 300000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gwmon.ingest.devservers import LOOPBACK, MosquittoServer

SESSION = "gwmon-ingest"
T0 = 1_764_140_400


def probe_pack(probe: str, i: int) -> bytes:
    """One probe cycle as firmware sends it: sequence number and four quantities."""
    t = T0 + i * 900
    return json.dumps(
        [
            {"bn": f"{probe}:", "bt": t, "n": "seq", "v": i},
            {"n": "nitrate", "u": "mg/L", "v": 41.27},
            {"n": "level", "u": "m", "v": 131.842},
            {"n": "temperature", "u": "Cel", "v": 10.4},
            {"n": "battery", "u": "%EL", "v": 87.5},
        ]
    ).encode()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def session_client(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=SESSION, protocol=mqtt.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 7 * 24 * 3600
    properties.ReceiveMaximum = 10_000
    client.connect(LOOPBACK, port, clean_start=False, properties=properties)
    return client


def create_session(port: int) -> None:
    client = session_client(port)
    client.loop_start()
    client.subscribe("gw/v1/+/data", qos=1)
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()


def publish_backlog(port: int, count: int) -> float:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-probes", protocol=mqtt.MQTTv5
    )
    client.max_inflight_messages_set(200)
    client.connect(LOOPBACK, port)
    client.loop_start()
    started = time.monotonic()
    for chunk in range(0, count, 20_000):  # paho's message ids wrap at 65,535
        infos = [
            client.publish(f"gw/v1/P{i % 1000:04d}/data", probe_pack(f"P{i % 1000:04d}", i), qos=1)
            for i in range(chunk, min(count, chunk + 20_000))
        ]
        for info in infos:
            info.wait_for_publish(120)
    elapsed = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    return elapsed


def drain(port: int, count: int) -> tuple[int, float]:
    received = [0]
    client = session_client(port)

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        received[0] += 1

    client.on_message = on_message
    started = time.monotonic()
    client.loop_start()
    deadline = started + 300
    while received[0] < count and time.monotonic() < deadline:
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    return received[0], elapsed


def measure(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        store = workdir / "store"
        store.mkdir()
        broker = MosquittoServer(
            workdir,
            extra_config=[
                "persistence true",
                f"persistence_location {store}/",
                "autosave_interval 3600",
            ],
        )
        broker.start()
        assert broker.process is not None
        idle_rss = rss_kib(broker.process.pid)
        create_session(broker.port)
        publish_s = publish_backlog(broker.port, count)
        time.sleep(1.0)
        rss = rss_kib(broker.process.pid)
        started = time.monotonic()
        broker.stop()  # SIGTERM: Mosquitto saves the whole database before it exits
        save_s = time.monotonic() - started
        db_bytes = (store / "mosquitto.db").stat().st_size
        started = time.monotonic()
        broker.start()
        load_s = time.monotonic() - started
        assert broker.process is not None
        loaded_rss = rss_kib(broker.process.pid)
        received, drain_s = drain(broker.port, count)
        broker.stop()
    return {
        "messages": count,
        "pack_bytes": len(probe_pack("P0001", 1)),
        "publish_s": round(publish_s, 1),
        "idle_rss_mib": round(idle_rss / 1024, 1),
        "backlog_rss_mib": round(rss / 1024, 1),
        "bytes_per_message_in_memory": round((rss - idle_rss) * 1024 / count),
        "db_mib": round(db_bytes / 2**20, 1),
        "db_bytes_per_message": round(db_bytes / count),
        "save_on_sigterm_s": round(save_s, 2),
        "load_on_start_s": round(load_s, 2),
        "rss_after_load_mib": round(loaded_rss / 1024, 1),
        "delivered_after_restart": received,
        "drain_s": round(drain_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[100_000])
    args = parser.parse_args()
    for count in args.messages:
        print(json.dumps(measure(count)))


if __name__ == "__main__":
    main()
