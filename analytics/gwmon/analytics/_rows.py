"""One probe's readings of a batch as plain rows for the observer's in-order path
(`AnalyticsObserver._feed_in_order`): made from the ingest's message columns
(`gwmon.ingest.ColumnarReadings`) without a `Reading` object per reading (issue 11),
or from `Reading`s (callers that pass a plain list)."""

from __future__ import annotations

from itertools import pairwise, repeat
from operator import itemgetter

from gwmon.ingest import Reading, ReadingColumns

# One reading of a probe's batch as the in-order path reads it: (time_ns, quantity,
# value, arrival_ns, censored, record_name). Sorted as tuples, rows are in `_observer._ORDER`
# whenever no two share a (time, quantity), the only case that path takes.
Row = tuple[int, str, float, int, bool, str]
ARRIVAL = itemgetter(3)


def rows_of_readings(readings: list[Reading]) -> list[Row]:
    return [
        (r.time_ns, r.quantity, r.value, r.arrival_ns, r.censored, r.record_name) for r in readings
    ]


def rows_of_columns(packs: list[ReadingColumns]) -> list[Row]:
    rows: list[Row] = []
    for pack in packs:
        rows += zip(
            pack.times_ns,
            pack.quantities,
            pack.values,
            repeat(pack.arrival_ns, len(pack.times_ns)),
            pack.censored,
            pack.record_names,
            strict=True,
        )
    return rows


def readings_of_columns(packs: list[ReadingColumns]) -> list[Reading]:
    """The `Reading`s the columns stand for, in arrival order (the careful path)."""
    return [
        Reading(pack.probe, quantity, time_ns, value, name, pack.arrival_ns, censored=censored)
        for pack in packs
        for quantity, time_ns, value, name, censored in zip(
            pack.quantities,
            pack.times_ns,
            pack.values,
            pack.record_names,
            pack.censored,
            strict=True,
        )
    ]


def all_after(ordered: list[Row], pos: tuple[int, str] | None) -> bool:
    """Whether every row (sorted) lies after `pos` and no two share a (time, quantity):
    then none can be retained already, nor replace another."""
    first = ordered[0]
    if pos is not None and (first[0], first[1]) <= pos:
        return False
    for before, after in pairwise(ordered):
        if before[0] == after[0] and before[1] == after[1]:
            return False
    return True
