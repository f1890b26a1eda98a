"""The observer's in-order fast path (`_feed_in_order`: readings that all lie after
everything evaluated) gives exactly what the careful path (`_retain` + `_feed_live`,
taken when `in_order_fast_path` is False) gives: the same state file (retained readings
with their flags, evaluator snapshots, alerts, outbox of qc/alert points) and the same
alert events, for any batches of readings: in order, late, duplicated, replaced, flagged,
below the LOQ, derived from a depth (issue 11). The same holds when the batches come as
`gwmon run` hands them over: its `StoredReadings`, read through their message columns
(`ColumnarReadings`), with some lines refused by InfluxDB."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from itertools import pairwise
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.analytics_helpers import (
    NS,
    T0,
    feed_and_dump,
    observer,
    probe,
    registry,
    write_config,
)
from gwmon.analytics import Episode
from gwmon.ingest import ColumnarReadings, Reading
from gwmon.ingest._batch import Batch, StoredReadings
from gwmon.ingest._pack import PackColumns

HOUR_NS = 3600 * NS
PROBES = ("P-1", "P-2")


@st.composite
def readings_of(draw: st.DrawFn) -> list[Reading]:
    """A few probes' hours of nitrate, level (some derived from a depth) and temperature
    crossing the thresholds, with spikes, flatlines, "< LOQ" values and range faults."""
    out: list[Reading] = []
    for probe_id in PROBES:
        hours = draw(st.integers(0, 40))
        nitrate = draw(st.floats(20, 60))
        for hour in range(hours):
            time_ns = (T0 * NS) + hour * HOUR_NS
            arrival = time_ns + draw(st.integers(1, 5)) * NS
            nitrate += draw(st.sampled_from([0.0, 0.0, 2.5, -2.5, 4.0, -4.0, 30.0, -30.0]))
            censored = draw(st.integers(0, 9)) == 0
            value = 0.5 if censored else round(nitrate, 1)
            out.append(Reading(probe_id, "nitrate", time_ns, value, "nitrate", arrival, censored))
            if draw(st.booleans()):
                depth = draw(st.sampled_from([1.0, 5.0, 5.6, 6.2, 600.0]))
                out.append(Reading(probe_id, "depth", time_ns, depth, "depth", arrival))
                level = round(112.9 - depth, 6)
                out.append(Reading(probe_id, "level", time_ns, level, "depth", arrival))
            if draw(st.integers(0, 3)) == 0:
                temperature = draw(st.sampled_from([10.0, 10.5, 55.0]))
                out.append(Reading(probe_id, "temperature", time_ns, temperature, "t", arrival))
    return out


@st.composite
def batches_of(draw: st.DrawFn) -> list[list[Reading]]:
    items = draw(readings_of())
    mode = draw(st.sampled_from(["in order", "shuffled", "duplicates", "replaced"]))
    if mode == "shuffled":
        items = draw(st.permutations(items))
    elif mode == "duplicates" and items:
        items = items + draw(st.lists(st.sampled_from(items), max_size=8))
    elif mode == "replaced" and items:
        for _ in range(draw(st.integers(1, 4))):
            old = draw(st.sampled_from(items))
            items.append(
                Reading(
                    old.probe,
                    old.quantity,
                    old.time_ns,
                    old.value + 1.0,
                    old.record_name,
                    old.arrival_ns + NS,
                    old.censored,
                )
            )
    cuts = sorted(draw(st.lists(st.integers(0, len(items)), max_size=6)))
    bounds = [0, *cuts, len(items)]
    return [items[a:b] for a, b in pairwise(bounds) if b > a]


def run(
    directory: Path, batches: list[list[Reading]] | list[StoredReadings], *, fast: bool
) -> tuple[object, ...]:
    config = write_config(directory, analytics='reorder_horizon_s = 36000\nqc_withdrawal = "mark"')
    obs = observer(config, registry(*(probe(p) for p in PROBES)))
    obs.in_order_fast_path = fast
    return feed_and_dump(obs, batches, directory / "state")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches_of())
def test_the_in_order_fast_path_gives_what_the_careful_path_gives(
    batches: list[list[Reading]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        careful = run(Path(tmp) / "careful", batches, fast=False)
        fast = run(Path(tmp) / "fast", batches, fast=True)
    assert fast == careful


@given(st.builds(Episode))
def test_an_episode_snapshot_is_what_dataclasses_asdict_gives(episode: Episode) -> None:
    assert episode.to_dict() == asdict(episode)
    assert list(episode.to_dict()) == list(asdict(episode))


def as_stored(batch: list[Reading], refused_at: set[int]) -> tuple[StoredReadings, list[Reading]]:
    """The batch as the ingest's `StoredReadings`: one message per run of readings of one
    probe and arrival, the lines at `refused_at` refused; and the readings it stands for."""
    packs = Batch()
    for reading in batch:
        last = packs.packs[-1][1] if packs.packs else None
        if last is None or (last.probe, last.arrival_ns) != (reading.probe, reading.arrival_ns):
            packs.add_readings(PackColumns(reading.probe, reading.arrival_ns), [])
            last = packs.packs[-1][1]
        last.append(
            reading.quantity, reading.time_ns, reading.value, reading.record_name, reading.censored
        )
        packs.lines.append("")  # one line per reading, as `add_readings` keeps them
        packs.reading_count += 1
    refused = {index: "refused" for index in refused_at if index < len(batch)}
    kept = [reading for index, reading in enumerate(batch) if index not in refused]
    return StoredReadings(packs, refused), kept


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches_of(), st.data())
def test_the_ingests_columns_give_what_the_careful_path_gives_for_the_readings(
    batches: list[list[Reading]], data: st.DataObject
) -> None:
    stored: list[StoredReadings] = []
    readings: list[list[Reading]] = []
    for batch in batches:
        refused_at = data.draw(st.sets(st.integers(0, max(len(batch) - 1, 0)), max_size=3))
        columnar, kept = as_stored(batch, refused_at)
        assert isinstance(columnar, ColumnarReadings)
        assert list(columnar) == kept  # the `Reading` view: what the columns stand for
        stored.append(columnar)
        readings.append(kept)
    with tempfile.TemporaryDirectory() as tmp:
        careful = run(Path(tmp) / "careful", readings, fast=False)
        fast = run(Path(tmp) / "fast", stored, fast=True)
    assert fast == careful
