"""Quality-control detectors: an explicit registry of named checks with declared parameters.

Modelled on SaQC (register each test by name, declare parameter limits, keep the flag's
cause) without its global registry filled by import side effects: `default_detectors()`
builds a registry explicitly and callers may build their own.

Every detector is *causal*: its verdict on a reading depends only on that reading and
the readings of the same probe and quantity before it in measurement time, so the
verdict is final when the reading is evaluated (no look-ahead, no provisional flags).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gwmon.analytics._run_checks import (
    RunCheck,
    flatline_runs,
    gap_runs,
    range_runs,
    rate_runs,
    spike_runs,
)
from gwmon.analytics._window import Window
from gwmon.config import GwmonError

ParamValue = float | int | bool | None
FlagLevel = Literal["bad", "info"]
History = Sequence[tuple[int, float]]  # (time_ns, value) of earlier readings, oldest first

_NS_PER_HOUR = 3_600_000_000_000
_NS = 1_000_000_000


class DetectorConfigError(GwmonError, ValueError):
    """A detector or parameter name or value is wrong; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Param:
    """A declared parameter: type, default, inclusive limits, meaning."""

    name: str
    kind: type[float] | type[int] | type[bool]
    default: ParamValue
    doc: str
    low: float | None = None
    high: float | None = None

    def parse(self, raw: object) -> ParamValue:
        """Validate a value from TOML (typed) or the registry's qc column (text)."""
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none")):
            if self.default is None:
                return None
            msg = f"{self.name} needs a value"
            raise DetectorConfigError(msg)
        value: ParamValue
        if self.kind is bool:
            if isinstance(raw, bool):
                value = raw
            elif isinstance(raw, str) and raw.strip().lower() in ("true", "false", "1", "0"):
                value = raw.strip().lower() in ("true", "1")
            else:
                msg = f"{self.name}={raw!r} is not true or false"
                raise DetectorConfigError(msg)
            return value
        try:
            if isinstance(raw, bool):
                raise TypeError
            number = float(raw) if isinstance(raw, int | float | str) else float("nan")
        except (TypeError, ValueError):
            msg = f"{self.name}={raw!r} is not a number"
            raise DetectorConfigError(msg) from None
        if number != number or number in (float("inf"), float("-inf")):  # noqa: PLR0124
            msg = f"{self.name}={raw!r} is not a finite number"
            raise DetectorConfigError(msg)
        if self.kind is int:
            if number != int(number):
                msg = f"{self.name}={raw!r} must be a whole number"
                raise DetectorConfigError(msg)
            value = int(number)
        else:
            value = number
        if (self.low is not None and number < self.low) or (
            self.high is not None and number > self.high
        ):
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            msg = f"{self.name}={raw!r} is outside {low}..{high}"
            raise DetectorConfigError(msg)
        return value


def parse_params(
    params: Sequence[Param], raw: Mapping[str, object], owner: str
) -> dict[str, ParamValue]:
    """Defaults overlaid with `raw`; unknown names and bad values raise with all problems."""
    known = {param.name: param for param in params}
    problems = [
        f"{owner}: unknown parameter '{name}' (known: {', '.join(sorted(known)) or 'none'})"
        for name in raw
        if name not in known
    ]
    values: dict[str, ParamValue] = {}
    for param in params:
        try:
            values[param.name] = (
                param.parse(raw[param.name]) if param.name in raw else param.default
            )
        except DetectorConfigError as exc:
            problems.append(f"{owner}: {exc}")
    if problems:
        raise DetectorConfigError("; ".join(problems))
    return values


Check = Callable[[Mapping[str, ParamValue], History, int, float, int], str | None]
# The same check on the window's columns: `(window, start, time_ns, value, interval_s)`,
# the history being `window.times[start:]` / `window.values[start:]` (oldest first). It
# must return exactly what `check` returns for `window[start:]`
# (tests/analytics/test_analytics_detector_columns.py); it spares the evaluator a tuple
# per history item read (issue 11, target 1).
ColumnCheck = Callable[[Window, int, int, float, int], str | None]


@dataclass(frozen=True, slots=True)
class QcDetector:
    """One registered check. `check(params, history, time_ns, value, interval_s)` returns
    a human-readable detail when the reading is flagged, else None. `history(params)`
    says how many earlier readings it needs; `enabled_when` names a parameter that
    must be set (not None) for the detector to run, e.g. drift's reference."""

    name: str
    flag: str
    level: FlagLevel
    doc: str
    params: tuple[Param, ...]
    check: Check
    history: Callable[[Mapping[str, ParamValue]], int]
    requires: tuple[str, ...] = ()
    # A reading this detector flags is left out of the history later readings are
    # checked against (an impossible value must not become the reference of a spike test).
    hides_from_history: bool = False
    # Not run on a reading below the limit of quantification (a laboratory's "< 0.5", or a
    # number below the registry's nitrate_loq_mg_l), and such readings do not count in its
    # history: a run of "< 0.5" is constant by construction, not a stuck sensor.
    skips_below_loq: bool = False
    # Optional: binds the parameters to a `ColumnCheck` equal to `check` (the built-in
    # detectors have one; a detector without one is run through `check`).
    columns: Callable[[Mapping[str, ParamValue]], ColumnCheck] | None = None
    # Optional: binds the parameters to a `RunCheck` (a detector without one makes the
    # evaluator feed its quantity reading by reading).
    runs: Callable[[Mapping[str, ParamValue]], RunCheck] | None = None

    def configure(self, raw: Mapping[str, object], owner: str) -> dict[str, ParamValue]:
        values = parse_params((*self.params, _ENABLED), raw, owner)
        return values

    def active(self, values: Mapping[str, ParamValue]) -> bool:
        return bool(values.get("enabled", True)) and all(
            values.get(name) is not None for name in self.requires
        )


_ENABLED = Param("enabled", bool, True, "run this detector for the quantity")


@dataclass
class DetectorRegistry:
    """Detectors by name. Build one explicitly; there is no global registry."""

    _detectors: dict[str, QcDetector] = field(default_factory=dict)

    def register(self, detector: QcDetector) -> QcDetector:
        if detector.name in self._detectors:
            msg = f"detector {detector.name!r} is already registered"
            raise ValueError(msg)
        self._detectors[detector.name] = detector
        return detector

    def get(self, name: str) -> QcDetector | None:
        return self._detectors.get(name)

    def names(self) -> list[str]:
        return sorted(self._detectors)

    def __iter__(self) -> Iterator[QcDetector]:
        return iter(self._detectors.values())

    def __contains__(self, name: object) -> bool:
        return name in self._detectors


# -- the built-in checks -----------------------------------------------------------------


def _float(values: Mapping[str, ParamValue], name: str) -> float:
    value = values[name]
    assert isinstance(value, int | float)  # guaranteed by Param.parse
    return float(value)


def _int(values: Mapping[str, ParamValue], name: str) -> int:
    value = values[name]
    assert isinstance(value, int)
    return value


def _check_range(
    values: Mapping[str, ParamValue], history: History, time_ns: int, value: float, interval: int
) -> str | None:
    low, high = values["min"], values["max"]
    if isinstance(low, int | float) and value < low:
        return f"{value:g} below physical minimum {low:g}"
    if isinstance(high, int | float) and value > high:
        return f"{value:g} above physical maximum {high:g}"
    return None


def _check_spike(
    values: Mapping[str, ParamValue], history: History, time_ns: int, value: float, interval: int
) -> str | None:
    window = _int(values, "window")
    recent = [v for _, v in history[-window:]]
    if len(recent) < 3:
        return None  # not enough context for a robust reference
    reference = statistics.median(recent)
    jump = value - reference
    limit = _float(values, "max_jump")
    if abs(jump) > limit:
        return f"jump {jump:+.4g} from median {reference:.4g} of last {len(recent)} > {limit:g}"
    return None


def _check_flatline(
    values: Mapping[str, ParamValue], history: History, time_ns: int, value: float, interval: int
) -> str | None:
    window = _int(values, "window")
    if len(history) < window - 1:
        return None
    tolerance = _float(values, "tolerance")
    # Newest first: a moving series fails on the first comparison.
    for index in range(len(history) - 1, len(history) - window, -1):
        if abs(history[index][1] - value) > tolerance:
            return None
    return f"{window} consecutive values within {tolerance:g} of {value:g}"


def _check_rate(
    values: Mapping[str, ParamValue], history: History, time_ns: int, value: float, interval: int
) -> str | None:
    if not history:
        return None
    before_ns, before = history[-1]
    hours = (time_ns - before_ns) / _NS_PER_HOUR
    if hours <= 0:
        return None
    rate = (value - before) / hours
    limit = _float(values, "max_per_hour")
    if abs(rate) > limit:
        return f"changed {rate:+.4g} per hour since previous reading > {limit:g}"
    return None


def _check_gap(
    values: Mapping[str, ParamValue], history: History, time_ns: int, value: float, interval: int
) -> str | None:
    if not history:
        return None
    gap_s = (time_ns - history[-1][0]) / _NS
    limit = _float(values, "factor") * interval
    if gap_s > limit:
        return f"{gap_s:.0f} s since previous reading > {limit:.0f} s"
    return None


def _check_drift(
    values: Mapping[str, ParamValue], history: History, time_ns: int, value: float, interval: int
) -> str | None:
    window = _int(values, "window")
    recent = [v for _, v in history[-(window - 1) :]] + [value]
    if len(recent) < window:
        return None
    level = statistics.median(recent)
    reference = _float(values, "reference")
    limit = _float(values, "max_deviation")
    if abs(level - reference) > limit:
        return (
            f"median {level:.4g} of last {window} deviates {level - reference:+.4g} "
            f"from reference {reference:g} > {limit:g}"
        )
    return None


# -- the same checks on the window's columns (ColumnCheck) -----------------------------------


def _median(values: Sequence[float]) -> float:
    """statistics.median, term for term (the same float for the same values)."""
    ordered = sorted(values)
    half = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[half]
    return (ordered[half - 1] + ordered[half]) / 2


def _range_columns(params: Mapping[str, ParamValue]) -> ColumnCheck:
    low, high = params["min"], params["max"]
    low_limit = low if isinstance(low, int | float) else None
    high_limit = high if isinstance(high, int | float) else None

    def check(history: Window, start: int, time_ns: int, value: float, interval: int) -> str | None:
        if low_limit is not None and value < low_limit:
            return f"{value:g} below physical minimum {low_limit:g}"
        if high_limit is not None and value > high_limit:
            return f"{value:g} above physical maximum {high_limit:g}"
        return None

    return check


def _spike_columns(params: Mapping[str, ParamValue]) -> ColumnCheck:
    size = _int(params, "window")
    limit = _float(params, "max_jump")

    def check(history: Window, start: int, time_ns: int, value: float, interval: int) -> str | None:
        values = history.values
        end = len(values)
        first = end - size if end - size > start else start
        count = end - first
        if count < 3:
            return None  # not enough context for a robust reference
        # `_median` inline (one call fewer per reading: the most frequent check); the
        # slice as a list sorted in place is about a third faster than `sorted(slice)`
        ordered = values[first:end].tolist()
        ordered.sort()
        half = count // 2
        reference = ordered[half] if count % 2 else (ordered[half - 1] + ordered[half]) / 2
        jump = value - reference
        if abs(jump) > limit:
            return f"jump {jump:+.4g} from median {reference:.4g} of last {end - first} > {limit:g}"
        return None

    return check


def _flatline_columns(params: Mapping[str, ParamValue]) -> ColumnCheck:
    size = _int(params, "window")
    tolerance = _float(params, "tolerance")

    def check(history: Window, start: int, time_ns: int, value: float, interval: int) -> str | None:
        values = history.values
        end = len(values)
        if end - start < size - 1:
            return None
        for index in range(end - 1, end - size, -1):  # newest first
            if abs(values[index] - value) > tolerance:
                return None
        return f"{size} consecutive values within {tolerance:g} of {value:g}"

    return check


def _rate_columns(params: Mapping[str, ParamValue]) -> ColumnCheck:
    limit = _float(params, "max_per_hour")

    def check(history: Window, start: int, time_ns: int, value: float, interval: int) -> str | None:
        times = history.times
        end = len(times)
        if end <= start:
            return None
        hours = (time_ns - times[end - 1]) / _NS_PER_HOUR
        if hours <= 0:
            return None
        rate = (value - history.values[end - 1]) / hours
        if abs(rate) > limit:
            return f"changed {rate:+.4g} per hour since previous reading > {limit:g}"
        return None

    return check


def _gap_columns(params: Mapping[str, ParamValue]) -> ColumnCheck:
    factor = _float(params, "factor")

    def check(history: Window, start: int, time_ns: int, value: float, interval: int) -> str | None:
        times = history.times
        end = len(times)
        if end <= start:
            return None
        gap_s = (time_ns - times[end - 1]) / _NS
        limit = factor * interval
        if gap_s > limit:
            return f"{gap_s:.0f} s since previous reading > {limit:.0f} s"
        return None

    return check


def _drift_columns(params: Mapping[str, ParamValue]) -> ColumnCheck:
    size = _int(params, "window")
    reference = _float(params, "reference")
    limit = _float(params, "max_deviation")

    def check(history: Window, start: int, time_ns: int, value: float, interval: int) -> str | None:
        values = history.values
        end = len(values)
        # As `history[-(window - 1):]`: with window 1 that is the whole history.
        first = start if size == 1 else max(start, end - (size - 1))
        if end - first + 1 < size:
            return None
        level = _median([*values[first:end], value])
        if abs(level - reference) > limit:
            return (
                f"median {level:.4g} of last {size} deviates {level - reference:+.4g} "
                f"from reference {reference:g} > {limit:g}"
            )
        return None

    return check


RANGE = QcDetector(
    name="range",
    flag="range",
    level="bad",
    doc="value outside the physically possible range (SaQC flagRange; DEFECTIVE_SENSOR)",
    params=(
        Param("min", float, None, "lowest plausible value (canonical unit); none = no limit"),
        Param("max", float, None, "highest plausible value (canonical unit); none = no limit"),
    ),
    check=_check_range,
    history=lambda values: 0,
    hides_from_history=True,
    columns=_range_columns,
    runs=range_runs,
)
SPIKE = QcDetector(
    name="spike",
    flag="spike",
    level="bad",
    doc="value jumps more than max_jump away from the median of the previous readings "
    "(robust against a single earlier spike; SaQC ISOLATED_SPIKE/flagOffset family)",
    params=(
        Param("window", int, 5, "earlier readings whose median is the reference", 3, 1000),
        Param("max_jump", float, 15.0, "largest plausible jump (canonical unit)", 0, None),
    ),
    check=_check_spike,
    history=lambda values: int(values["window"] or 0),
    columns=_spike_columns,
    runs=spike_runs,
)
FLATLINE = QcDetector(
    name="flatline",
    flag="flatline",
    level="bad",
    doc="window consecutive readings (this one included) within tolerance of each other: "
    "a stuck sensor (SaQC flagConstants)",
    params=(
        Param("window", int, 24, "number of equal readings that mean 'stuck'", 2, 10_000),
        Param("tolerance", float, 0.0, "largest difference still counted as equal", 0, None),
    ),
    check=_check_flatline,
    history=lambda values: int(values["window"] or 0) - 1,
    skips_below_loq=True,
    columns=_flatline_columns,
    runs=flatline_runs,
)
RATE_OF_CHANGE = QcDetector(
    name="rate_of_change",
    flag="rate_of_change",
    level="bad",
    doc="change since the previous reading faster than max_per_hour (SaQC flagByVariance/"
    "rate family)",
    params=(Param("max_per_hour", float, 1.0, "largest plausible change per hour", 0, None),),
    check=_check_rate,
    history=lambda values: 1,
    columns=_rate_columns,
    runs=rate_runs,
)
GAP = QcDetector(
    name="gap",
    flag="gap",
    level="info",
    doc="reading follows a gap longer than factor x the probe's expected_interval_s "
    "(informational: marks the restart of a series; SaQC flagMissing)",
    params=(Param("factor", float, 3.0, "gap length in expected intervals", 1, None),),
    check=_check_gap,
    history=lambda values: 1,
    columns=_gap_columns,
    runs=gap_runs,
)
DRIFT = QcDetector(
    name="drift",
    flag="drift",
    level="bad",
    doc="median of the last window readings deviates from a reference (e.g. a manual dip "
    "'Abstich' converted to m NHN) by more than max_deviation; runs only when a reference "
    "is set (usually per probe in the registry)",
    params=(
        Param("reference", float, None, "reference value (canonical unit); none = off"),
        Param("max_deviation", float, 0.1, "allowed deviation of the median", 0, None),
        Param("window", int, 24, "readings in the median", 1, 10_000),
    ),
    check=_check_drift,
    history=lambda values: int(values["window"] or 1) - 1,
    requires=("reference",),
    columns=_drift_columns,
)

BUILTIN_DETECTORS = (RANGE, SPIKE, FLATLINE, RATE_OF_CHANGE, GAP, DRIFT)


def default_detectors() -> DetectorRegistry:
    """A registry holding the built-in detectors (a new one per call)."""
    registry = DetectorRegistry()
    for detector in BUILTIN_DETECTORS:
        registry.register(detector)
    return registry


# Which detectors run on which quantity by default, with quantity-specific parameters.
# [analytics.qc.<quantity>.<detector>] in the config and `<quantity>.<detector>.<param>`
# in the registry's qc column override these.
DEFAULT_QC: dict[str, dict[str, dict[str, ParamValue]]] = {
    "nitrate": {
        "range": {"min": 0.0, "max": 500.0},
        "spike": {"window": 5, "max_jump": 15.0},
        "flatline": {"window": 24, "tolerance": 0.0},
        "gap": {"factor": 3.0},
    },
    "level": {
        "spike": {"window": 5, "max_jump": 2.0},
        "rate_of_change": {"max_per_hour": 1.0},
        "flatline": {"window": 48, "tolerance": 0.0},
        "gap": {"factor": 3.0},
        "drift": {},
    },
    "depth": {"range": {"min": -10.0, "max": 500.0}},
    "temperature": {
        "range": {"min": -5.0, "max": 40.0},
        "spike": {"window": 5, "max_jump": 3.0},
    },
    "conductivity": {
        "range": {"min": 0.0, "max": 20_000.0},
        "spike": {"window": 5, "max_jump": 500.0},
    },
    "battery": {"range": {"min": 0.0, "max": 100.0}},
}
