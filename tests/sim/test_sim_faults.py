"""Every fault kind of the `faults` scenario shows in the ground truth exactly as specified,
and in what reaches the broker."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest

import gwmon_sim
from gwmon.ingest import Reason, decode_pack
from gwmon.ingest.devservers import MosquittoServer
from gwmon_sim import Fleet, TruthRow
from sim.simkit import REGISTRY, Collector, check_data

DAY = 86_400
HOUR = 3600
START = 1788220800  # 2026-09-01T00:00Z, the scenario's start


@pytest.fixture
def faults_run(mosquitto: MosquittoServer) -> Iterator[tuple[Fleet, Collector]]:
    collector = Collector(mosquitto)
    fleet = gwmon_sim.Fleet(gwmon_sim.load_scenario("faults"), REGISTRY, mosquitto.url)
    summary = fleet.run(drain_timeout_s=20)
    assert summary.done
    assert summary.dead_probes == ["TH-02"]
    expected = summary.publishes
    assert collector.wait_for(lambda m: sum(x.topic.endswith("/data") for x in m) >= expected)
    yield fleet, collector
    collector.close()


def rows(fleet: Fleet, probe: str, quantity: str) -> list[TruthRow]:
    return [r for r in fleet.truth() if r.probe_id == probe and r.quantity == quantity]


def tagged(rows_: list[TruthRow], fault: str) -> list[TruthRow]:
    return [r for r in rows_ if fault in r.faults.split(";")]


def test_value_faults(faults_run: tuple[Fleet, Collector]) -> None:
    fleet, _ = faults_run
    # spike: one sample of exactly 180 mg/L at day 1, nothing else touched.
    nitrate = rows(fleet, "LE-01", "nitrate")
    assert [(r.t, r.sent_value) for r in tagged(nitrate, "spike")] == [(START + DAY, 180.0)]
    assert all(r.sent_value == r.sensor_value for r in nitrate if not r.faults)
    # flatline: the value at day 1 repeated for 12 hourly samples.
    flat = tagged(rows(fleet, "LE-02", "nitrate"), "flatline")
    assert [r.t for r in flat] == [START + DAY + h * HOUR for h in range(12)]
    assert {r.sent_value for r in flat} == {flat[0].sensor_value}
    assert len({r.sensor_value for r in flat}) > 1  # the healthy sensor kept moving
    # drift: +2 mg/L per day from day 1.
    drift = tagged(rows(fleet, "LE-03", "nitrate"), "drift")
    assert len(drift) == 48
    for r in drift:
        assert r.sent_value is not None
        assert abs(r.sent_value - r.sensor_value - 2.0 * (r.t - START - DAY) / DAY) < 0.11
    # biofouling: slow positive bias 0.5 * d^2 / (d + 7) from day 0.
    fouled = tagged(rows(fleet, "LE-04", "nitrate"), "biofouling")
    assert len(fouled) == 72
    for r in fouled:
        d = (r.t - START) / DAY
        assert r.sent_value is not None
        assert abs(r.sent_value - r.sensor_value - 0.5 * d * d / (d + 7)) < 0.11
    # step: the level reads 0.25 m higher from day 2, i.e. depth 0.25 m smaller.
    step = tagged(rows(fleet, "LE-05", "level"), "step")
    assert [r.t for r in step] == [START + 2 * DAY + h * HOUR for h in range(24)]
    assert all(r.record == "depth" for r in step)
    for r in step:
        assert r.sent_value is not None
        assert abs(r.sensor_value - r.sent_value - 0.25) < 0.0015
    # nitrate_episode (physics, not a fault): the true value holds 60 mg/L after the ramp.
    episode = [r for r in rows(fleet, "TH-04", "nitrate") if r.t >= START + DAY + 6 * HOUR]
    held = [r for r in episode if r.t < START + 2 * DAY]
    assert len(held) == 18
    assert {r.true_value for r in held} == {60.0}


def test_dropout_and_clock_skew(faults_run: tuple[Fleet, Collector]) -> None:
    fleet, collector = faults_run
    dropped = [r for r in fleet.truth() if r.probe_id == "LE-06" and "dropout" in r.faults]
    assert sorted({r.quantity for r in dropped}) == ["nitrate", "temperature"]
    assert len(dropped) == 2 * 6
    assert all(r.sent_value is None for r in dropped)
    arrived = [r for p in collector.data("LE-06") for r in check_data("LE-06", p)]
    no_nitrate = {r.time for r in arrived if r.name == "seq"} - {
        r.time for r in arrived if r.name == "nitrate"
    }
    assert sorted(no_nitrate) == [START + DAY + h * HOUR for h in range(6)]
    skew = rows(fleet, "LE-07", "seq")
    assert all(r.t_stamp == r.t + (120 if r.t >= START + DAY else 0) for r in skew)
    assert len(tagged(skew, "clock_skew")) == 48
    stamped = sorted(
        r.time for p in collector.data("LE-07") for r in check_data("LE-07", p) if r.name == "seq"
    )
    assert stamped == sorted(float(r.t_stamp) for r in skew)


def test_duplicates_and_malformed_payloads(faults_run: tuple[Fleet, Collector]) -> None:
    fleet, collector = faults_run
    duplicates = Counter(collector.data("LE-08"))
    assert sorted(duplicates.values()) == [1] * 66 + [2] * 6
    assert len(tagged(rows(fleet, "LE-08", "seq"), "duplicate")) == 6
    # malformed (unknown_unit): 3 packs whose nitrate record has unit "ppm"; gwmon refuses
    # exactly that record and keeps the others.
    broken = [p for p in collector.data("TH-01") if b'"ppm"' in p]
    assert len(broken) == 3
    marked = [r for r in fleet.truth() if r.probe_id == "TH-01" and "malformed" in r.faults]
    assert {(r.quantity, r.faults) for r in marked} == {("nitrate", "malformed:unknown_unit")}
    assert len(marked) == 3
    for payload in broken:
        decoded = decode_pack("TH-01", payload, now_s=time.time())
        assert [x.reason for x in decoded.rejections] == [Reason.UNKNOWN_UNIT]
    for payload in collector.data("TH-01"):
        if payload not in broken:
            check_data("TH-01", payload)


def test_battery_death_and_offline(faults_run: tuple[Fleet, Collector]) -> None:
    fleet, collector = faults_run
    battery = rows(fleet, "TH-02", "battery")
    assert battery[-1].t < START + 2 * DAY + 12 * HOUR
    assert battery[-1].true_value < 10
    values = [r.true_value for r in battery]
    assert values == sorted(values, reverse=True)
    statuses = [
        json.loads(m.payload) for m in collector.snapshot() if m.topic.endswith("TH-02/status")
    ]
    assert statuses[-1] == {"online": False}  # the broker published the last will
    offline = tagged(rows(fleet, "TH-03", "seq"), "offline")
    assert [r.t for r in offline] == [START + DAY + h * HOUR for h in range(24)]
    assert {r.delivery for r in rows(fleet, "TH-03", "seq")} == {"acked"}
