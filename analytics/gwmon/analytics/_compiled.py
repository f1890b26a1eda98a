"""What probes with equal parameters share, computed once per shared `plan.qc` object
(`build_plan(shared=...)`): the detector window lengths and the checks as `feed` reads
them. Never changed after they are made."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from gwmon.analytics._detectors import (
    ColumnCheck,
    DetectorRegistry,
    FlagLevel,
    ParamValue,
    QcDetector,
)
from gwmon.analytics._run_checks import RunCheck
from gwmon.analytics._settings import (
    ActiveDetector,
    AnalyticsSettings,
    ProbePlan,
    build_plan,
    config_problems,
)
from gwmon.config import ConfigError
from gwmon.ingest import GwmonConfig, Registry

_T = TypeVar("_T")
_CACHES: dict[str, dict[int, tuple[object, Any]]] = {}


def _per_shared_qc(kind: str, plan: ProbePlan, build: Callable[[ProbePlan], _T]) -> _T:
    """`build(plan)` once per `plan.qc` object, which probes with equal parameters share
    (`build_plan(shared=...)`), so 10,000 probes do not hold 10,000 equal copies (issue
    11, target 4). The cache keeps the `plan.qc` it was made for: its id stays its own."""
    cache = _CACHES.setdefault(kind, {})
    cached = cache.get(id(plan.qc))
    if cached is not None and cached[0] is plan.qc:
        return cast("_T", cached[1])
    made = build(plan)
    if len(cache) >= 4096:
        cache.clear()  # plans of registries long gone (tests build many)
    cache[id(plan.qc)] = (plan.qc, made)
    return made


def window_lengths(plan: ProbePlan) -> Mapping[str, int]:
    """Per quantity with detectors, the window they need (one mapping per shared
    `plan.qc`). Never changed."""
    return _per_shared_qc("window_lengths", plan, _window_lengths)


def _window_lengths(plan: ProbePlan) -> Mapping[str, int]:
    return {quantity: plan.history_needed(quantity) for quantity in plan.qc if plan.qc[quantity]}


# One check as `feed` reads it: the column check (None: `detector.check`), whether it
# skips below-LOQ readings, its flag, name and level, whether it hides a flagged reading,
# the detector and its parameters: no attribute lookups per reading (issue 11).
_Check = tuple[
    ColumnCheck | None, bool, str, str, FlagLevel, bool, QcDetector, Mapping[str, ParamValue]
]


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
    return _per_shared_qc("checks", plan, _checks)


def _checks(plan: ProbePlan) -> Mapping[str, tuple[_Check, ...]]:
    return {quantity: tuple(map(_check, items)) for quantity, items in plan.qc.items()}


# A quantity's checks as runs read them: the run check and whether it skips below-LOQ
# readings; None when one of its detectors has no run check (`QcDetector.runs`).
RunChecks = tuple[tuple[RunCheck, bool], ...] | None


def run_checks_of(plan: ProbePlan) -> Mapping[str, RunChecks]:
    """`plan.qc` as `RunChecks`, one mapping per shared `plan.qc` (as `window_lengths`)."""
    return _per_shared_qc("run_checks", plan, _run_checks)


def _run_checks(plan: ProbePlan) -> Mapping[str, RunChecks]:
    found: dict[str, RunChecks] = {}
    for quantity, items in plan.qc.items():
        binds = [item.detector.runs for item in items]
        found[quantity] = (
            None
            if any(bind is None for bind in binds)
            else tuple(
                (bind(item.params), item.detector.skips_below_loq)
                for bind, item in zip(binds, items, strict=True)
                if bind is not None
            )
        )
    return found


def plans_of(
    config: GwmonConfig,
    registry: Registry,
    settings: AnalyticsSettings,
    detectors: DetectorRegistry,
) -> dict[str, ProbePlan]:
    """Every probe's plan; ConfigError naming every problem at once."""
    problems = config_problems(settings, detectors, registry, config.source)
    plans: dict[str, ProbePlan] = {}
    shared: dict[object, object] = {}
    for probe in registry:
        plan, found = build_plan(settings, detectors, probe, shared=shared)
        problems.extend(found)
        if plan is not None:
            plans[probe.probe_id] = plan
    if problems:
        raise ConfigError(
            "invalid analytics configuration:\n  " + "\n  ".join(problems),
            source=config.source,
            key="analytics",
        )
    return plans
