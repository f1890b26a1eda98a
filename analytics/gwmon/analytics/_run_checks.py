"""The built-in detectors' checks on a run of readings at once (`QcDetector.runs`).

A probe's in-order readings of a batch that none of its checks flags are fed per
quantity, not one `ProbeEvaluator.feed` per reading (`_quiet.py`, issue 11, target 1).
Whether none is flagged is decided here, one numpy pass per detector and quantity:
a run check says, for every reading, whether its column check (`_detectors.py`)
might flag it, and never says no for one it flags. numpy is imported when a run check
is made, not at start-up (issue 11, target 4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from gwmon.analytics._detectors import ParamValue

_NS_PER_HOUR = 3_600_000_000_000
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class RunHistory:
    """The histories a run of readings of one quantity is checked against, as columns:
    `times` and `values` are the window before the run followed by the run's readings
    (`run_times`, `run_values`); reading j's history is `values[starts[j]:ends[j]]`
    (oldest first), as `window[start:]` would be had it been fed reading by reading with
    none of the run hidden."""

    times: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    run_times: npt.NDArray[np.int64]
    run_values: npt.NDArray[np.float64]


# The same check on a run of readings at once (`(run, interval_s)`): True for every
# reading the check might flag, and never False for one it flags (it may say True for
# one it does not: the evaluator then feeds the run reading by reading). Spares the
# evaluator one Python call per check per reading (issue 11, target 1).
RunCheck = Callable[[RunHistory, int], "npt.NDArray[np.bool_]"]


def _number(params: Mapping[str, ParamValue], name: str) -> float:
    value = params[name]
    assert isinstance(value, int | float)  # guaranteed by Param.parse
    return float(value)


# A margin on the comparisons of a quotient (rate, gap): a reading that close to the
# limit is taken as "might be flagged" (the evaluator then checks it the careful way).
_MARGIN = 1e-9
# Time differences from here on are not exact as doubles (nor in the careful check's
# `int / int`): "might be flagged".
_EXACT_NS = 2**53


def _below(limit: float) -> float:
    return limit - abs(limit) * _MARGIN - _MARGIN


def _none_flagged(run: RunHistory) -> npt.NDArray[np.bool_]:
    import numpy as np  # noqa: PLC0415  (not at start-up: target 4)

    return np.zeros(len(run.run_values), dtype=np.bool_)


def range_runs(params: Mapping[str, ParamValue]) -> RunCheck:

    low, high = params["min"], params["max"]

    def check(run: RunHistory, interval: int) -> npt.NDArray[np.bool_]:
        flagged = _none_flagged(run)
        if isinstance(low, int | float):
            flagged |= run.run_values < low
        if isinstance(high, int | float):
            flagged |= run.run_values > high
        return flagged

    return check


def spike_runs(params: Mapping[str, ParamValue]) -> RunCheck:
    import numpy as np  # noqa: PLC0415  (not at start-up: target 4)

    size = int(params["window"] or 0)
    limit = _number(params, "max_jump")
    half = size // 2
    offsets = np.arange(size)

    def check(run: RunHistory, interval: int) -> npt.NDArray[np.bool_]:
        ends, starts = run.ends, run.starts
        full = ends - size >= starts  # the median of the last `size` values
        # Fewer (but at least 3: else no reference) are left to the careful check.
        flagged = ~full & (ends - starts >= 3)
        if full.any():
            windows = run.values[(ends[full] - size)[:, None] + offsets]
            ordered = np.sort(windows, axis=1)
            if size % 2:
                reference = ordered[:, half]
            else:
                reference = (ordered[:, half - 1] + ordered[:, half]) / 2
            flagged[full] = np.abs(run.run_values[full] - reference) > limit
        return flagged

    return check


def flatline_runs(params: Mapping[str, ParamValue]) -> RunCheck:
    import numpy as np  # noqa: PLC0415  (not at start-up: target 4)

    size = int(params["window"] or 0)
    tolerance = _number(params, "tolerance")
    before = size - 1  # earlier values compared with the reading
    offsets = np.arange(before)

    def check(run: RunHistory, interval: int) -> npt.NDArray[np.bool_]:
        ends = run.ends
        full = ends - run.starts >= before  # else never flagged
        flagged = _none_flagged(run)
        if full.any():
            windows = run.values[(ends[full] - before)[:, None] + offsets]
            value = run.run_values[full]
            # Every |v - value| <= tolerance, i.e. the largest on either side (rounding
            # keeps the order of the differences).
            flagged[full] = (windows.max(axis=1) - value <= tolerance) & (
                value - windows.min(axis=1) <= tolerance
            )
        return flagged

    return check


def _previous(
    run: RunHistory,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per reading: whether it has a previous value, the index of that, the time since."""
    import numpy as np  # noqa: PLC0415  (not at start-up: target 4)

    ends = run.ends
    has = ends > run.starts
    previous = np.maximum(ends - 1, 0)
    return has, previous, run.run_times - run.times[previous]


def rate_runs(params: Mapping[str, ParamValue]) -> RunCheck:
    import numpy as np  # noqa: PLC0415  (not at start-up: target 4)

    limit = _below(_number(params, "max_per_hour"))

    def check(run: RunHistory, interval: int) -> npt.NDArray[np.bool_]:
        has, previous, elapsed = _previous(run)
        later = has & (elapsed > 0)
        hours = np.where(later, elapsed, 1) / _NS_PER_HOUR
        rate = (run.run_values - run.values[previous]) / hours
        return later & ((np.abs(rate) > limit) | (elapsed >= _EXACT_NS))

    return check


def gap_runs(params: Mapping[str, ParamValue]) -> RunCheck:

    factor = _number(params, "factor")

    def check(run: RunHistory, interval: int) -> npt.NDArray[np.bool_]:
        has, _previous_index, elapsed = _previous(run)
        limit = _below(factor * interval)
        return has & ((elapsed / _NS > limit) | (elapsed >= _EXACT_NS))

    return check
