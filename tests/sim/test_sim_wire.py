"""Simulated probes against a real Mosquitto: payloads follow the wire contract, runs are
deterministic by seed, retained status and last will behave like field firmware."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path

import gwmon_sim
from gwmon.ingest import decode_pack
from gwmon.ingest.devservers import MosquittoServer
from sim.simkit import REGISTRY, Collector, check_data, check_status

SMOKE_PROBES = ["LE-01", "TH-01", "WU-01"]


def run_scenario(
    broker: MosquittoServer, name: str, *, seed: int | None = None, prefix: str = ""
) -> gwmon_sim.Fleet:
    fleet = gwmon_sim.Fleet(
        gwmon_sim.load_scenario(name), REGISTRY, broker.url, seed=seed, topic_prefix=prefix
    )
    summary = fleet.run(drain_timeout_s=20)
    assert summary.done, summary
    return fleet


def test_every_smoke_payload_follows_the_wire_contract(
    mosquitto: MosquittoServer, collector: Collector
) -> None:
    fleet = run_scenario(mosquitto, "smoke")
    assert collector.wait_for(lambda msgs: sum("/data" in m.topic for m in msgs) >= 144)
    truth = fleet.truth()
    for probe in SMOKE_PROBES:
        payloads = collector.data(probe)
        assert len(payloads) == 48  # one pack per hourly cycle while online, 2 days
        records = [r for p in payloads for r in check_data(probe, p)]
        # What arrived is exactly what the ground truth says was sent (record, unit, value, time).
        arrived = sorted((r.name, r.unit or "", r.value, r.time) for r in records)
        expected = sorted(
            (row.record, row.unit, row.sent_value, float(row.t_stamp))
            for row in truth
            if row.probe_id == probe and row.sent_value is not None
        )
        assert arrived == expected
        # gwmon's own decoder accepts every record (cross-check; the sim never imports it).
        for payload in payloads:
            decoded = decode_pack(probe, payload, now_s=time.time())
            assert decoded.rejections == []
    names = {row.record for row in truth}
    assert {"nitrate", "nitrate_n", "depth", "level", "temperature", "conductivity"} <= names
    assert {row.delivery for row in truth} == {"acked"}


def test_status_is_retained_and_the_will_is_offline(
    mosquitto: MosquittoServer, collector: Collector
) -> None:
    run_scenario(mosquitto, "smoke")
    late = Collector(mosquitto)  # subscribes after the run: sees only retained messages
    try:
        assert late.wait_for(lambda msgs: len(msgs) >= 3)
        retained = {m.topic: m for m in late.snapshot()}
        assert set(retained) == {f"gw/v1/{p}/status" for p in SMOKE_PROBES}
        for message in retained.values():
            assert message.retain
            body = check_status(message.payload)
            assert body["online"] is True
            assert body["firmware"] == "gwmon-sim 0.1.0"
            assert body["t"] == 1788220800  # the scenario's start: simulated, not wall clock
    finally:
        late.close()


def test_same_seed_gives_byte_identical_payloads_and_another_seed_does_not(
    mosquitto: MosquittoServer, collector: Collector
) -> None:
    def payloads_by_probe(start: int) -> dict[str, list[bytes]]:
        out: dict[str, list[bytes]] = defaultdict(list)
        for message in collector.snapshot()[start:]:
            if message.topic.endswith("/data"):
                out[message.topic].append(message.payload)
        return dict(out)

    run_scenario(mosquitto, "faults", seed=3)
    assert collector.wait_for(lambda m: sum("/data" in x.topic for x in m) >= 835)
    first_count = len(collector.snapshot())
    first = payloads_by_probe(0)
    run_scenario(mosquitto, "faults", seed=3)
    assert collector.wait_for(lambda m: len(m) >= 2 * first_count)
    second = payloads_by_probe(first_count)
    assert first == second
    assert sum(len(v) for v in first.values()) == 835  # incl. 6 duplicate sends
    run_scenario(mosquitto, "faults", seed=4)
    assert collector.wait_for(lambda m: len(m) >= 3 * first_count)
    third = payloads_by_probe(2 * first_count)
    assert third.keys() == first.keys()
    assert all(third[topic] != first[topic] for topic in first)


def test_topic_prefix_is_respected(mosquitto: MosquittoServer, collector: Collector) -> None:
    run_scenario(mosquitto, "smoke", prefix="utility-a")
    assert collector.wait_for(lambda msgs: sum("/data" in m.topic for m in msgs) >= 144)
    topics = Counter(m.topic for m in collector.snapshot())
    assert topics["utility-a/gw/v1/LE-01/data"] == 48
    assert all(t.startswith("utility-a/gw/v1/") for t in topics)


def test_simulate_without_broker_matches_the_fleet(
    mosquitto: MosquittoServer, collector: Collector
) -> None:
    fleet = run_scenario(mosquitto, "smoke")
    offline = gwmon_sim.simulate(gwmon_sim.load_scenario("smoke"), REGISTRY)
    sent = sorted(
        (r.probe_id, r.seq, r.record, r.sent_value) for r in fleet.truth() if r.record != "seq"
    )
    simulated = sorted(
        (c.probe_id, c.seq, s.record, s.sent_value) for c in offline for s in c.samples
    )
    assert sent == simulated


def test_write_truth_round_trips(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    fleet = run_scenario(mosquitto, "smoke")
    path = tmp_path / "truth.csv"
    assert fleet.write_truth(path) == 3 * 48 * 6  # seq + 5 quantities per cycle
    assert gwmon_sim.read_truth_csv(path) == fleet.truth()
    header = path.read_text().splitlines()[0].split(",")
    assert tuple(header) == gwmon_sim.TRUTH_COLUMNS


def test_accelerated_clock_never_runs_ahead_and_gives_the_same_payloads(
    mosquitto: MosquittoServer, collector: Collector
) -> None:
    speed = 86_400.0  # one simulated day per second: the 2-day smoke scenario takes ~2 s
    fleet = gwmon_sim.Fleet(gwmon_sim.load_scenario("smoke"), REGISTRY, mosquitto.url, speed=speed)
    before = time.monotonic()
    fleet.start()
    try:
        readings: list[tuple[float, float]] = []
        while not fleet.wait_done(0.1):
            readings.append((time.monotonic() - before, fleet.sim_time_s))
            assert len(readings) < 300, "the 2-day scenario should finish in well under 30 s"
    finally:
        fleet.stop()
    assert len(readings) >= 5  # it really took a while: paced by the clock, not by the broker
    for elapsed, sim_time in readings:
        assert sim_time <= fleet.start_s + elapsed * speed  # never ahead of the paced clock
    assert collector.wait_for(lambda msgs: sum("/data" in m.topic for m in msgs) >= 144)
    paced = {p: collector.data(p) for p in SMOKE_PROBES}
    fast = run_scenario(mosquitto, "smoke")
    assert collector.wait_for(lambda msgs: sum("/data" in m.topic for m in msgs) >= 288)
    for probe in SMOKE_PROBES:
        assert collector.data(probe) == paced[probe] * 2  # identical bytes, same order

    def values(f: gwmon_sim.Fleet) -> list[tuple[str, int, str, float | None]]:
        return [(r.probe_id, r.seq, r.record, r.sent_value) for r in f.truth()]

    assert sorted(values(fast)) == sorted(values(fleet))
