"""Publishers of the side-by-side bench that `mosquitto_pub -l` cannot play (it sends to
one topic only). Both use paho, QoS 1, and log to files.

`paced`: live probes at a fixed message rate over many topics, one reading per message,
measurement time = publish time (ms), so "publish -> stored" is visible from InfluxDB
alone. Every `--breach-every` seconds one probe (in turn) runs a breach episode: a ramp
of +4 mg/L per reading (below the spike detector's 15 mg/L jump), a hold above 50 mg/L
for `--hold` seconds, a ramp back down. Each message is logged as
`<probe> <time_ms> <b|->` *before* it is published (`b` = the reading that opens the
breach: the first above 50 mg/L), so the bench never sees a point it does not know.

`file`: every line `<topic>\\t<payload>` of a file, as fast as the broker acknowledges.

    python bench/paho_publisher.py paced --port P --rate 1000 --seconds 60 \
        --probes LE-01,LE-02 --log pub.log [--breach-every 3 --hold 1.5]
    python bench/paho_publisher.py file --port P --file messages.tsv
"""

from __future__ import annotations

import argparse
import json
import time
from collections import deque
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

RAMP_UP = (24.0, 28.0, 32.0, 36.0, 40.0, 44.0, 48.0)
HOLD = (52.0, 52.3, 52.6, 52.9)  # never 24 equal values: no flatline flag
RAMP_DOWN = (48.0, 44.0, 40.0, 36.0, 32.0, 28.0, 24.0)


def _client(port: int, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def paced(args: argparse.Namespace) -> None:
    probes = args.probes.split(",")
    client = _client(args.port, "bench-paced")
    script: dict[str, deque[tuple[float, str]]] = {p: deque() for p in probes}
    hold_readings = max(1, round(args.hold * args.rate / len(probes)))
    episode = 0
    total = int(args.rate * args.seconds)
    infos = []
    last_ms: dict[str, int] = {}
    with args.log.open("w", buffering=1) as log:  # line-buffered: written before publishing
        start = time.time()
        for index in range(total):
            due = start + index / args.rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            elapsed = time.time() - start
            if args.breach_every > 0 and elapsed >= (episode + 1) * args.breach_every:
                target = probes[episode % len(probes)]
                episode += 1
                if not script[target]:
                    hold = [
                        (HOLD[i % len(HOLD)], "b" if i == 0 else "-") for i in range(hold_readings)
                    ]
                    script[target].extend(
                        [(v, "-") for v in RAMP_UP] + hold + [(v, "-") for v in RAMP_DOWN]
                    )
            probe = probes[index % len(probes)]
            if script[probe]:
                value, kind = script[probe].popleft()
            else:
                value, kind = round(20 + (index // len(probes) % 40) * 0.1, 1), "-"
            # Strictly increasing per probe: after a stall the loop catches up faster than
            # 1 ms per round of probes, and two readings at one time would be one point.
            time_ms = max(round(time.time() * 1000), last_ms.get(probe, 0) + 1)
            last_ms[probe] = time_ms
            log.write(f"{probe} {time_ms} {kind}\n")
            payload = json.dumps(
                [
                    {
                        "bn": f"{probe}:",
                        "bt": time_ms / 1000,
                        "n": "nitrate",
                        "u": "mg/L",
                        "v": value,
                    }
                ],
                separators=(",", ":"),
            )
            infos.append(client.publish(f"gw/v1/{probe}/data", payload, qos=1))
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def from_file(args: argparse.Namespace) -> None:
    client = _client(args.port, "bench-fleet")
    infos = []
    with args.file.open(encoding="utf-8") as handle:
        for line in handle:
            topic, payload = line.rstrip("\n").split("\t", 1)
            infos.append(client.publish(topic, payload, qos=1))
            if len(infos) % 1000 == 0:
                infos[-1000].wait_for_publish(60)  # bound what paho holds in memory
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    one = modes.add_parser("paced")
    one.add_argument("--port", type=int, required=True)
    one.add_argument("--rate", type=float, required=True, help="messages per second")
    one.add_argument("--seconds", type=float, required=True)
    one.add_argument("--probes", required=True, help="comma-separated probe ids")
    one.add_argument("--log", type=Path, required=True)
    one.add_argument("--breach-every", type=float, default=0.0)
    one.add_argument("--hold", type=float, default=1.5, help="seconds above 50 mg/L")
    two = modes.add_parser("file")
    two.add_argument("--port", type=int, required=True)
    two.add_argument("--file", type=Path, required=True)
    args = parser.parse_args()
    if args.mode == "paced":
        paced(args)
    else:
        from_file(args)


if __name__ == "__main__":
    main()
