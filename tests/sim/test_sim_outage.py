"""Offline buffering and backfill: scheduled outages, outages injected on the fly, and a
broker that goes away and comes back."""

from __future__ import annotations

import gwmon_sim
from gwmon.ingest.devservers import MosquittoServer
from sim.simkit import REGISTRY, Collector, seqs_of

HOUR = 3600


def test_scheduled_outage_backfills_complete_and_in_order(
    mosquitto: MosquittoServer, collector: Collector
) -> None:
    fleet = gwmon_sim.Fleet(gwmon_sim.load_scenario("outage"), REGISTRY, mosquitto.url)
    summary = fleet.run(drain_timeout_s=20)
    assert summary.done
    truth = [r for r in fleet.truth() if r.probe_id == "LE-02" and r.quantity == "seq"]
    first_seq = truth[0].seq
    assert [r.seq for r in truth] == list(range(first_seq, first_seq + 72))
    offline = [r for r in truth if "offline" in r.faults.split(";")]
    assert [r.seq for r in offline] == list(range(first_seq + 24, first_seq + 48))
    assert {r.delivery for r in truth} == {"acked"}
    assert collector.wait_for(lambda msgs: len(seqs_of(collector.data("LE-02"), "LE-02")) >= 72)
    payloads = collector.data("LE-02")
    # Complete, no duplicates, oldest first: every cycle exactly once, in sampling order.
    assert seqs_of(payloads, "LE-02") == list(range(first_seq, first_seq + 72))
    # The backlog (24 offline cycles + the cycle that reconnected) travels in packs of
    # several cycles, each <= 2 KiB (the scenario's max_pack_bytes); the rest one per pack.
    backlog_seqs = set(range(first_seq + 24, first_seq + 49))
    backfill = [p for p in payloads if set(seqs_of([p], "LE-02")) & backlog_seqs]
    assert sorted(s for p in backfill for s in seqs_of([p], "LE-02")) == sorted(backlog_seqs)
    assert 2 <= len(backfill) <= 5
    assert all(len(p) <= 2048 for p in backfill)
    assert len(seqs_of(backfill[:1], "LE-02")) > 5
    assert len(payloads) == 72 - 25 + len(backfill)
    packs_in_truth = {r.pack for r in truth if r.seq in backlog_seqs}
    assert len(packs_in_truth) == len(backfill)
    # The broker announced the outage through the last will, then the probe came back.
    states = [s["online"] for s in collector.status("LE-02")]
    assert states == [True, False, True]
    assert collector.status("LE-02")[1] == {"online": False}
    # LE-01 was never offline: one pack per cycle.
    assert collector.wait_for(lambda _: len(collector.data("LE-01")) == 72)


def test_offline_and_spike_injected_on_the_fly(
    mosquitto: MosquittoServer, collector: Collector
) -> None:
    fleet = gwmon_sim.Fleet(
        gwmon_sim.load_scenario("smoke"), REGISTRY, mosquitto.url, speed=0, probes=["LE-01"]
    )
    fleet.start()
    try:
        fleet.advance(5 * HOUR)  # cycles at 0..5 h
        assert fleet.wait_idle(20)
        fleet.take_offline("LE-01")
        fleet.advance(4 * HOUR)  # cycles at 6..9 h buffered
        assert fleet.wait_idle(20)
        assert collector.wait_for(lambda _: len(collector.data("LE-01")) == 6)
        fleet.inject_spike("LE-01", 250.0)
        fleet.bring_online("LE-01")
        fleet.advance(2 * HOUR)  # cycle at 10 h reconnects and backfills, 11 h live
        assert fleet.wait_idle(20)
    finally:
        fleet.stop()
    assert collector.wait_for(lambda _: len(seqs_of(collector.data("LE-01"), "LE-01")) == 12)
    truth = [r for r in fleet.truth() if r.quantity == "seq"]
    assert seqs_of(collector.data("LE-01"), "LE-01") == [r.seq for r in truth]
    spiked = [r for r in fleet.truth() if "spike" in r.faults.split(";")]
    assert [(r.quantity, r.sent_value, r.t) for r in spiked] == [
        ("nitrate", 250.0, fleet.start_s + 10 * HOUR)
    ]
    offline = [r.t for r in truth if "offline" in r.faults.split(";")]
    assert offline == [fleet.start_s + h * HOUR for h in range(6, 10)]


def test_reconnects_after_broker_restart_and_sends_what_it_buffered(
    persistent_mosquitto: MosquittoServer,
) -> None:
    broker = persistent_mosquitto
    watcher = Collector(broker, persistent_id="watcher")
    fleet = gwmon_sim.Fleet(gwmon_sim.load_scenario("smoke"), REGISTRY, broker.url, speed=0)
    fleet.start()
    try:
        fleet.advance(5 * HOUR)  # cycles at 0..5 h
        assert fleet.wait_idle(20)
        broker.stop()
        fleet.advance(6 * HOUR)  # cycles at 6..11 h, sampled while the broker is gone
        assert not fleet.wait_idle(0.5)  # nothing can be acknowledged now
        broker.start()
        assert fleet.wait_idle(30)  # reconnected (backoff) and sent the buffer
        broker.restart()
        fleet.advance(3 * HOUR)  # publishing resumes after a restart
        assert fleet.wait_idle(30)
    finally:
        summary = fleet.stop()
    truth = [r for r in fleet.truth() if r.quantity == "seq"]
    assert len(truth) == 3 * 15
    assert {r.delivery for r in truth} == {"acked"}
    assert summary.connects == 3 * 3  # first connect + one reconnect per outage
    try:
        for probe in ("LE-01", "TH-01", "WU-01"):
            expected = [r.seq for r in truth if r.probe_id == probe]
            wanted = len(expected)

            def complete(_: object, probe: str = probe, wanted: int = wanted) -> bool:
                return len(set(seqs_of(watcher.data(probe), probe))) >= wanted

            assert watcher.wait_for(complete, timeout=15)
            # The broker may redeliver to our QoS 1 watcher after its restarts (at least
            # once); what the probes sent is complete and in order by first arrival.
            arrived = seqs_of(watcher.data(probe), probe)
            assert list(dict.fromkeys(arrived)) == expected
            # The cycles buffered during the outage travelled together in a backfill pack
            # (5 or 6 of them: the first may have been published just before the broker
            # was seen to be gone; paho then re-sends it after the reconnect).
            sizes = [len(seqs_of([p], probe)) for p in dict.fromkeys(watcher.data(probe))]
            assert sizes[:6] == [1] * 6
            assert max(sizes) in (5, 6)
    finally:
        watcher.close()


def test_a_full_buffer_drops_the_oldest_cycles(
    mosquitto: MosquittoServer, collector: Collector
) -> None:
    scenario = gwmon_sim.parse_scenario(
        """
        [scenario]
        name = "tiny-buffer"
        start = "2026-09-01T00:00:00Z"
        days = 2
        interval_s = 3600
        probes = ["LE-01"]
        [network]
        buffer_capacity = 10
        [[events]]
        probe = "LE-01"
        kind = "offline"
        day = 0.5
        days = 1
        """
    )
    fleet = gwmon_sim.Fleet(scenario, REGISTRY, mosquitto.url)
    summary = fleet.run(drain_timeout_s=20)
    assert summary.done and summary.dropped_cycles == 14  # 24 offline cycles, room for 10
    truth = [r for r in fleet.truth() if r.quantity == "seq"]
    first = truth[0].seq
    dropped = [r.seq - first for r in truth if r.delivery == "dropped"]
    assert dropped == list(range(12, 26))  # the oldest of the outage went first
    assert collector.wait_for(lambda _: len(seqs_of(collector.data("LE-01"), "LE-01")) == 34)
    arrived = seqs_of(collector.data("LE-01"), "LE-01")
    assert arrived == [r.seq for r in truth if r.delivery == "acked"]
    assert [s - first for s in arrived][10:14] == [10, 11, 26, 27]  # the gap gwmon will count
