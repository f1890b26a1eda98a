"""Quiet runs: a probe's in-order readings of a batch that flag nothing, fed per
quantity and detector over numpy columns instead of one `ProbeEvaluator.feed` per
reading (issue 11, target 1).

`quiet_run` decides, changing nothing, whether feeding the rows one by one would flag
none of them (the run checks of `_run_checks.py`), and `apply_quiet` then changes the
evaluator exactly as `feed` would have: windows, quantified counts, verdicts,
sensor-fault counts, position; the alarm machines are fed reading by reading where one
might change. `feed_quiet` does what the observer's in-order loop does for such rows:
the same checkpoints, the readings as history-run columns (`Changes.quiet`).
tests/analytics/test_analytics_quiet_runs.py compares the two ways. numpy is imported
by the first quiet run, not at start-up (issue 11, target 4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gwmon.analytics._compiled import RunChecks, run_checks_of
from gwmon.analytics._rows import Row
from gwmon.analytics._run_checks import RunHistory
from gwmon.analytics._window import Window

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from gwmon.analytics._engine import ProbeEvaluator
    from gwmon.analytics._state import Changes

# Below this many rows of a probe in a batch the observer feeds them one by one: a quiet
# run costs about 180 us whatever its length (numpy calls per quantity and detector),
# feeding one by one about 2 us a reading (measured on this class of machine, issue 11).
QUIET_MIN_ROWS = 128


def quiet_run(evaluator: ProbeEvaluator, rows: list[Row]) -> QuietRun | None:
    """`rows` (sorted, all after `pos`, no two at one (time, quantity), as the
    observer's in-order path feeds them) as a `QuietRun` if feeding them one by one
    would flag none of them, none is below the LOQ or derived from another quantity,
    and every value is finite; else None. Changes nothing: `apply_quiet` then does
    what `ProbeEvaluator.feed` would have done for each of them, QC checks included (they flag
    nothing), alarm machines fed only where one might change."""
    import numpy as np  # noqa: PLC0415  (not at start-up: target 4)

    if not evaluator.all_finite:
        return None
    times_of, quantities, numbers, arrivals_of, censored, names = zip(*rows, strict=True)
    if names != quantities or any(censored):
        return None
    try:
        times = np.array(times_of, dtype=np.int64)
        values = np.array(numbers, dtype=np.float64)
        arrivals = np.array(arrivals_of, dtype=np.int64)
    except (OverflowError, TypeError, ValueError):
        return None
    if not np.isfinite(values).all():
        return None
    # Each quantity as a small number: comparing those is cheaper than strings.
    numbered = {quantity: number for number, quantity in enumerate(dict.fromkeys(quantities))}
    codes = np.fromiter(map(numbered.__getitem__, quantities), np.int64, len(quantities))
    parts: dict[str, _QuietPart] = {}
    for quantity, number in numbered.items():
        index = np.flatnonzero(codes == number)
        part = _quiet_part(evaluator, quantity, times[index], values[index])
        if part is None:
            return None
        part.arrivals = arrivals[index]
        parts[quantity] = part
    return QuietRun(rows, times, parts)


def _quiet_part(
    evaluator: ProbeEvaluator,
    quantity: str,
    times: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
) -> _QuietPart | None:
    import numpy as np  # noqa: PLC0415  (not at start-up: target 4)

    loq = evaluator._nitrate_loq
    if loq is not None and quantity == "nitrate" and (values < loq).any():
        return None  # below the LOQ: `feed` skips detectors and counts it apart
    part = _QuietPart(times, values)
    checks = evaluator._qc.get(quantity)
    if checks:
        if evaluator._run_qc is None:
            evaluator._run_qc = run_checks_of(evaluator.plan)
        run_checks: RunChecks = evaluator._run_qc.get(quantity)
        if run_checks is None:
            return None
        window = evaluator.windows.get(quantity)
        size = 0 if window is None else len(window.times)
        limit = evaluator.window_len[quantity]
        steps = np.arange(len(times), dtype=np.int64)
        ends = size + steps
        # The window's length and its quantified part before each reading, as
        # `feed` keeps them (none of the run hidden, none below the LOQ).
        lengths = np.full_like(ends, size) if size >= limit else np.minimum(ends, limit)
        quantified = min(evaluator.quantified.get(quantity, size), size)
        counted = np.minimum(quantified + steps, lengths)
        if window is not None and size:
            all_times = np.concatenate((np.frombuffer(window.times, np.int64), times))
            all_values = np.concatenate((np.frombuffer(window.values, np.float64), values))
        else:
            all_times, all_values = times, values
        if all_times[0] <= -_SAFE_NS or times[-1] >= _SAFE_NS:
            return None  # differences of times could overflow int64
        whole = RunHistory(all_times, all_values, ends - lengths, ends, times, values)
        skipping = RunHistory(all_times, all_values, ends - counted, ends, times, values)
        interval = evaluator._interval
        for check, skips in run_checks:
            if check(skipping if skips else whole, interval).any():
                return None
        part.window = (size, limit, quantified)
    for machine in evaluator.machines.get(quantity, ()):
        if machine.episode is not None or machine.run_n:
            part.one_by_one = True
        elif machine.high:
            part.one_by_one = part.one_by_one or bool((values > machine.threshold).any())
        else:
            part.one_by_one = part.one_by_one or bool((values < machine.threshold).any())
    track = evaluator.sensor.tracks.get(quantity)
    if track is not None and track.active:
        part.one_by_one = True
    return part


def apply_quiet(evaluator: ProbeEvaluator, run: QuietRun, stop: int) -> None:
    """Feed `run.rows[run.done:stop]`: `stop` is `len(run.rows)` or the index of a
    row later than the one before it (a checkpoint's)."""
    import numpy as np  # noqa: PLC0415  (not at start-up: target 4)

    start = run.done
    if stop <= start:
        return
    rows = run.rows
    boundary = int(run.times[stop]) if stop < len(rows) else None
    sensor = evaluator.sensor
    for quantity, part in run.parts.items():
        first = part.done
        last = (
            len(part.times)
            if boundary is None
            else int(np.searchsorted(part.times, boundary, side="left"))
        )
        if last <= first:
            continue
        part.done = last
        if part.window is not None:
            size, limit, quantified = part.window
            window = evaluator.windows.get(quantity)
            if window is None:
                window = evaluator.windows[quantity] = Window()
            window.times.frombytes(part.times[first:last].tobytes())
            window.values.frombytes(part.values[first:last].tobytes())
            length = size if size >= limit else min(size + last, limit)
            extra = len(window.times) - length
            if extra > 0:
                del window.times[:extra], window.values[:extra]
            evaluator.quantified[quantity] = min(quantified + last, length)
        evaluator.last_verdict.pop(quantity, None)  # good readings: nothing to inherit
        track = sensor.tracks.get(quantity)
        if track is not None and not part.one_by_one:
            track.bad_n = 0  # what `SensorFaultMachine.feed` does for a good reading
    if run.one_by_one:
        parts = run.parts
        touched = evaluator.touched
        for time_ns, quantity, number, arrival_ns, _censored, _name in rows[start:stop]:
            if not parts[quantity].one_by_one:
                continue
            value = float(number)
            if quantity in sensor.tracks:
                sensor.feed(time_ns, quantity, value, arrival_ns, bad=None, touched=touched)
            for machine in evaluator.machines.get(quantity, ()):
                if (
                    machine.episode is None
                    and not machine.run_n
                    and (value <= machine.threshold if machine.high else value >= machine.threshold)
                ):
                    continue  # as in `feed`
                machine.feed(time_ns, value, arrival_ns, touched)
    final = rows[stop - 1]
    evaluator.pos = (final[0], final[1])
    run.done = stop


# Times of a quiet run lie within +-2**62 ns (about 146 years around 1970), so that their
# differences fit an int64.
_SAFE_NS = 2**62


class _QuietPart:
    """One quantity of a `QuietRun`: its times, values and arrival times, (window length before the
    run, window limit, quantified count before the run) if it has checks, whether its
    alarm machines are fed reading by reading, and how many of its readings are fed."""

    __slots__ = ("arrivals", "done", "one_by_one", "times", "values", "window")

    def __init__(self, times: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> None:
        self.times = times
        self.values = values
        self.arrivals: npt.NDArray[np.int64] = times  # set by `quiet_run`
        self.window: tuple[int, int, int] | None = None
        self.one_by_one = False
        self.done = 0


class QuietRun:
    """Rows `quiet_run` found to flag nothing, by quantity; `done`: how
    many `apply_quiet` has fed."""

    __slots__ = ("done", "parts", "rows", "times")

    def __init__(
        self, rows: list[Row], times: npt.NDArray[np.int64], parts: dict[str, _QuietPart]
    ) -> None:
        self.rows = rows
        self.times = times
        self.parts = parts
        self.done = 0

    @property
    def one_by_one(self) -> bool:
        return any(part.one_by_one for part in self.parts.values())


def feed_quiet(
    evaluator: ProbeEvaluator, quiet: QuietRun, step: int, probe_id: str, changes: Changes
) -> None:
    """The observer's in-order loop (`_feed_in_order`) for a quiet run: the checkpoints
    it would take, the readings fed, their history as columns."""
    import numpy as np  # noqa: PLC0415  (not at start-up: issue 11, target 4)

    grid = quiet.times // step
    # A checkpoint before every row in a later grid step than the row (or position)
    # before it, as in that loop.
    marks = (np.flatnonzero(grid[1:] > grid[:-1]) + 1).tolist()
    if evaluator.pos is not None and int(grid[0]) > evaluator.pos[0] // step:
        marks.insert(0, 0)
    for mark in marks:
        apply_quiet(evaluator, quiet, mark)
        changes.add_checkpoint(probe_id, int(grid[mark]) * step, evaluator.snapshot_json())
    apply_quiet(evaluator, quiet, len(quiet.rows))
    for quantity, part in quiet.parts.items():
        changes.quiet[(probe_id, quantity)] = (part.times, part.values, part.arrivals)
