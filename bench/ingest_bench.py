"""Ingest throughput: `gwmon run` end to end against a bare paho subscriber.

Both run as their own process against a private Mosquitto. The messages are queued at
the broker for a persistent session first (published by `mosquitto_pub -l` while the
subscriber is away), so the publisher is not on the measured path: we time how fast
each subscriber drains the same backlog, from its CONNACK to the last message handled.
The baseline only parses JSON and lets paho acknowledge; gwmon decodes SenML,
validates, batches, writes to InfluxDB and acknowledges after the write. Reported as a
ratio measured in the same run: absolute numbers vary on a noisy 2-core box.

    .venv/bin/python bench/ingest_bench.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from gwmon.ingest.devservers import InfluxServer, MosquittoServer, require_binary

T0 = 1_764_140_400
REPO = Path(__file__).resolve().parent.parent

BASELINE_SUBSCRIBER = textwrap.dedent(
    """
    import json, sys, time
    import paho.mqtt.client as mqtt
    port, expected = int(sys.argv[1]), int(sys.argv[2])
    count = 0
    def on_message(client, userdata, message):
        global count
        json.loads(message.payload)
        count += 1
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="baseline", protocol=mqtt.MQTTv5
    )
    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 600
    properties.ReceiveMaximum = 10000
    connected = []
    client.on_connect = lambda *args: connected.append(time.perf_counter())
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.subscribe("gw/v1/+/data", qos=1)
    while not connected:
        client.loop(0.05)
    if expected == 0:  # priming run: create the session, then leave
        client.loop(0.2)
        client.disconnect()
        sys.exit(0)
    while count < expected:
        client.loop(0.05)
    print(time.perf_counter() - connected[0], flush=True)
    """
)


def payload_lines(count: int) -> bytes:
    lines = []
    for i in range(count):
        records = [
            {"bn": "LE-01:", "bt": T0 + i * 60, "n": "seq", "v": i},
            {"n": "nitrate", "u": "mg/L", "v": 20 + (i % 100) / 10},
        ]
        lines.append(json.dumps(records, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def publish(port: int, lines: bytes) -> None:
    tool = require_binary("mosquitto_pub", "mosquitto-clients")
    subprocess.run(
        [tool, "-p", str(port), "-h", "127.0.0.1", "-q", "1", "-t", "gw/v1/LE-01/data", "-l"],
        input=lines,
        check=True,
    )


def run_baseline(mosquitto: MosquittoServer, lines: bytes, count: int) -> float:
    command = [sys.executable, "-c", BASELINE_SUBSCRIBER, str(mosquitto.port)]
    subprocess.run([*command, "0"], check=True)
    publish(mosquitto.port, lines)
    elapsed = float(
        subprocess.run([*command, str(count)], check=True, capture_output=True, text=True).stdout
    )
    return count / elapsed


def run_gwmon(
    mosquitto: MosquittoServer,
    influx: InfluxServer,
    workdir: Path,
    lines: bytes,
    count: int,
    *,
    analytics: bool,
) -> float:
    workdir.mkdir(parents=True, exist_ok=True)
    database = influx.new_database("bench")
    (workdir / "registry.csv").write_bytes(
        (REPO / "examples" / "registry-wertvoll.csv").read_bytes()
    )
    config = workdir / "gwmon.toml"
    config.write_text(
        f'[mqtt]\nurl = "{mosquitto.url}"\nclient_id = "bench"\n'
        f'[influxdb]\nurl = "{influx.url}"\ndatabase = "{database.name}"\n'
        "[ingest]\nstats_interval_s = 3600\n"
        f"[analytics]\nenabled = {'true' if analytics else 'false'}\n"
    )
    command = [sys.executable, "-m", "gwmon.cli", "run", "--config", str(config)]
    log_path = workdir / "gwmon.log"

    def start() -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def wait_connected(times: int) -> float:
        while log_path.read_text().count("connected (session present") < times:
            time.sleep(0.01)
        return time.monotonic()

    primer = start()  # creates the persistent session
    wait_connected(1)
    primer.terminate()
    primer.wait(30)
    publish(mosquitto.port, lines)
    process = start()
    connected_at = wait_connected(2)
    while database.count("reading") < count:
        time.sleep(0.02)
    elapsed = time.monotonic() - connected_at
    process.terminate()
    process.wait(30)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    lines = payload_lines(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        influx = InfluxServer(workdir / "influx")
        influx.start()
        try:
            results: dict[str, float] = {}
            for name in ("baseline", "ingest", "analytics"):
                mosquitto = MosquittoServer(workdir / f"mosquitto-{name}")
                mosquitto.start()
                try:
                    if name == "baseline":
                        results[name] = run_baseline(mosquitto, lines, args.messages)
                    else:
                        results[name] = run_gwmon(
                            mosquitto,
                            influx,
                            workdir / name,
                            lines,
                            args.messages,
                            analytics=name == "analytics",
                        )
                finally:
                    mosquitto.stop()
        finally:
            influx.stop()
    print(f"messages: {args.messages} (QoS 1, 1 reading + seq each), cpus: {os.cpu_count()}")
    print(f"baseline paho subscriber (JSON parse, auto-ack): {results['baseline']:,.0f} msg/s")
    for name, label in (
        ("ingest", "gwmon run, analytics off (decode, validate, write, ack after write)"),
        ("analytics", "gwmon run as deployed (+ QC, alarms, durable analytics state)"),
    ):
        ratio = results[name] / results["baseline"]
        print(f"{label}: {results[name]:,.0f} msg/s, ratio to baseline {ratio:.2f}")


if __name__ == "__main__":
    main()
