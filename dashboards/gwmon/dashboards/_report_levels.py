"""The report's groundwater-level table: per well the month's mean, highest and lowest
level (m NHN) with their dates, the form in which state agencies publish levels, and
the approval levels of the values behind them.

Values come from the one series reader (`gwmon.storage.series`): the corrected series
where it has a point, raw elsewhere; values a correction deleted and values flagged by
quality control are not counted (the same rule as for nitrate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gwmon.ingest import Probe
from gwmon.storage import InfluxClient
from gwmon.storage import series as stored

LEVEL_QUANTITY = "level"
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class LevelMonth:
    """One well's month of levels. Highest and lowest: (value, UNIX seconds) of the
    first time the month reached them."""

    probe: Probe
    count: int
    mean: float | None
    highest: tuple[float, float] | None
    lowest: tuple[float, float] | None
    approval_levels: tuple[str, ...]  # of the counted values, best first


def level_month(probe: Probe, values: Sequence[tuple[float, float, str]]) -> LevelMonth:
    """The month's figures from (UNIX seconds, level, approval level) in time order."""
    if not values:
        return LevelMonth(probe, 0, None, None, None, ())
    highest = lowest = values[0]
    for value in values[1:]:
        if value[1] > highest[1]:
            highest = value
        if value[1] < lowest[1]:
            lowest = value
    mean = sum(level for _, level, _ in values) / len(values)
    return LevelMonth(
        probe,
        len(values),
        mean,
        (highest[1], highest[0]),
        (lowest[1], lowest[0]),
        tuple(stored.best_first(level for _, _, level in values)),
    )


def read_level_months(
    client: InfluxClient, probes: Sequence[Probe], start_ns: int, end_ns: int
) -> list[LevelMonth]:
    """Each probe's levels in [start_ns, end_ns), corrected, without deleted or
    QC-flagged values."""
    months = []
    for probe in probes:
        pid = probe.probe_id
        flagged = stored.read_flags(client, pid, LEVEL_QUANTITY, start_ns=start_ns, end_ns=end_ns)
        approvals = stored.read_approvals(client, pid, LEVEL_QUANTITY)
        values = [
            (item.time_ns / _NS, item.value, approvals.level_at(item.time_ns))
            for item in stored.read_series(
                client, pid, LEVEL_QUANTITY, start_ns=start_ns, end_ns=end_ns
            )
            if item.value is not None and item.time_ns not in flagged
        ]
        months.append(level_month(probe, values))
    return months
