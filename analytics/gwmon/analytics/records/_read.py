"""The corrected series for Python readers (report, export, trend test).

Computed on read from the raw readings and the present operations, with the same rules
that wrote `reading_corrected`, so it never depends on whether that measurement is up
to date; each point carries the QC flags of its raw reading (same probe, quantity and
time in `qc`) and the approval level of its time.
"""

from __future__ import annotations

from dataclasses import dataclass

from gwmon.analytics.records._model import ApprovalLevel, correct_one, in_order, levels_over
from gwmon.analytics.records._store import RecordsStore
from gwmon.storage import InfluxClient


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One reading of the corrected series. `corrections`: ids applied, in order (empty:
    the raw value); `flags`: QC flags of the raw reading; `level`: approval level."""

    time_ns: int
    value: float
    raw_value: float
    deleted: bool
    censored: bool
    corrections: tuple[str, ...]
    flags: tuple[str, ...]
    level: ApprovalLevel


def corrected_series(
    client: InfluxClient,
    probe: str,
    quantity: str,
    from_ns: int,
    to_ns: int,
    *,
    include_deleted: bool = False,
) -> list[SeriesPoint]:
    """The corrected series of (probe, quantity) over [from_ns, to_ns], oldest first;
    deleted readings only with `include_deleted`. Raises StoreError."""
    store = RecordsStore(client)
    operations = in_order(c for c in store.corrections(probe, quantity) if c.active)
    flags = store.qc_flags(probe, quantity, from_ns, to_ns)
    levels = levels_over(store.approvals(probe, quantity), from_ns, to_ns)
    points: list[SeriesPoint] = []
    part = 0
    for reading in store.raw_readings(probe, quantity, from_ns, to_ns):
        value = correct_one(reading.raw, operations)
        if value.deleted and not include_deleted:
            continue
        while levels[part].to_ns < value.time_ns:
            part += 1
        points.append(
            SeriesPoint(
                time_ns=value.time_ns,
                value=value.value,
                raw_value=value.raw_value,
                deleted=value.deleted,
                censored=value.censored,
                corrections=value.applied,
                flags=flags.get(value.time_ns, ()),
                level=levels[part].level,
            )
        )
    return points
