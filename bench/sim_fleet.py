"""How many simulated probes one process drives: `gwmon_sim.Fleet` against a bare paho
publisher, both against the same private Mosquitto in the same run.

Baseline: ONE paho client in this process, driven by `loop()` (no thread), publishes the
same number of QoS 1 packs of the same size and waits for every PUBACK — the cheapest a
Python publisher gets. The fleet: P probes (own client, connection, credentials, last
will each), a scenario at `speed = max`, every cycle sampled by the physics model,
encoded, published and acknowledged before the probe's next cycle. Reported: cycles per
second, the ratio to the baseline and the peak memory; the wall time includes connecting
every probe. Absolute numbers vary on a noisy 2-core machine; the ratio is the point.

    .venv/bin/python bench/sim_fleet.py [--probes 24 100 300 1000] [--cycles 12000]
"""

from __future__ import annotations

import argparse
import csv
import math
import resource
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import gwmon_sim
from gwmon.ingest.devservers import MosquittoServer

REPO = Path(__file__).resolve().parent.parent
DEMO_REGISTRY = REPO / "examples" / "registry-wertvoll.csv"
START = 1788220800


def synthetic_registry(path: Path, probes: int) -> Path:
    with DEMO_REGISTRY.open(newline="", encoding="utf-8") as handle:
        template = list(csv.DictReader(handle))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(template[0]))
        writer.writeheader()
        for index in range(probes):
            row = dict(template[index % len(template)])
            row["probe_id"] = f"P{index:05d}"
            writer.writerow(row)
    return path


def baseline(broker: MosquittoServer, payload: bytes, messages: int) -> float:
    """Messages per second of one loop()-driven paho client, QoS 1, all acknowledged."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-baseline"
    )
    acked = 0

    def on_publish(*_: object) -> None:
        nonlocal acked
        acked += 1

    client.on_publish = on_publish
    client.max_inflight_messages_set(20)
    client.connect("127.0.0.1", broker.port)
    client.loop(1)
    started = time.perf_counter()
    for _ in range(messages):
        client.publish("gw/v1/BASE/data", payload, qos=1)
        client.loop(0)
    while acked < messages:
        client.loop(0.1)
    elapsed = time.perf_counter() - started
    client.disconnect()
    return messages / elapsed


def fleet_run(
    broker: MosquittoServer, registry: Path, probes: int, cycles: int
) -> dict[str, float]:
    hours = max(2, math.ceil(cycles / probes))
    scenario = gwmon_sim.parse_scenario(
        f'[scenario]\nname = "bench"\nstart = "2026-09-01T00:00:00Z"\n'
        f"days = {hours / 24}\ninterval_s = 3600\nseed = 1\n"
    )
    fleet = gwmon_sim.Fleet(scenario, registry, broker.url)
    started = time.perf_counter()
    summary = fleet.run(drain_timeout_s=120)
    elapsed = time.perf_counter() - started
    assert summary.done, summary
    assert summary.acked_packs == summary.cycles == probes * hours, summary
    return {"cycles": summary.cycles, "seconds": elapsed, "per_s": summary.cycles / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, nargs="+", default=[24, 100, 300, 1000])
    parser.add_argument("--cycles", type=int, default=12_000, help="cycles per fleet size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoServer(Path(tmp) / "mosquitto")
        broker.start()
        try:
            probe = gwmon_sim.simulate(
                gwmon_sim.load_scenario("smoke"), DEMO_REGISTRY, probes=["LE-01"]
            )[:1]
            payload = gwmon_sim.encode_pack("LE-01", probe)
            base = baseline(broker, payload, args.cycles)
            print(f"baseline: one paho client, {len(payload)} B packs, QoS 1: {base:,.0f} msg/s")
            print(
                f"{'probes':>7} {'cycles':>7} {'wall s':>7} {'cycles/s':>9} "
                f"{'vs base':>8} {'max RSS MB':>11}"
            )
            for probes in args.probes:
                registry = synthetic_registry(Path(tmp) / f"registry-{probes}.csv", probes)
                result = fleet_run(broker, registry, probes, args.cycles)
                rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(
                    f"{probes:>7} {result['cycles']:>7.0f} {result['seconds']:>7.1f} "
                    f"{result['per_s']:>9,.0f} {result['per_s'] / base:>8.2f} {rss_mb:>11.0f}"
                )
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
