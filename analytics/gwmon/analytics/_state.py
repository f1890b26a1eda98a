"""Durable analytics state: one SQLite file (WAL, synchronous=FULL) under [analytics] state_dir.

Each batch is one transaction holding the probes' retained readings with their flags,
the evaluator snapshots (`base` and `current`, and the checkpoints a prune moves `base`
to), the alerts and an outbox of InfluxDB writes and alert events
still to deliver. It commits before `batch_stored` returns, so a crash at any point
either redoes the whole batch (the broker redelivers it; ids are data-derived, so the
replay produces the same points and event ids) or finds its results in the outbox.
A lock file keeps a second `gwmon run` from using the same state.

Alerts and events are kept in the state form of `_codec.py`; outbox rows are `line`
(line protocol), `event` (an alert event) and `qc_delete` (a withdrawn flag; files
written before hold such withdrawals as rows `query` with the DELETE statement's text).
"""

from __future__ import annotations

import bisect
import fcntl
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from gwmon.analytics._codec import alert_to_state, event_to_state
from gwmon.analytics._model import Alert, AlertEvent
from gwmon.analytics._runs import (
    INSERT_RUN,
    MIN_RUN,
    RUN_COLUMNS,
    RUN_SCHEMA,
    RunRow,
    columns_from,
    cut_runs,
    rows_of_columns,
    rows_of_run,
    run_of,
    run_of_columns,
    times_of,
)
from gwmon.config import GwmonError

logger = logging.getLogger("gwmon.analytics.state")

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS history (
    probe TEXT NOT NULL, quantity TEXT NOT NULL, time_ns INTEGER NOT NULL,
    value REAL NOT NULL, arrival_ns INTEGER NOT NULL, flags TEXT NOT NULL,
    censored INTEGER NOT NULL DEFAULT 0, derived_from TEXT,
    PRIMARY KEY (probe, quantity, time_ns)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS probe_state (
    probe TEXT PRIMARY KEY, base TEXT, current TEXT, last_arrival_ns INTEGER);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY, probe TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    probe TEXT NOT NULL, kind TEXT NOT NULL, last_ns INTEGER NOT NULL,
    PRIMARY KEY (probe, kind)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    probe TEXT NOT NULL, boundary_ns INTEGER NOT NULL, snapshot BLOB NOT NULL,
    PRIMARY KEY (probe, boundary_ns)) WITHOUT ROWID;
"""
    + RUN_SCHEMA
)
_HISTORY_SELECT = (
    "SELECT probe, quantity, time_ns, value, arrival_ns, flags, censored, derived_from FROM history"
)
_HISTORY_KEY = itemgetter(0, 1, 2)
_TIME = itemgetter(2)
_INSERT_HISTORY = "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

LINE = "line"
EVENT = "event"
QC_DELETE = "qc_delete"

# probe, quantity, time_ns, value, arrival_ns, flags (JSON), censored (0/1: "< value",
# below the limit of quantification), derived_from (e.g. "depth" for a derived level)
HistoryRow = tuple[str, str, int, float, int, str, int, str | None]
# Columns added after the first release: state files written before get them on open.
_ADDED_HISTORY_COLUMNS = {
    "censored": "INTEGER NOT NULL DEFAULT 0",
    "derived_from": "TEXT",
}


class StateLockedError(GwmonError, RuntimeError):
    """Another process holds the analytics state directory."""


@dataclass
class Changes:
    """Everything one batch (or tick, or acknowledgement) changes, committed at once."""

    history: dict[tuple[str, str, int], HistoryRow] = field(default_factory=dict)
    # (probe, cutoff_ns): the probe's rows before cutoff_ns are deleted (a prune: one
    # range delete instead of one per row).
    history_cut: list[tuple[str, int]] = field(default_factory=list)
    # Probes whose `history` rows here all lie after every retained reading of theirs
    # in the file (fed in order): the store may keep them as runs (`_runs.py`).
    appended: set[str] = field(default_factory=set)
    # (probe, quantity) -> numpy times, values, arrival times: a quiet run's readings
    # (`_quiet.py`: no flags, no "< LOQ", none derived), rows without a tuple each.
    quiet: dict[tuple[str, str], tuple[Any, Any, Any]] = field(default_factory=dict)
    # probe -> (base: None keeps the stored one, current, last arrival)
    probes: dict[str, tuple[str | None, str, int | None]] = field(default_factory=dict)
    alerts: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    alerts_deleted: list[str] = field(default_factory=list)
    series: dict[tuple[str, str], int] = field(default_factory=dict)
    outbox: list[tuple[str, str]] = field(default_factory=list)
    # Evaluator checkpoints (`_observer._checkpoint`): probe -> grid time -> the snapshot
    # as JSON (`ProbeEvaluator.snapshot_json`); probes whose stored checkpoints all go (a
    # replay takes new ones); (probe, time): its checkpoints at or before the time go (a
    # prune). The commit deletes first, then writes the new ones (without the cut ones).
    checkpoints: dict[str, dict[int, bytes]] = field(default_factory=dict)
    checkpoints_dropped: set[str] = field(default_factory=set)
    checkpoints_cut: list[tuple[str, int]] = field(default_factory=list)

    def cut_quiet(self, probe: str, cutoff_ns: int) -> None:
        """Drop a probe's `quiet` readings before `cutoff_ns` (a prune of this batch)."""
        for key in [key for key in self.quiet if key[0] == probe]:
            kept = columns_from(self.quiet.pop(key), cutoff_ns)
            if kept is not None:
                self.quiet[key] = kept

    def rows_of_quiet(self, probe: str) -> None:
        """Move a probe's `quiet` columns into `history` rows."""
        for key in [key for key in self.quiet if key[0] == probe]:
            for row in rows_of_columns(key, self.quiet.pop(key)):
                self.history[(row[0], row[1], row[2])] = row

    def put_alert(self, alert: Alert) -> None:
        body = json.dumps(alert_to_state(alert))
        self.alerts[alert.alert_id] = (alert.probe, alert.kind.value, body)
        if alert.alert_id in self.alerts_deleted:
            self.alerts_deleted.remove(alert.alert_id)

    def drop_alert(self, alert_id: str) -> None:
        self.alerts_deleted.append(alert_id)
        self.alerts.pop(alert_id, None)

    def add_line(self, line: str) -> None:
        self.outbox.append((LINE, line))

    def add_event(self, event: AlertEvent) -> None:
        self.outbox.append((EVENT, json.dumps(event_to_state(event))))

    def add_qc_delete(self, body: str) -> None:
        self.outbox.append((QC_DELETE, body))

    def add_checkpoint(self, probe: str, boundary_ns: int, snapshot: bytes) -> None:
        """`snapshot`: `ProbeEvaluator.snapshot_json`, stored as it is: zlib (level 1)
        took about 26 µs a checkpoint in the running observer, 6 % of `gwmon run`'s
        throughput as deployed on packs (issue 11), for a fourth of the size; up to
        ten per probe, about 3 KB each, in the state file (not in memory). Files
        written before hold them compressed (`Track.base_from_checkpoint` reads both)."""
        self.checkpoints.setdefault(probe, {})[boundary_ns] = snapshot

    def drop_checkpoints(self, probe: str) -> None:
        self.checkpoints.pop(probe, None)
        self.checkpoints_dropped.add(probe)

    def cut_checkpoints(self, probe: str, cutoff_ns: int) -> None:
        pending = self.checkpoints.get(probe)
        if pending:
            for boundary in [b for b in pending if b <= cutoff_ns]:
                del pending[boundary]
        self.checkpoints_cut.append((probe, cutoff_ns))

    def __bool__(self) -> bool:
        return any(
            (
                self.history,
                self.quiet,
                self.history_cut,
                self.probes,
                self.alerts,
                self.alerts_deleted,
                self.series,
                self.outbox,
                self.checkpoints,
                self.checkpoints_dropped,
                self.checkpoints_cut,
            )
        )


class StateStore:
    """The SQLite file. Not thread-safe by itself: the observer serialises access."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "analytics.sqlite3"
        self._lock_file: IO[str] | None = (directory / "analytics.lock").open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            self._lock_file = None
            msg = (
                f"analytics state {directory} is in use by another process; run analytics in "
                "one `gwmon run` only (set [analytics] enabled = false in the others)"
            )
            raise StateLockedError(msg) from None
        self._db = _open_database(self.path)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(history)")}
        for column, declaration in _ADDED_HISTORY_COLUMNS.items():
            if column not in present:
                self._db.execute(f"ALTER TABLE history ADD COLUMN {column} {declaration}")

    def close(self) -> None:
        self._db.close()
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # -- reading at start-up ------------------------------------------------------------------
    # The retained readings are the `history` rows and the rows the runs stand for
    # (`_runs.py`); the two never share a (probe, quantity, time).
    def history(self) -> Iterator[HistoryRow]:
        """Every retained reading's row in (probe, quantity, time) order."""
        rows = self._db.execute(_HISTORY_SELECT).fetchall()
        for run in self._db.execute("SELECT * FROM history_run"):
            rows += rows_of_run(run)
        rows.sort(key=_HISTORY_KEY)
        yield from rows

    def history_of(self, probe: str) -> list[HistoryRow]:
        """One probe's rows in (quantity, time) order."""
        rows: list[HistoryRow] = self._db.execute(
            _HISTORY_SELECT + " WHERE probe = ?", (probe,)
        ).fetchall()
        for run in self._db.execute("SELECT * FROM history_run WHERE probe = ?", (probe,)):
            rows += rows_of_run(run)
        rows.sort(key=_HISTORY_KEY)
        return rows

    def history_spans(self) -> dict[str, tuple[int, int]]:
        """Per probe: the first and the last time of its rows."""
        spans: dict[str, tuple[int, int]] = {}
        for select in (
            "SELECT probe, min(time_ns), max(time_ns) FROM history GROUP BY probe",
            "SELECT probe, min(first_ns), max(last_ns) FROM history_run GROUP BY probe",
        ):
            for probe, first, last in self._db.execute(select):
                known = spans.get(probe)
                spans[probe] = (
                    (first, last) if known is None else (min(first, known[0]), max(last, known[1]))
                )
        return spans

    def oldest_from(self, probe: str, time_ns: int) -> int | None:
        """The first time at or after `time_ns` of a probe's rows (None: there is none)."""
        db = self._db
        found = [
            db.execute(
                "SELECT min(time_ns) FROM history WHERE probe = ? AND time_ns >= ?",
                (probe, time_ns),
            ).fetchone()[0],
            db.execute(
                "SELECT min(first_ns) FROM history_run WHERE probe = ? AND first_ns >= ?",
                (probe, time_ns),
            ).fetchone()[0],
        ]
        for (times,) in db.execute(
            "SELECT times FROM history_run WHERE probe = ? AND first_ns < ? AND last_ns >= ?",
            (probe, time_ns, time_ns),
        ):
            column = times_of(times)
            found.append(column[bisect.bisect_left(column, time_ns)])
        times_found = [int(t) for t in found if t is not None]
        return min(times_found, default=None)

    def checkpoint_before(self, probe: str, time_ns: int) -> tuple[int, bytes] | None:
        """A probe's newest stored checkpoint at or before `time_ns` (grid time, the
        snapshot as `add_checkpoint` stored it), None if there is none."""
        row = self._db.execute(
            "SELECT boundary_ns, snapshot FROM checkpoints WHERE probe = ? AND boundary_ns <= ? "
            "ORDER BY boundary_ns DESC LIMIT 1",
            (probe, time_ns),
        ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def probe_states(self) -> dict[str, tuple[tuple[int, str] | None, Any, int | None]]:
        """Per probe: the position of the `base` snapshot (the observer keeps only that;
        `base_of` reads the snapshot), the `current` one parsed, the last arrival."""
        result: dict[str, tuple[tuple[int, str] | None, Any, int | None]] = {}
        for probe, time_ns, quantity, current, last in self._db.execute(
            "SELECT probe, json_extract(base, '$.pos[0]'), json_extract(base, '$.pos[1]'), "
            "current, last_arrival_ns FROM probe_state"
        ):
            pos = None if time_ns is None else (int(time_ns), str(quantity))
            result[probe] = (pos, json.loads(current), last)
        return result

    def base_of(self, probe: str) -> str:
        """A probe's `base` snapshot as JSON text ("null": none yet)."""
        row = self._db.execute("SELECT base FROM probe_state WHERE probe = ?", (probe,)).fetchone()
        return "null" if row is None or row[0] is None else str(row[0])

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(body) for (body,) in self._db.execute("SELECT body FROM alerts")]

    def series(self) -> dict[tuple[str, str], int]:
        return {
            (probe, kind): last
            for probe, kind, last in self._db.execute("SELECT probe, kind, last_ns FROM series")
        }

    def outbox(self) -> list[tuple[int, str, str]]:
        return list(self._db.execute("SELECT id, kind, body FROM outbox ORDER BY id"))

    # -- writing -------------------------------------------------------------------------------
    def commit(self, changes: Changes) -> None:
        if not changes:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if changes.history_cut:
                db.executemany(
                    "DELETE FROM history WHERE probe = ? AND time_ns < ?",
                    changes.history_cut,
                )
                cut_runs(db, changes.history_cut)
            if changes.history or changes.quiet:
                runs, rows, replacing = _split_history(changes)
                if replacing:
                    _rows_again(db, replacing)
                db.executemany(_INSERT_HISTORY, rows)
                db.executemany(INSERT_RUN, runs)
            if changes.probes:
                db.executemany(
                    # A None base keeps the stored one (the observer holds only its position).
                    "INSERT INTO probe_state VALUES (?, ?, ?, ?) ON CONFLICT (probe) DO UPDATE "
                    "SET base = coalesce(excluded.base, base), current = excluded.current, "
                    "last_arrival_ns = excluded.last_arrival_ns",
                    [(probe, *state) for probe, state in changes.probes.items()],
                )
            if changes.alerts_deleted:
                db.executemany(
                    "DELETE FROM alerts WHERE alert_id = ?",
                    [(aid,) for aid in changes.alerts_deleted],
                )
            if changes.alerts:
                db.executemany(
                    "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?)",
                    [(aid, *rest) for aid, rest in changes.alerts.items()],
                )
            if changes.series:
                db.executemany(
                    "INSERT OR REPLACE INTO series VALUES (?, ?, ?)",
                    [(probe, kind, last) for (probe, kind), last in changes.series.items()],
                )
            if changes.outbox:
                db.executemany("INSERT INTO outbox (kind, body) VALUES (?, ?)", changes.outbox)
            if changes.checkpoints_dropped:
                db.executemany(
                    "DELETE FROM checkpoints WHERE probe = ?",
                    [(probe,) for probe in changes.checkpoints_dropped],
                )
            if changes.checkpoints_cut:
                db.executemany(
                    "DELETE FROM checkpoints WHERE probe = ? AND boundary_ns <= ?",
                    changes.checkpoints_cut,
                )
            if changes.checkpoints:
                db.executemany(
                    "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)",
                    [
                        (probe, boundary, blob)
                        for probe, pending in changes.checkpoints.items()
                        for boundary, blob in pending.items()
                    ],
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def outbox_done(self, ids: list[int]) -> None:
        if ids:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._db.execute("COMMIT")


# -- a file damaged by a power loss -----------------------------------------------------------
# table -> (its rows in key order, the same backwards, write one row, columns now). A
# damaged B-tree is read from both ends: each way stops at the first unreadable page.
_COPY = {
    "history": (
        "SELECT * FROM history ORDER BY probe, quantity, time_ns",
        "SELECT * FROM history ORDER BY probe DESC, quantity DESC, time_ns DESC",
        "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        8,
    ),
    "history_run": (
        "SELECT * FROM history_run ORDER BY probe, quantity, first_ns",
        "SELECT * FROM history_run ORDER BY probe DESC, quantity DESC, first_ns DESC",
        "INSERT OR REPLACE INTO history_run VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        RUN_COLUMNS,
    ),
    "probe_state": (
        "SELECT * FROM probe_state ORDER BY probe",
        "SELECT * FROM probe_state ORDER BY probe DESC",
        "INSERT OR REPLACE INTO probe_state VALUES (?, ?, ?, ?)",
        4,
    ),
    "alerts": (
        "SELECT * FROM alerts ORDER BY alert_id",
        "SELECT * FROM alerts ORDER BY alert_id DESC",
        "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?)",
        4,
    ),
    "series": (
        "SELECT * FROM series ORDER BY probe, kind",
        "SELECT * FROM series ORDER BY probe DESC, kind DESC",
        "INSERT OR REPLACE INTO series VALUES (?, ?, ?)",
        3,
    ),
    "outbox": (
        "SELECT * FROM outbox ORDER BY id",
        "SELECT * FROM outbox ORDER BY id DESC",
        "INSERT OR REPLACE INTO outbox VALUES (?, ?, ?)",
        3,
    ),
    "checkpoints": (
        "SELECT * FROM checkpoints ORDER BY probe, boundary_ns",
        "SELECT * FROM checkpoints ORDER BY probe DESC, boundary_ns DESC",
        "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)",
        3,
    ),
    "meta": (
        "SELECT * FROM meta ORDER BY key",
        "SELECT * FROM meta ORDER BY key DESC",
        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
        2,
    ),
}
_TABLES = tuple(_COPY)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(_SCHEMA)
    return db


def _open_database(path: Path) -> sqlite3.Connection:
    """The state database; a damaged one is set aside (never deleted), what can still be
    read from it is copied into a fresh one, and the start-up goes on: a crash here
    would only repeat at every restart."""
    try:
        db = _connect(path)
        verdict = str(db.execute("PRAGMA quick_check").fetchone()[0])
        if verdict == "ok":
            return db
        db.close()
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.replace(aside.with_name(aside.name + suffix))
    db = _connect(path)
    kept = _salvage(aside, db)
    logger.error(
        "analytics state %s is damaged (%s); set aside as %s, kept what was readable "
        "(%s); alerts and flags in InfluxDB are untouched",
        path,
        verdict[:200],
        aside,
        ", ".join(f"{table}: {count} rows" for table, count in kept.items()),
    )
    return db


def _salvage(damaged: Path, into: sqlite3.Connection) -> dict[str, int]:
    """Copy every row still readable from `damaged`, table by table."""
    kept = dict.fromkeys(_TABLES, 0)
    readable = _padded_copy(damaged)
    try:
        source = sqlite3.connect(f"file:{readable}?mode=ro", uri=True)
        try:
            for table in _TABLES:
                kept[table] = _copy_table(source, into, table)
        finally:
            source.close()
    except sqlite3.DatabaseError:
        pass
    finally:
        for suffix in ("", "-wal", "-shm"):
            readable.with_name(readable.name + suffix).unlink(missing_ok=True)
    return kept


def _padded_copy(damaged: Path) -> Path:
    """A copy of `damaged` as long as its header says: SQLite refuses every page of a
    cut-short file, but reads the surviving pages once the missing ones are zeros."""
    data = damaged.read_bytes()
    page_size = int.from_bytes(data[16:18], "big") if len(data) >= 100 else 0
    page_size = 65_536 if page_size == 1 else page_size
    pages = int.from_bytes(data[28:32], "big") if len(data) >= 100 else 0
    wanted = page_size * pages
    copy = damaged.with_name(damaged.name + ".salvage")
    copy.write_bytes(data + bytes(max(0, min(wanted, 2**31) - len(data))))
    return copy


def _copy_table(source: sqlite3.Connection, into: sqlite3.Connection, table: str) -> int:
    forwards, backwards, insert, width = _COPY[table]
    into.execute("BEGIN IMMEDIATE")
    for select in (forwards, backwards):
        try:
            for row in source.execute(select):
                # Files from before the added history columns have fewer: their defaults.
                into.execute(insert, (*row, 0, None)[:width])
        except sqlite3.DatabaseError:
            pass  # the rest is unreadable this way round; keep what came before
    into.execute("COMMIT")
    count = into.execute(backwards.replace("SELECT *", "SELECT count(*)", 1).split(" ORDER")[0])
    return int(count.fetchone()[0])


# -- history runs (`_runs.py`) ----------------------------------------------------------------
def _split_history(
    changes: Changes,
) -> tuple[list[RunRow], list[HistoryRow], dict[tuple[str, str], tuple[int, int]]]:
    """The batch's history as runs and rows, and per (probe, quantity) of the rows that
    may replace or precede readings in the file the time span they cover."""
    appended = changes.appended
    groups: dict[tuple[str, str], list[HistoryRow]] = {}
    rows: list[HistoryRow] = []
    replacing: dict[tuple[str, str], tuple[int, int]] = {}
    for row in changes.history.values():
        if row[0] in appended:
            key = (row[0], row[1])
            group = groups.get(key)
            if group is None:
                groups[key] = [row]
            else:
                group.append(row)
        else:
            rows.append(row)
            key, time_ns = (row[0], row[1]), row[2]
            span = replacing.get(key, (time_ns, time_ns))
            replacing[key] = (min(span[0], time_ns), max(span[1], time_ns))
    runs: list[RunRow] = []
    for key, columns in changes.quiet.items():
        if key in groups or len(columns[0]) < MIN_RUN:  # (never both in a batch: one path)
            groups.setdefault(key, []).extend(rows_of_columns(key, columns))
            continue
        runs.append(run_of_columns(key, columns))
    for group in groups.values():
        if len(group) >= MIN_RUN:
            group.sort(key=_TIME)
            runs.append(run_of(group))
        else:
            rows += group
    return runs, rows, replacing


def _rows_again(db: sqlite3.Connection, spans: dict[tuple[str, str], tuple[int, int]]) -> None:
    """Turn the runs holding readings in these (probe, quantity) time spans back into
    `history` rows, so that rows written next replace them as before."""
    for (probe, quantity), (first, last) in spans.items():
        found = db.execute(
            "SELECT * FROM history_run WHERE probe = ? AND quantity = ? AND first_ns <= ? "
            "AND last_ns >= ?",
            (probe, quantity, last, first),
        ).fetchall()
        for run in found:
            db.execute(
                "DELETE FROM history_run WHERE probe = ? AND quantity = ? AND first_ns = ?",
                run[:3],
            )
            db.executemany(_INSERT_HISTORY, rows_of_run(run))
