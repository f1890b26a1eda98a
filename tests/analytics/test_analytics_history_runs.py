"""History runs (`_runs.py`): readings fed in order are kept as one state-file row per
(probe, quantity) and batch. The state then reads exactly as when every reading is a
`history` row (the careful store, `Changes.appended` empty): the same rows, spans and
oldest times, whatever mix of in-order batches, replacements, late rows and prune cuts
(Hypothesis); and a state file written before runs existed opens and reads the same."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwmon.analytics._state import Changes, HistoryRow, StateStore

PROBES = ("P-1", "P-2")
QUANTITIES = ("level", "nitrate")
FLAGS = ("[]", "[]", "[]", '[["spike", "spike", "jump of 9.0", "bad"]]')


@st.composite
def row_at(draw: st.DrawFn, probe: str, quantity: str, time_ns: int) -> HistoryRow:
    return (
        probe,
        quantity,
        time_ns,
        draw(st.floats(-1e6, 1e6, allow_nan=False)),
        time_ns + draw(st.integers(0, 10**12)),
        draw(st.sampled_from(FLAGS)),
        draw(st.sampled_from((0, 0, 0, 1))),
        draw(st.sampled_from((None, None, "depth"))),
    )


Step = tuple[list[tuple[str, int]], dict[str, list[HistoryRow]], dict[str, list[HistoryRow]]]


@st.composite
def steps_of(draw: st.DrawFn) -> list[Step]:
    """Commits: per probe either readings after all of its own (in order; `appended`) or
    rows at any times (replacing, late), and sometimes a prune cut first."""
    newest = dict.fromkeys(PROBES, 0)
    steps: list[Step] = []
    for _ in range(draw(st.integers(1, 8))):
        cuts = []
        in_order: dict[str, list[HistoryRow]] = {}
        careful: dict[str, list[HistoryRow]] = {}
        for probe in PROBES:
            if draw(st.integers(0, 3)) == 0:
                cuts.append((probe, draw(st.integers(0, newest[probe] + 2))))
            kind = draw(st.sampled_from(("none", "in order", "in order", "careful")))
            if kind == "in order":
                times = sorted(draw(st.sets(st.integers(1, 12), max_size=10)))
                rows = [
                    draw(row_at(probe, quantity, newest[probe] + t))
                    for t in times
                    for quantity in draw(st.sets(st.sampled_from(QUANTITIES), min_size=1))
                ]
                if rows:
                    in_order[probe] = rows
                    newest[probe] = max(row[2] for row in rows)
            elif kind == "careful":
                keys = draw(
                    st.sets(
                        st.tuples(st.sampled_from(QUANTITIES), st.integers(0, newest[probe] + 3)),
                        max_size=6,
                    )
                )
                careful[probe] = [draw(row_at(probe, q, t)) for q, t in sorted(keys)]
                newest[probe] = max([newest[probe], *(t for _, t in keys)])
        steps.append((cuts, in_order, careful))
    return steps


def replay(directory: Path, steps: list[Step], *, runs: bool) -> list[object]:
    """What the store reads after each commit."""
    state = StateStore(directory)
    seen: list[object] = []
    try:
        for cuts, in_order, careful in steps:
            changes = Changes()
            changes.history_cut = list(cuts)
            for rows in (*in_order.values(), *careful.values()):
                for row in rows:
                    changes.history[row[:3]] = row
            if runs:
                changes.appended = set(in_order)
            state.commit(changes)
            probes_seen = {probe: state.history_of(probe) for probe in PROBES}
            oldest = {
                (probe, t): state.oldest_from(probe, t) for probe in PROBES for t in range(0, 60, 3)
            }
            seen.append((list(state.history()), probes_seen, state.history_spans(), oldest))
    finally:
        state.close()
    return seen


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps_of())
def test_runs_read_exactly_as_one_history_row_per_reading(steps: list[Step]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        careful = replay(Path(tmp) / "rows", steps, runs=False)
        with_runs = replay(Path(tmp) / "runs", steps, runs=True)
    assert with_runs == careful


def test_readings_fed_in_order_are_kept_as_runs(tmp_path: Path) -> None:
    """The point of the change: a batch's in-order readings of a quantity are one row."""
    state = StateStore(tmp_path)
    changes = Changes(appended={"P-1"})
    rows = [("P-1", q, t, 1.5 * t, t + 7, "[]", 0, None) for t in range(1, 9) for q in QUANTITIES]
    for row in rows:
        changes.history[row[:3]] = row
    state.commit(changes)
    try:
        assert list(state.history()) == sorted(rows)
        db = sqlite3.connect(tmp_path / "analytics.sqlite3")
        assert db.execute("SELECT count(*) FROM history").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM history_run").fetchone()[0] == 2
        db.close()
    finally:
        state.close()


# The state file's schema before history runs (commit 8c6a18a), as such a file has it.
OLD_SCHEMA = """
CREATE TABLE history (
    probe TEXT NOT NULL, quantity TEXT NOT NULL, time_ns INTEGER NOT NULL,
    value REAL NOT NULL, arrival_ns INTEGER NOT NULL, flags TEXT NOT NULL,
    censored INTEGER NOT NULL DEFAULT 0, derived_from TEXT,
    PRIMARY KEY (probe, quantity, time_ns)) WITHOUT ROWID;
CREATE TABLE probe_state (
    probe TEXT PRIMARY KEY, base TEXT, current TEXT, last_arrival_ns INTEGER);
CREATE TABLE alerts (
    alert_id TEXT PRIMARY KEY, probe TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE series (
    probe TEXT NOT NULL, kind TEXT NOT NULL, last_ns INTEGER NOT NULL,
    PRIMARY KEY (probe, kind)) WITHOUT ROWID;
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL);
"""


def test_a_state_file_from_before_runs_opens_reads_the_same_and_goes_on(tmp_path: Path) -> None:
    old_rows = [
        ("P-1", "level", 10, 101.25, 11, "[]", 0, "depth"),
        ("P-1", "nitrate", 10, 0.5, 11, "[]", 1, None),
        ("P-1", "nitrate", 20, 80.0, 21, '[["spike", "spike", "jump", "bad"]]', 0, None),
        ("P-2", "nitrate", 5, 12.5, 6, "[]", 0, None),
    ]
    db = sqlite3.connect(tmp_path / "analytics.sqlite3")
    db.executescript(OLD_SCHEMA)
    db.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)", old_rows)
    db.commit()
    db.close()
    state = StateStore(tmp_path)
    try:
        assert list(state.history()) == old_rows
        assert state.history_of("P-1") == old_rows[:3]
        assert state.history_spans() == {"P-1": (10, 20), "P-2": (5, 5)}
        assert state.oldest_from("P-1", 11) == 20
        # New readings in order go as a run beside the old rows; a cut and a
        # replacement later treat both alike.
        changes = Changes(appended={"P-1"})
        new = [("P-1", "nitrate", t, 30.0 + t, t + 1, "[]", 0, None) for t in range(30, 35)]
        for row in new:
            changes.history[row[:3]] = row
        state.commit(changes)
        assert state.history_of("P-1") == [*old_rows[:3], *new]
        changes = Changes(history_cut=[("P-1", 15)])
        replaced = ("P-1", "nitrate", 32, 99.0, 40, "[]", 0, None)
        changes.history[replaced[:3]] = replaced
        state.commit(changes)
        assert state.history_of("P-1") == [old_rows[2], *new[:2], replaced, *new[3:]]
        assert state.history_spans() == {"P-1": (20, 34), "P-2": (5, 5)}
    finally:
        state.close()
