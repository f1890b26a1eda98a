"""Retained readings kept as runs: one state-file row for many readings of a quantity.

The state file holds every retained reading (`_history.py`). A `history` row per reading
costs SQLite about 2 µs of CPU to write on this class of machine, whatever its width
(docs/performance.md, "History runs"); at packs of 96 that was the largest single cost
of the analytics. Readings a batch feeds in order (after everything retained, no two at
one time: the observer's `_feed_in_order`) are written instead as one `history_run` row
per (probe, quantity): their times, values and arrival times as packed little-endian
int64/float64 columns, with the rare parts ("< LOQ" marks, flags, derived-from names) as
JSON in `extras`.

A run means exactly the `history` rows it stands for: `StateStore` reads both tables as
one (`rows_of_run`). The two tables never hold the same (probe, quantity, time): a run
only ever holds readings newer than anything of its probe in the file, and before a
`history` row is written (a replay, a replaced or late reading) the runs holding readings
in its time span are turned back into rows (`StateStore.commit`). Files written before
runs existed have none and read as before.
"""

from __future__ import annotations

import bisect
import json
import sys
from array import array
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `_state` imports this module
    import sqlite3

    from gwmon.analytics._state import HistoryRow

RUN_SCHEMA = """
CREATE TABLE IF NOT EXISTS history_run (
    probe TEXT NOT NULL, quantity TEXT NOT NULL, first_ns INTEGER NOT NULL,
    last_ns INTEGER NOT NULL, times BLOB NOT NULL, vals BLOB NOT NULL,
    arrivals BLOB NOT NULL, extras TEXT,
    PRIMARY KEY (probe, quantity, first_ns)) WITHOUT ROWID;
"""
# probe, quantity, first_ns, last_ns, times, values, arrival times, extras (JSON or None)
RunRow = tuple[str, str, int, int, bytes, bytes, bytes, str | None]
RUN_COLUMNS = 8

# A plain INSERT: a run never replaces anything (a clash would be a bug, and fails).
INSERT_RUN = "INSERT INTO history_run VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

# Fewer readings of a (probe, quantity) in one batch go as `history` rows: a run row of
# one or two readings costs as much as their rows and must be decoded to be read.
MIN_RUN = 4

_SWAP = sys.byteorder != "little"  # the file's columns are little-endian on any machine
_NO_FLAGS = "[]"


def _packed(kind: str, items: Sequence[Any]) -> bytes:
    column = array(kind, items)
    if _SWAP:
        column.byteswap()
    return column.tobytes()


def _unpacked(kind: str, blob: bytes) -> list[Any]:
    column = array(kind)
    column.frombytes(blob)
    if _SWAP:
        column.byteswap()
    return column.tolist()


def run_of(rows: Sequence[HistoryRow]) -> RunRow:
    """The run of `rows`: one probe's and quantity's, in strictly increasing time order."""
    probes, quantities, times, values, arrivals, flags, censored, derived = zip(*rows, strict=True)
    count = len(rows)
    extras: dict[str, Any] = {}
    if flags.count(_NO_FLAGS) != count:
        extras["flags"] = {str(i): text for i, text in enumerate(flags) if text != _NO_FLAGS}
    if censored.count(0) != count:
        extras["censored"] = [i for i, mark in enumerate(censored) if mark]
    if derived.count(None) != count:
        extras["derived"] = list(derived)
    return (
        probes[0],
        quantities[0],
        times[0],
        times[-1],
        _packed("q", times),
        _packed("d", values),
        _packed("q", arrivals),
        json.dumps(extras) if extras else None,
    )


def times_of(blob: bytes) -> list[int]:
    """A run's times (its `times` column)."""
    return _unpacked("q", blob)


def rows_of_run(run: RunRow | tuple[Any, ...]) -> list[HistoryRow]:
    """The `history` rows a run stands for, in time order."""
    probe, quantity, _first, _last, times, values, arrivals, extras = run
    time_list: list[int] = _unpacked("q", times)
    count = len(time_list)
    flags: list[str] = [_NO_FLAGS] * count
    censored: list[int] = [0] * count
    derived: list[str | None] = [None] * count
    if extras is not None:
        parts = json.loads(extras)
        for index, text in parts.get("flags", {}).items():
            flags[int(index)] = text
        for index in parts.get("censored", ()):
            censored[index] = 1
        derived = parts.get("derived", derived)
    return list(
        zip(
            repeat(probe, count),
            repeat(quantity, count),
            time_list,
            _unpacked("d", values),
            _unpacked("q", arrivals),
            flags,
            censored,
            derived,
            strict=True,
        )
    )


def run_from(run: RunRow | tuple[Any, ...], cutoff_ns: int) -> RunRow | None:
    """The part of a run at or after `cutoff_ns` (None: nothing is)."""
    times: list[int] = _unpacked("q", run[4])
    start = bisect.bisect_left(times, cutoff_ns)
    if start == len(times):
        return None
    if run[7] is not None:  # flags, "< LOQ" or derived-from names: by its rows
        return run_of(rows_of_run(run)[start:])
    cut = start * 8  # the columns are 8 bytes an item
    return (run[0], run[1], times[start], run[3], run[4][cut:], run[5][cut:], run[6][cut:], None)


# A quiet run's readings of one (probe, quantity) (`Changes.quiet`): numpy times (int64),
# values (float64) and arrival times (int64), no flags, no "< LOQ", none derived.
QuietColumns = tuple[Any, Any, Any]


def run_of_columns(key: tuple[str, str], columns: QuietColumns) -> RunRow:
    """The run of a quiet run's columns: what `run_of` makes of their rows."""
    times, values, arrivals = columns
    return (
        key[0],
        key[1],
        int(times[0]),
        int(times[-1]),
        times.astype("<i8").tobytes(),
        values.astype("<f8").tobytes(),
        arrivals.astype("<i8").tobytes(),
        None,
    )


def rows_of_columns(key: tuple[str, str], columns: QuietColumns) -> list[HistoryRow]:
    """The `history` rows of a quiet run's columns."""
    times, values, arrivals = columns
    count = len(times)
    return list(
        zip(
            repeat(key[0], count),
            repeat(key[1], count),
            times.tolist(),
            values.tolist(),
            arrivals.tolist(),
            repeat(_NO_FLAGS, count),
            repeat(0, count),
            repeat(None, count),
            strict=True,
        )
    )


def columns_from(columns: QuietColumns, cutoff_ns: int) -> QuietColumns | None:
    """The part of a quiet run's columns at or after `cutoff_ns` (None: nothing is)."""
    times, values, arrivals = columns
    start = int(times.searchsorted(cutoff_ns, side="left"))
    if start == len(times):
        return None
    return (times[start:], values[start:], arrivals[start:])


def cut_runs(db: sqlite3.Connection, cuts: Iterable[tuple[str, int]]) -> None:
    """A prune's cut: the runs' readings before each (probe, cutoff) go."""
    for probe, cutoff in cuts:
        straddling = db.execute(
            "SELECT * FROM history_run WHERE probe = ? AND first_ns < ? AND last_ns >= ?",
            (probe, cutoff, cutoff),
        ).fetchall()
        db.execute("DELETE FROM history_run WHERE probe = ? AND first_ns < ?", (probe, cutoff))
        for run in straddling:
            kept = run_from(run, cutoff)
            if kept is not None:  # (a straddling run always keeps its last reading)
                db.execute(INSERT_RUN, kept)
