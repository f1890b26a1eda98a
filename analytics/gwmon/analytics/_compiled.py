"""What probes with equal parameters share, computed once per shared `plan.qc` object
(`build_plan(shared=...)`): the detector window lengths and the checks as `feed` reads
them. Never changed after they are made."""

from __future__ import annotations

from collections.abc import Mapping

from gwmon.analytics._detectors import ColumnCheck, FlagLevel, ParamValue, QcDetector
from gwmon.analytics._settings import ActiveDetector, ProbePlan

_WINDOW_LENGTHS: dict[int, tuple[object, Mapping[str, int]]] = {}


def window_lengths(plan: ProbePlan) -> Mapping[str, int]:
    """Per quantity with detectors, the window they need: one mapping per `plan.qc`
    object, which probes with equal parameters share (`build_plan(shared=...)`), so
    10,000 probes do not hold 10,000 equal dicts (issue 11, target 4). Never changed."""
    cached = _WINDOW_LENGTHS.get(id(plan.qc))
    if cached is not None and cached[0] is plan.qc:
        return cached[1]
    lengths = {quantity: plan.history_needed(quantity) for quantity in plan.qc if plan.qc[quantity]}
    if len(_WINDOW_LENGTHS) >= 4096:
        _WINDOW_LENGTHS.clear()  # plans of registries long gone (tests build many)
    _WINDOW_LENGTHS[id(plan.qc)] = (plan.qc, lengths)
    return lengths


# One check as `feed` reads it: the column check (None: `detector.check`), whether it
# skips below-LOQ readings, its flag, name and level, whether it hides a flagged reading,
# the detector and its parameters: no attribute lookups per reading (issue 11).
_Check = tuple[
    ColumnCheck | None, bool, str, str, FlagLevel, bool, QcDetector, Mapping[str, ParamValue]
]
_CHECKS: dict[int, tuple[object, Mapping[str, tuple[_Check, ...]]]] = {}


def _check(item: ActiveDetector) -> _Check:
    detector = item.detector
    return (
        item.columns,
        detector.skips_below_loq,
        detector.flag,
        detector.name,
        detector.level,
        detector.hides_from_history,
        detector,
        item.params,
    )


def checks_of(plan: ProbePlan) -> Mapping[str, tuple[_Check, ...]]:
    """`plan.qc` as `_Check`s, one mapping per shared `plan.qc` (as `window_lengths`)."""
    cached = _CHECKS.get(id(plan.qc))
    if cached is not None and cached[0] is plan.qc:
        return cached[1]
    checks = {quantity: tuple(map(_check, items)) for quantity, items in plan.qc.items()}
    if len(_CHECKS) >= 4096:
        _CHECKS.clear()
    _CHECKS[id(plan.qc)] = (plan.qc, checks)
    return checks
