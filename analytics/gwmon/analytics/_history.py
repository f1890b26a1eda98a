"""The readings the observer keeps per probe for re-evaluation (the reorder horizon).

A `Track` holds, per quantity, the retained readings in time order with the flags they
got (`Series`), the evaluator's state just before the oldest of them (`base`) and the
live evaluator (`current`). `merged` yields them in (time, quantity) order, the order
the evaluator must see them in.

A fleet retains millions of readings (every reading of `reorder_horizon_s`, 14 days by
default), and the state file holds every one of them (its `history` rows). So a track
keeps its series in memory only while a batch needs them (a late, duplicate or replaced
reading, or a prune that must feed forward): the observer loads them from the state
file then (`loaded`) and drops them after the batch. In between a track keeps only the
times of its oldest and newest retained readings; readings in order need no more (issue
11, target 4; docs/performance.md "Memory with analytics on"). While loaded, a `Series`
keeps its readings as columns (`array` of machine integers and doubles) with the rare
parts (flags, "< LOQ", derived-from) in small maps keyed by time; an `Entry` is a
short-lived view of one reading while it is evaluated.
"""

from __future__ import annotations

import bisect
import heapq
import json
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from gwmon.analytics._engine import Flag, ProbeEvaluator
from gwmon.analytics._settings import ProbePlan
from gwmon.analytics._state import HistoryRow
from gwmon.ingest import CANONICAL_QUANTITIES, Probe, Reading


class Entry:
    """One retained reading and the flags it got, read out of its `Series`."""

    __slots__ = (
        "arrival_ns",
        "censored",
        "derived_from",
        "flags",
        "quantity",
        "series",
        "time_ns",
        "value",
    )

    def __init__(self, series: Series, index: int) -> None:
        time_ns = series.times[index]
        self.series = series
        self.quantity = series.quantity
        self.time_ns = time_ns
        self.value = series.values[index]
        self.arrival_ns = series.arrivals[index]
        self.flags = series.flags.get(time_ns, ())
        self.censored = time_ns in series.censored
        self.derived_from = series.derived.get(time_ns)

    def keep_flags(self, flags: tuple[Flag, ...]) -> None:
        """Record the flags the reading got now (in its series)."""
        self.flags = flags
        if flags:
            self.series.flags[self.time_ns] = flags
        else:
            self.series.flags.pop(self.time_ns, None)

    def row(self, probe: Probe) -> HistoryRow:
        return (
            probe.probe_id,
            self.quantity,
            self.time_ns,
            self.value,
            self.arrival_ns,
            flags_json(self.flags),
            int(self.censored),
            self.derived_from,
        )

    def feed(self, evaluator: ProbeEvaluator) -> tuple[Flag, ...]:
        return evaluator.feed(
            self.time_ns,
            self.quantity,
            self.value,
            self.arrival_ns,
            censored=self.censored,
            derived_from=self.derived_from,
        )


class Series:
    """One quantity's retained readings in time order, one column per field; flags,
    "< LOQ" marks and derived-from names only for the readings that have them."""

    __slots__ = ("arrivals", "censored", "derived", "flags", "quantity", "times", "values")

    def __init__(self, quantity: str) -> None:
        self.quantity = quantity
        self.times = array("q")
        self.values = array("d")
        self.arrivals = array("q")
        self.flags: dict[int, tuple[Flag, ...]] = {}
        # Times of "< LOQ" readings (a dict: an empty set costs 216 bytes, a dict 64).
        self.censored: dict[int, bool] = {}
        self.derived: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.times)

    def index_of(self, time_ns: int) -> int | None:
        """The position of the reading at `time_ns`, None if there is none."""
        index = bisect.bisect_left(self.times, time_ns)
        if index < len(self.times) and self.times[index] == time_ns:
            return index
        return None

    def entry_at(self, time_ns: int) -> Entry:
        index = self.index_of(time_ns)
        assert index is not None, "no retained reading at that time"
        return Entry(self, index)

    def entries(self) -> Iterator[Entry]:
        for index in range(len(self.times)):
            yield Entry(self, index)

    def insert(self, reading: Reading) -> None:
        """Add a reading at a time the series does not hold yet, without flags."""
        time_ns = reading.time_ns
        index = bisect.bisect_left(self.times, time_ns)
        self.times.insert(index, time_ns)
        self.values.insert(index, reading.value)
        self.arrivals.insert(index, reading.arrival_ns)
        self._set_kind(time_ns, reading.censored, derived_from(reading))

    def append(
        self,
        time_ns: int,
        value: float,
        arrival_ns: int,
        *,
        censored: bool,
        source: str | None,
        flags: tuple[Flag, ...],
    ) -> None:
        """Add a reading after every one the series holds, with its flags."""
        self.times.append(time_ns)
        self.values.append(value)
        self.arrivals.append(arrival_ns)
        if flags:
            self.flags[time_ns] = flags
        if censored:
            self.censored[time_ns] = True
        if source is not None:
            self.derived[time_ns] = source

    def add_row(self, row: HistoryRow) -> None:
        """Append a state-file row (rows come in time order)."""
        _probe, _quantity, time_ns, value, arrival_ns, flags, censored, source = row
        self.times.append(time_ns)
        self.values.append(value)
        self.arrivals.append(arrival_ns)
        parsed = _flags_from_json(flags)
        if parsed:
            self.flags[time_ns] = parsed
        self._set_kind(time_ns, bool(censored), source)

    def same_reading(self, index: int, reading: Reading) -> bool:
        """An exact duplicate: InfluxDB already holds the same value (and kind of it)."""
        time_ns = self.times[index]
        return (self.values[index], time_ns in self.censored, self.derived.get(time_ns)) == (
            reading.value,
            reading.censored,
            derived_from(reading),
        )

    def replace(self, index: int, reading: Reading) -> None:
        """InfluxDB keeps the last write of a point: so do we (the flags stay until the
        reading is evaluated again)."""
        self.values[index] = reading.value
        self.arrivals[index] = reading.arrival_ns
        self._set_kind(self.times[index], reading.censored, derived_from(reading))

    def drop_before(self, cutoff_ns: int) -> list[int]:
        """Forget the readings before `cutoff_ns`; returns their times."""
        cut = bisect.bisect_left(self.times, cutoff_ns)
        dropped = self.times[:cut].tolist()
        del self.times[:cut]
        del self.values[:cut]
        del self.arrivals[:cut]
        for time_ns in dropped:
            self.flags.pop(time_ns, None)
            self.censored.pop(time_ns, None)
            self.derived.pop(time_ns, None)
        return dropped

    def _set_kind(self, time_ns: int, censored: bool, source: str | None) -> None:
        if censored:
            self.censored[time_ns] = True
        else:
            self.censored.pop(time_ns, None)
        if source is not None:
            self.derived[time_ns] = source
        else:
            self.derived.pop(time_ns, None)


def derived_from(reading: Reading) -> str | None:
    """The quantity a reading was computed from: the ingest derives `level` from a
    `depth` record and keeps the record name ("depth") on the derived reading."""
    return derived_from_name(reading.quantity, reading.record_name)


def derived_from_name(quantity: str, record_name: str) -> str | None:
    """`derived_from` of a reading of `quantity` sent as `record_name`."""
    if record_name != quantity and record_name in CANONICAL_QUANTITIES:
        return record_name
    return None


def flags_json(flags: tuple[Flag, ...]) -> str:
    return json.dumps([list(flag) for flag in flags]) if flags else "[]"


def _flags_from_json(text: str) -> tuple[Flag, ...]:
    return tuple(
        Flag(str(a), str(b), str(c), "bad" if d == "bad" else "info")
        for a, b, c, d in json.loads(text)
    )


@dataclass(slots=True)
class Track:
    plan: ProbePlan
    # Where `base` (the evaluator's state just before the oldest retained reading) stands.
    # The snapshot itself is in the state file only (probe_state.base: read by a replay
    # or a prune); `new_base` is one a prune set in this batch, written at the commit.
    base_pos: tuple[int, str] | None
    current: ProbeEvaluator
    series: dict[str, Series] = field(default_factory=dict)
    last_arrival_ns: int | None = None
    # The evaluator's checkpoints (snapshots at grid times, which a prune moves `base`
    # to) live in the state file only (`_state.Changes.add_checkpoint`).
    # Whether `series` holds the retained readings (loaded from the state file for one
    # batch); if not, `oldest` and `newest` are their first and last times.
    loaded: bool = False
    oldest: int | None = None
    newest: int | None = None
    new_base: str | None = None

    def base_from_checkpoint(self, blob: bytes) -> None:
        """Move `base` to a checkpoint: its snapshot's JSON, or zlib-compressed JSON
        as gwmon wrote it before (a zlib stream never starts with "{")."""
        self.set_base_json((blob if blob[:1] == b"{" else zlib.decompress(blob)).decode())

    def set_base_json(self, text: str) -> None:
        self.new_base = text
        base = json.loads(text)
        pos = None if not base else base.get("pos")
        self.base_pos = None if pos is None else (int(pos[0]), str(pos[1]))

    @property
    def probe(self) -> Probe:
        return self.plan.probe

    def series_of(self, quantity: str) -> Series:
        series = self.series.get(quantity)
        if series is None:
            series = self.series[quantity] = Series(quantity)
        return series

    def merged(self, before_ns: int | None = None) -> Iterator[Entry]:
        streams = [series.entries() for series in self.series.values()]
        for entry in heapq.merge(*streams, key=lambda e: (e.time_ns, e.quantity)):
            if before_ns is not None and entry.time_ns >= before_ns:
                return
            yield entry

    def newest_ns(self) -> int | None:
        if not self.loaded:
            return self.newest
        times = [series.times[-1] for series in self.series.values() if series.times]
        return max(times) if times else None

    def oldest_ns(self) -> int | None:
        if not self.loaded:
            return self.oldest
        times = [series.times[0] for series in self.series.values() if series.times]
        return min(times) if times else None

    def load(self, rows: Iterable[HistoryRow]) -> None:
        """Hold the retained readings in `series`: `rows` in (quantity, time) order."""
        self.series = {}
        for row in rows:
            self.series_of(row[1]).add_row(row)
        self.loaded = True

    def unload(self) -> None:
        """Keep only the oldest and newest time of the retained readings."""
        if self.loaded:
            self.oldest, self.newest = self.oldest_ns(), self.newest_ns()
            self.series = {}
            self.loaded = False

    def state_row(self) -> tuple[str | None, str, int | None]:
        """What the state file keeps of the track besides its readings: `base` only if
        it changed (None: keep the stored one)."""
        base, self.new_base = self.new_base, None
        return base, self.current.snapshot_json().decode(), self.last_arrival_ns
