"""Scale-out without the cost of the split (issue 11, "Scale-out"): the shared group
splits each probe's messages over its processes, so the owner gets them out of order
(its own at once, the others' as hand-offs a little later). The owner holds readings
after a gap until the gap's readings come (at most `reorder_hold_s`) and evaluates a
probe's readings in measurement order, so it replays nothing and writes no short-lived
flags: the same qc and alert points as one process fed in order. And the ingest's
messages are acknowledged only when their hand-offs are with the broker and their owned
readings evaluated, without the ingest waiting for that (`batch_done`)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.analytics_helpers import probe, reading, registry
from analytics.test_scale_out import FakeLink
from gwmon.analytics import AnalyticsObserver, PartitionedObserver, partition_of
from gwmon.analytics._handoff import (
    HandoffLink,
    LinkSettings,
    ProbeColumns,
    decode_handoff,
    decode_handoff_columns,
    encode_handoff,
    encode_handoff_rows,
    handoff_rows,
)
from gwmon.analytics._hold import Released, packs_of
from gwmon.analytics._rows import readings_of_columns
from gwmon.analytics._scale_out import OnHandoff, owned_registry
from gwmon.analytics._settings import load_settings
from gwmon.ingest import Reading, load_config
from gwmon.storage import InfluxClient

OWNED_PROBE = "LE-01"  # partition 0 of 16
OTHER_PROBE = "LE-07"  # partition 5 of 16
PACK_HOURS = 6


def _config(directory: Path, *, hold_s: float) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "gwmon.toml"
    path.write_text(
        '[mqtt]\nclient_id = "gwmon-a"\nshared_group = "g"\n'
        '[influxdb]\nurl = "http://127.0.0.1:9"\n'
        "[analytics]\nstate_dir = 'state'\n"
        "[analytics.scale_out]\nenabled = true\nowned = [0, 1]\n"
        f"reorder_hold_s = {hold_s}\n",
        encoding="utf-8",
    )
    return path


@contextmanager
def partitioned(
    directory: Path, *, hold_s: float, clock: Callable[[], float] = time.monotonic
) -> Iterator[tuple[PartitionedObserver, FakeLink]]:
    assert partition_of(OWNED_PROBE, 16) == 0 and partition_of(OTHER_PROBE, 16) == 5
    config = load_config(_config(directory, hold_s=hold_s))
    settings = load_settings(config)
    reg = registry(probe(OWNED_PROBE), probe(OTHER_PROBE))
    inner = AnalyticsObserver(
        config,
        owned_registry(reg, settings.scale_out),
        InfluxClient(config.influxdb),
        settings=settings,
    )
    links: list[FakeLink] = []

    def make_link(topics: tuple[str, ...], on_message: OnHandoff) -> FakeLink:
        links.append(FakeLink(topics, on_message))
        return links[-1]

    observer = PartitionedObserver(inner, settings.scale_out, make_link, clock=clock)
    try:
        yield observer, links[0]
    finally:
        observer.close()


@contextmanager
def single(directory: Path) -> Iterator[AnalyticsObserver]:
    """One process alone (no scale-out), same probes and settings otherwise."""
    config = load_config(_config(directory, hold_s=0))
    settings = load_settings(config)
    reg = registry(probe(OWNED_PROBE))
    observer = AnalyticsObserver(config, reg, InfluxClient(config.influxdb), settings=settings)
    try:
        yield observer
    finally:
        observer.close()


def packs(values: list[float]) -> list[list[Reading]]:
    """Hourly nitrate readings of the owned probe, PACK_HOURS per pack (one message
    each: one arrival time per pack, as the ingest stamps them)."""
    result = []
    for start in range(0, len(values), PACK_HOURS):
        group = [
            reading(start + offset, value, probe_id=OWNED_PROBE)
            for offset, value in enumerate(values[start : start + PACK_HOURS])
        ]
        arrival = group[-1].arrival_ns
        result.append([dataclasses.replace(r, arrival_ns=arrival) for r in group])
    return result


def handoff(readings: list[Reading]) -> bytes:
    return encode_handoff(readings, partitions=16, partition=0, sender="gwmon-b")


def stored_flags(observer: AnalyticsObserver) -> tuple[dict[str, str], list[str]]:
    """The qc points InfluxDB would hold once the observer's outbox is written (it is
    unreachable here, so everything waits there, in order; a later point replaces an
    earlier one of the same series and time), and the qc withdrawals."""
    points: dict[str, str] = {}
    withdrawals: list[str] = []
    for _, kind, body in observer._state.outbox():
        if kind != "line":
            withdrawals.append(body)
        elif body.startswith("qc,"):
            points[f"{body.partition(' ')[0]} {body.rsplit(' ', 1)[1]}"] = body
    return points, withdrawals


def alerts_held(observer: AnalyticsObserver) -> list[tuple[str, Any, Any, str]]:
    """Each alert's kind, start, end and state (the wording of its points depends on
    how the readings fall into batches, in one process as in many)."""
    return sorted(
        (a.kind.value, a.opened_at, a.resolved_at, a.state.value) for a in observer.alerts()
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# Nitrate values that flag (spikes, rate of change, range) and open alerts (above the
# 50 mg/L Schwellenwert) as well as quiet ones.
nitrate_values = st.lists(
    st.sampled_from([12.0, 12.5, 30.0, 49.0, 55.0, 80.0, 0.2]),
    min_size=3 * PACK_HOURS,
    max_size=8 * PACK_HOURS,
)


@given(
    values=nitrate_values,
    split=st.lists(st.booleans(), min_size=8, max_size=8),
    order=st.randoms(use_true_random=False),
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_packs_split_over_the_group_are_evaluated_as_one_process_does_in_order(
    tmp_path_factory: Any, values: list[float], split: list[bool], order: Any
) -> None:
    all_packs = packs(values)
    directory = tmp_path_factory.mktemp("split")
    with single(directory / "alone") as alone:
        for pack in all_packs:
            alone.batch_stored(pack)
        expected = stored_flags(alone)
        expected_alerts = alerts_held(alone)
    with partitioned(directory / "group", hold_s=60) as (observer, link):
        first, rest = all_packs[0], all_packs[1:]
        observer.batch_stored(first)
        assert observer.settle()  # the probe has a start now; the rest come in any order
        order.shuffle(rest)
        checks = []
        for number, pack in enumerate(rest):
            if split[number % len(split)]:
                # This process's message, as the ingest hands it over (with columns).
                observer.batch_stored(Released(packs_of(pack)) if number % 2 else pack)
                checks.append(observer.batch_done())
            else:
                link.on_message("gwmon/v1/analytics/0", handoff(pack))  # the other's
            assert observer.wait_idle()  # each evaluated before the next comes, or held
        # Every pack continues the probe once those before it came: none waits for the
        # hold (60 s), and all are evaluated in order.
        wait_for(
            lambda: (
                all(check is not None and check() for check in checks)
                and sorted(link.acked) == link.received
            ),
            "every batch and hand-off evaluated",
        )
        assert observer.inner.stats.readings == len(values)
        assert observer.inner.stats.replays == 0
        assert stored_flags(observer.inner) == expected  # no short-lived flag withdrawn
        assert alerts_held(observer.inner) == expected_alerts


def test_a_reading_after_a_gap_waits_for_the_gap_at_most_the_hold(tmp_path: Path) -> None:
    now = [1000.0]
    first, second, third, fourth, fifth = packs([20.0] * 5 * PACK_HOURS)
    with partitioned(tmp_path, hold_s=5, clock=lambda: now[0]) as (observer, link):
        stats = observer.inner.stats
        observer.batch_stored(first)  # nothing before it here: it may follow a gap
        time.sleep(0.6)  # the evaluation thread looks at the (frozen) clock meanwhile
        assert stats.readings == 0
        now[0] += 5.01
        wait_for(lambda: stats.readings == PACK_HOURS, "the hold to end")
        observer.batch_stored(third)  # a gap: the second pack is still on its way
        time.sleep(0.6)
        assert stats.readings == PACK_HOURS
        link.on_message("gwmon/v1/analytics/0", handoff(second))  # the gap is filled
        wait_for(lambda: stats.readings == 3 * PACK_HOURS, "the filled gap")
        assert stats.replays == 0
        observer.batch_stored(fifth)  # the fourth never comes in time ...
        now[0] += 5.01
        wait_for(lambda: stats.readings == 4 * PACK_HOURS, "the hold to end")
        link.on_message("gwmon/v1/analytics/0", handoff(fourth))  # ... but late
        wait_for(lambda: stats.readings == 5 * PACK_HOURS, "the late pack")
        assert stats.replays == 1  # evaluated at once (waiting cannot help it): replayed


def test_a_batch_is_acknowledged_once_its_handoffs_are_with_the_broker_and_its_readings_evaluated(
    tmp_path: Path,
) -> None:
    own = [reading(h, 20.0, probe_id=OWNED_PROBE) for h in range(3)]
    other = [reading(h, 20.0, probe_id=OTHER_PROBE) for h in range(3)]
    with partitioned(tmp_path, hold_s=60) as (observer, link):
        link.broker_took.clear()
        observer.batch_stored([*own, *other])  # returns without waiting for either
        check = observer.batch_done()
        assert check is not None
        assert observer.batch_done() is None  # one check per batch
        assert not check()
        assert observer.inner.stats.readings == 0  # held: nothing before it yet
        assert observer.settle()
        assert observer.inner.stats.readings == 3
        assert not check()  # the broker has not taken the hand-off yet
        link.broker_took.set()
        assert check()
        observer.batch_stored(other)  # only hand-offs
        check = observer.batch_done()
        assert check is not None and check()


def test_the_link_acknowledges_received_handoffs_in_arrival_order_when_each_is_done(
    tmp_path: Path,
) -> None:
    config = load_config(_config(tmp_path, hold_s=1))
    dones: list[Callable[[], None]] = []
    link = HandoffLink(
        LinkSettings(config.mqtt, "gwmon-a-analytics", None, None, ()),
        lambda topic, payload, done: dones.append(done),
    )
    acked: list[int] = []
    lock = threading.Lock()

    class Client:
        def ack(self, mid: int, qos: int) -> None:
            with lock:
                acked.append(mid)

    link._client = Client()  # type: ignore[assignment]
    for mid in (1, 2, 3):
        message = mqtt.MQTTMessage(mid=mid, topic=b"gwmon/v1/analytics/0")
        message.qos = 1
        link._inbox.put(message)
    link._inbox.put(None)
    link._work()
    assert len(dones) == 3
    dones[2]()
    assert acked == []  # the third is done, but the first two are not acknowledged yet
    dones[0]()
    assert acked == [1]
    dones[1]()
    assert acked == [1, 2, 3]


column_packs = st.lists(
    st.builds(
        lambda probe_id, arrival_ns, rows: ProbeColumns(
            probe_id,
            arrival_ns,
            [row[0] for row in rows],
            [row[1] for row in rows],
            [row[2] for row in rows],
            [row[3] for row in rows],
            [row[4] for row in rows],
        ),
        st.sampled_from(["LE-01", "WU-03", "TH-02"]),
        st.integers(0, 2**62),
        st.lists(
            st.tuples(
                st.sampled_from(["nitrate", "level", "depth"]),
                st.integers(-(2**62), 2**62),
                st.floats(allow_nan=False, allow_infinity=False),
                st.sampled_from(["nitrate", "level", "depth_raw"]),
                st.booleans(),
            ),
            min_size=1,
            max_size=6,
        ),
    ),
    max_size=6,
)


@given(packs=column_packs)
def test_a_handoff_made_from_the_ingests_columns_holds_exactly_their_readings(
    packs: list[ProbeColumns],
) -> None:
    readings = readings_of_columns(list(packs))
    from_columns = encode_handoff_rows(
        handoff_rows(packs), partitions=16, partition=3, sender="gwmon-a"
    )
    assert from_columns == encode_handoff(readings, partitions=16, partition=3, sender="gwmon-a")
    assert decode_handoff(from_columns).readings == readings
    assert readings_of_columns(list(decode_handoff_columns(from_columns).packs)) == sorted(
        readings,
        key=lambda r: [(p.probe, p.arrival_ns) for p in packs].index((r.probe, r.arrival_ns)),
    )
    # And back to columns for the owner: the same readings, message by message.
    assert readings_of_columns(packs_of(readings)) == sorted(
        readings,
        key=lambda r: [(p.probe, p.arrival_ns) for p in packs].index((r.probe, r.arrival_ns)),
    )
