"""Values the ingest derives from what a probe sent, stored beside it (docs/wire-format.md):
a depth below ground becomes a level above sea level through the well's surveyed heights
valid at the measurement time (registry and well geometry file, docs/registry.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from gwmon.ingest._registry import Probe
from gwmon.ingest._senml import Reading


def level_from_depth(probe: Probe, depth: Reading) -> Reading:
    """The level (m NHN) of a depth reading (m below ground). Its `record_name` stays
    `depth`, which is how analytics tells a derived level from a measured one."""
    # The ground level surveyed for the measurement time: a re-survey changes the levels
    # derived from then on, never those stored before. Decimal keeps 143.4 - 8.13 =
    # 135.27 exact instead of 135.26999999999998.
    ground = probe.ground_level_at(depth.time_ns)
    level = float(Decimal(repr(ground)) - Decimal(repr(depth.value)))
    return Reading(
        probe=depth.probe,
        quantity="level",
        time_ns=depth.time_ns,
        value=level,
        record_name=depth.record_name,
        arrival_ns=depth.arrival_ns,
    )


def with_derived(probe: Probe, readings: Iterable[Reading]) -> Iterator[Reading]:
    """Each reading as sent, each followed by what is derived from it."""
    for reading in readings:
        yield reading
        if reading.quantity == "depth":
            yield level_from_depth(probe, reading)
