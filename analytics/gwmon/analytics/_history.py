"""The readings the observer keeps per probe for re-evaluation (the reorder horizon).

A `Track` holds, per quantity, the retained readings in time order with the flags they
got (`Series`), the evaluator's state just before the oldest of them (`base`) and the
live evaluator (`current`). `merged` yields them in (time, quantity) order, the order
the evaluator must see them in.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gwmon.analytics._engine import Flag, ProbeEvaluator
from gwmon.analytics._settings import ProbePlan
from gwmon.analytics._state import HistoryRow
from gwmon.ingest import CANONICAL_QUANTITIES, Probe, Reading


class Entry:
    """One retained reading and the flags it got."""

    __slots__ = ("arrival_ns", "censored", "derived_from", "flags", "quantity", "time_ns", "value")

    def __init__(
        self,
        time_ns: int,
        quantity: str,
        value: float,
        arrival_ns: int,
        flags: tuple[Flag, ...],
        *,
        censored: bool = False,
        derived_from: str | None = None,
    ) -> None:
        self.time_ns = time_ns
        self.quantity = quantity
        self.value = value
        self.arrival_ns = arrival_ns
        self.flags = flags
        self.censored = censored
        self.derived_from = derived_from

    @classmethod
    def of(cls, reading: Reading) -> Entry:
        return cls(
            reading.time_ns,
            reading.quantity,
            reading.value,
            reading.arrival_ns,
            (),
            censored=reading.censored,
            derived_from=derived_from(reading),
        )

    @classmethod
    def from_row(cls, row: HistoryRow) -> Entry:
        _probe, quantity, time_ns, value, arrival_ns, flags, censored, source = row
        return cls(
            time_ns,
            quantity,
            value,
            arrival_ns,
            _flags_from_json(flags),
            censored=bool(censored),
            derived_from=source,
        )

    def row(self, probe: Probe) -> HistoryRow:
        return (
            probe.probe_id,
            self.quantity,
            self.time_ns,
            self.value,
            self.arrival_ns,
            _flags_json(self.flags),
            int(self.censored),
            self.derived_from,
        )

    def same_reading(self, reading: Reading) -> bool:
        """An exact duplicate: InfluxDB already holds the same value (and kind of it)."""
        return (self.value, self.censored, self.derived_from) == (
            reading.value,
            reading.censored,
            derived_from(reading),
        )

    def replace_by(self, reading: Reading) -> None:
        """InfluxDB keeps the last write of a point: so do we."""
        self.value = reading.value
        self.arrival_ns = reading.arrival_ns
        self.censored = reading.censored
        self.derived_from = derived_from(reading)

    def feed(self, evaluator: ProbeEvaluator) -> tuple[Flag, ...]:
        return evaluator.feed(
            self.time_ns,
            self.quantity,
            self.value,
            self.arrival_ns,
            censored=self.censored,
            derived_from=self.derived_from,
        )


def derived_from(reading: Reading) -> str | None:
    """The quantity a reading was computed from: the ingest derives `level` from a
    `depth` record and keeps the record name ("depth") on the derived reading."""
    name = reading.record_name
    if name != reading.quantity and name in CANONICAL_QUANTITIES:
        return name
    return None


def _flags_json(flags: tuple[Flag, ...]) -> str:
    return json.dumps([list(flag) for flag in flags]) if flags else "[]"


def _flags_from_json(text: str) -> tuple[Flag, ...]:
    return tuple(
        Flag(str(a), str(b), str(c), "bad" if d == "bad" else "info")
        for a, b, c, d in json.loads(text)
    )


@dataclass
class Series:
    times: list[int] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Track:
    plan: ProbePlan
    base: dict[str, Any] | None
    current: ProbeEvaluator
    series: dict[str, Series] = field(default_factory=dict)
    last_arrival_ns: int | None = None
    # Evaluator snapshots taken while feeding, at grid times (state before the first
    # reading at or after the time): pruning moves `base` to one without re-feeding.
    checkpoints: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def probe(self) -> Probe:
        return self.plan.probe

    def merged(self, before_ns: int | None = None) -> Iterator[Entry]:
        streams = [series.entries for series in self.series.values()]
        for entry in heapq.merge(*streams, key=lambda e: (e.time_ns, e.quantity)):
            if before_ns is not None and entry.time_ns >= before_ns:
                return
            yield entry

    def base_pos(self) -> tuple[int, str] | None:
        if not self.base or self.base.get("pos") is None:
            return None
        pos = self.base["pos"]
        return (int(pos[0]), str(pos[1]))

    def newest_ns(self) -> int | None:
        times = [series.times[-1] for series in self.series.values() if series.times]
        return max(times) if times else None

    def oldest_ns(self) -> int | None:
        times = [series.times[0] for series in self.series.values() if series.times]
        return min(times) if times else None

    def state_row(self) -> tuple[str, str, int | None]:
        """What the state file keeps of the track besides its readings."""
        return json.dumps(self.base), json.dumps(self.current.snapshot()), self.last_arrival_ns
