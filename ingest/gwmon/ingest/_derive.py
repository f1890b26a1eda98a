"""Values the ingest derives from what a probe sent, stored beside it (docs/wire-format.md):
a depth below ground becomes a level above sea level through the well's surveyed heights
valid at the measurement time (registry and well geometry file, docs/registry.md)."""

from __future__ import annotations

from decimal import Decimal

from gwmon.ingest._pack import PackColumns
from gwmon.ingest._registry import Probe

DEPTH = "depth"
LEVEL = "level"


def level_from_depth(probe: Probe, depth_m: float, time_ns: int) -> float:
    """The level (m NHN) of a depth (m below ground) measured at `time_ns`, with the
    ground level surveyed for that time (docs/registry.md, well geometry): a re-survey
    changes the levels derived from then on, never those stored before."""
    # Decimal keeps 143.4 - 8.13 = 135.27 exact instead of 135.26999999999998.
    ground = probe.ground_level_at(time_ns)
    return float(Decimal(repr(ground)) - Decimal(repr(depth_m)))


def with_derived(probe: Probe, columns: PackColumns) -> PackColumns:
    """The readings as sent, each depth followed by the level derived from it. The
    level's `record_name` stays `depth`, which is how analytics tells a derived level
    from a measured one."""
    if DEPTH not in columns.quantities:
        return columns
    derived = PackColumns(
        columns.probe,
        columns.arrival_ns,
        sequence=columns.sequence,
        rejections=columns.rejections,
    )
    for quantity, time_ns, value, name, censored in zip(
        columns.quantities,
        columns.times_ns,
        columns.values,
        columns.record_names,
        columns.censored,
        strict=True,
    ):
        derived.append(quantity, time_ns, value, name, censored)
        if quantity == DEPTH:
            derived.append(LEVEL, time_ns, level_from_depth(probe, value, time_ns), name, False)
    return derived
