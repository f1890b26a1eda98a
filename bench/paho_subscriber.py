"""The bare paho subscriber of the side-by-side bench: the limit of a Python MQTT consumer.

MQTT 5, QoS 1, paho's automatic acknowledgement, the same Receive Maximum as `gwmon run`;
per message only `json.loads` and counting the records. It stores nothing. A message on
the warm-up topic means "subscribed and flowing": it writes `--ready-file` and is not
counted. After `--expected` readings it writes the CLOCK_MONOTONIC time of the message
that completed the count (the same clock the bench reads) to `--result-file` and exits.

    python bench/paho_subscriber.py --port P --expected N --warmup-topic T \
        --ready-file F --result-file F
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--expected", type=int, required=True, help="readings to wait for")
    parser.add_argument("--warmup-topic", required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--result-file", type=Path, required=True)
    parser.add_argument("--receive-maximum", type=int, default=10_000)
    args = parser.parse_args()

    state: dict[str, float] = {"readings": 0, "messages": 0, "done_at": 0.0}

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        pack = json.loads(message.payload)
        if message.topic == args.warmup_topic:
            if not args.ready_file.exists():
                args.ready_file.write_text("ready\n")
            return
        state["messages"] += 1
        state["readings"] += len(pack) if isinstance(pack, list) else 0
        if state["readings"] >= args.expected and not state["done_at"]:
            state["done_at"] = time.monotonic()
            client.disconnect()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.on_connect = lambda c, *rest: c.subscribe("gw/v1/+/data", qos=1)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.ReceiveMaximum = args.receive_maximum
    client.connect("127.0.0.1", args.port, clean_start=True, properties=properties)
    client.loop_forever()
    state["max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    args.result_file.write_text(json.dumps(state) + "\n")


if __name__ == "__main__":
    main()
