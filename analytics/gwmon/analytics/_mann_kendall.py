"""GrwV Anlage 6 trend test as a pure function: Mann-Kendall with tie correction, Sen's
slope, and the Hamed & Rao (1998) correction for serial correlation (docs/trend.md).

`_trend.py` runs it over the series stored in InfluxDB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

from gwmon.analytics._codec import to_ns
from gwmon.ingest import TREND_REVERSAL_START_MG_L

SECONDS_PER_YEAR = 365.25 * 86400
MIN_VALUES = 5  # GrwV Anlage 6
MAX_VALUES = 5_000  # exact Sen's slope needs all n(n-1)/2 pair slopes in memory
_NS = 1_000_000_000

Verdict = Literal["rising", "falling", "no_trend", "insufficient"]
Autocorrelation = Literal["hamed_rao", "none"]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class MannKendallResult:
    """Result of the trend test. Statistics are None when the test was refused
    (`verdict == "insufficient"`, `reason` says why). `tau` is Kendall's tau-a
    (S over the number of pairs), `slope_per_year` Sen's slope in value units per year,
    `variance_factor` the Hamed-Rao factor n/n* applied to Var(S) (1.0: none)."""

    n: int
    s: int | None
    var_s: float | None
    z: float | None
    p: float | None
    tau: float | None
    slope_per_year: float | None
    verdict: Verdict
    reason: str | None
    alpha: float
    autocorrelation: Autocorrelation
    variance_factor: float
    below_loq: int
    reversal_start: float
    reversal_start_reached: bool
    first_s: float | None
    last_s: float | None

    @property
    def slope(self) -> float | None:
        """Sen's slope per year (alias of `slope_per_year`)."""
        return self.slope_per_year

    @property
    def significant(self) -> bool:
        return self.verdict in ("rising", "falling")


def _seconds(moment: float | datetime) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            msg = "datetimes must be timezone-aware"
            raise ValueError(msg)
        return to_ns(moment) / _NS
    return float(moment)


def _average_ranks(values: FloatArray) -> FloatArray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ordered = values[order]
    start = 0
    n = len(values)
    # Runs of equal values share the mean of their ranks (1-based).
    boundaries = np.flatnonzero(np.diff(ordered)) + 1
    for stop in [*boundaries.tolist(), n]:
        ranks[order[start:stop]] = (start + 1 + stop) / 2.0
        start = stop
    return ranks


def _pairs(t: FloatArray, x: FloatArray) -> tuple[int, FloatArray]:
    """S = sum of sign(x_j - x_i) over pairs i < j with t_j > t_i, and those pairs'
    slopes (x_j - x_i) / (t_j - t_i). `t` is sorted. Pairs at equal times count 0 and
    have no slope. Computed lag by lag (vectorised along each diagonal)."""
    n = len(x)
    time_ties = bool(np.any(np.diff(t) == 0))
    slopes = np.empty(n * (n - 1) // 2, dtype=np.float64)
    s = 0
    filled = 0
    for lag in range(1, n):
        dx = x[lag:] - x[:-lag]
        dt = t[lag:] - t[:-lag]
        if time_ties:
            keep = dt > 0
            dx, dt = dx[keep], dt[keep]
        s += int(np.count_nonzero(dx > 0)) - int(np.count_nonzero(dx < 0))
        np.divide(dx, dt, out=slopes[filled : filled + len(dx)])
        filled += len(dx)
    return s, slopes[:filled]


def _median_in_place(values: FloatArray) -> float:
    """Median without a copy (reorders `values`)."""
    count = len(values)
    middle = count // 2
    if count % 2:
        values.partition(middle)
        return float(values[middle])
    values.partition([middle - 1, middle])
    return float((values[middle - 1] + values[middle]) / 2)


def _hamed_rao_factor(t: FloatArray, x: FloatArray, slope_per_s: float, alpha: float) -> float:
    """n/n* of Hamed & Rao (1998): autocorrelation of the ranks of the detrended series,
    counting only lags significant at alpha."""
    n = len(x)
    # Detrending by the median slope makes the median pair an exact tie in theory; round
    # away float noise so such ties rank as ties (average ranks) instead of by chance.
    detrended = x - slope_per_s * (t - t[0])
    scale = max(float(np.max(np.abs(detrended))), 1.0)
    ranks = _average_ranks(np.round(detrended / scale, 12))
    centred = ranks - ranks.mean()
    denominator = float(np.dot(centred, centred))
    if denominator == 0.0:
        return 1.0
    acf = np.correlate(centred, centred, mode="full")[n - 1 :] / denominator
    bound = NormalDist().inv_cdf(1 - alpha / 2) / math.sqrt(n)
    lags = np.arange(1, n)
    rho = acf[1:n]
    significant = np.abs(rho) > bound
    weights = (n - lags) * (n - lags - 1) * (n - lags - 2)
    total = float(np.sum(weights[significant] * rho[significant]))
    factor = 1 + 2 / (n * (n - 1) * (n - 2)) * total
    # Strong negative autocorrelation could make the variance non-positive: fall back
    # to the uncorrected test rather than report nonsense.
    return factor if factor > 0 else 1.0


@dataclass(frozen=True, slots=True)
class _Series:
    """The values a test runs on: sorted by (time, value tested), censoring applied."""

    t: FloatArray  # UNIX seconds
    x: FloatArray  # the values tested (below the LOQ replaced by half of it)
    below_loq: int
    reached: bool  # a measured (not censored) value reached the reversal start


def _prepare(
    times: Sequence[float | datetime],
    values: Sequence[float],
    loq: float | None,
    censored: Sequence[bool] | None,
    reversal_start: float,
) -> _Series:
    t = np.array([_seconds(moment) for moment in times], dtype=np.float64)
    x = np.array(values, dtype=np.float64)
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(x))):
        msg = "times and values must be finite numbers"
        raise ValueError(msg)
    if censored is None:
        marked: BoolArray = np.zeros(len(x), dtype=bool)
    else:
        marked = np.array(censored, dtype=bool)
        if marked.shape != x.shape:
            msg = f"{len(censored)} censored marks but {len(values)} values"
            raise ValueError(msg)
    raw = x.copy()
    below_mask = marked.copy()
    x[marked] = (raw[marked] if loq is None else np.maximum(raw[marked], loq)) / 2
    if loq is not None:
        numeric_below = ~marked & (raw < loq)
        x[numeric_below] = loq / 2
        below_mask |= numeric_below
    # Time, then the value tested: values at one time form a fixed sequence, so the
    # Hamed-Rao autocorrelation (which sees the sequence) is independent of input order.
    order = np.lexsort((x, t))
    t, x, raw, marked = t[order], x[order], raw[order], marked[order]
    measured = raw[~marked]
    reached = bool(len(measured) and np.max(measured) >= reversal_start)
    return _Series(t, x, int(below_mask.sum()), reached)


def _refusal(series: _Series, min_values: int, min_span_days: float) -> str | None:
    """Why the test cannot run on `series`, or None."""
    n = len(series.x)
    if n < min_values:
        return f"{n} values; the trend test needs at least {min_values} single values"
    if n > MAX_VALUES:
        return (
            f"{n} values; at most {MAX_VALUES} per test (raise [analytics.trend] "
            "sample_interval_s or use --since)"
        )
    span_s = float(series.t[-1] - series.t[0])
    if span_s <= 0:
        return "all values have the same time"
    span_days = span_s / 86_400
    if span_days < min_span_days:
        return (
            f"the values span {span_days:.0f} days; the trend test needs at least "
            f"{min_span_days:g} days, or the seasonal cycle passes for a trend "
            "([analytics.trend] min_span_days)"
        )
    return None


@dataclass(frozen=True, slots=True)
class _Statistics:
    s: int
    var_s: float  # after the Hamed-Rao factor
    slope_per_s: float
    factor: float


def _statistics(series: _Series, alpha: float, autocorrelation: Autocorrelation) -> _Statistics:
    t, x = series.t, series.x
    n = len(x)
    s, slopes = _pairs(t, x)
    _, counts = np.unique(x, return_counts=True)
    ties = counts[counts > 1].astype(np.float64)
    var_s = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18
    slope_per_s = _median_in_place(slopes)
    factor = 1.0
    if autocorrelation == "hamed_rao" and n >= 3:
        factor = _hamed_rao_factor(t, x, slope_per_s, alpha)
    return _Statistics(s, var_s * factor, slope_per_s, factor)


def mann_kendall(
    times: Sequence[float | datetime],
    values: Sequence[float],
    *,
    alpha: float = 0.05,
    autocorrelation: Autocorrelation = "hamed_rao",
    loq: float | None = None,
    censored: Sequence[bool] | None = None,
    reversal_start: float = TREND_REVERSAL_START_MG_L,
    min_values: int = MIN_VALUES,
    min_span_days: float = 0.0,
) -> MannKendallResult:
    """Mann-Kendall trend test with tie correction and Sen's slope (per year).

    `times` are UNIX seconds or aware datetimes (any order; sorted by time, then value,
    so that the result never depends on the input order), `values` single measurements
    (not means). Values below the limit of quantification count as half of it (GrwV
    Anlage 6): a numeric value below `loq` as `loq / 2`; a value marked in `censored`
    ("< L", the value is its LOQ L) as `max(L, loq) / 2`.
    `reversal_start` (e.g. a probe's warning threshold) is capped at 37.5 mg/L, the
    GrwV's latest start of trend reversal; only measured values can reach it.
    Fewer than `min_values` (at least 5) values, or values spanning less than
    `min_span_days`: verdict "insufficient" with a reason.
    Raises ValueError for mismatched lengths or non-finite input.
    """
    if len(times) != len(values):
        msg = f"{len(times)} times but {len(values)} values"
        raise ValueError(msg)
    if not 0 < alpha < 1:
        msg = f"alpha must be between 0 and 1, not {alpha}"
        raise ValueError(msg)
    reversal_start = min(reversal_start, TREND_REVERSAL_START_MG_L)
    series = _prepare(times, values, loq, censored, reversal_start)
    n = len(series.x)
    reason = _refusal(series, max(min_values, MIN_VALUES), min_span_days)
    refused = MannKendallResult(
        n=n,
        s=None,
        var_s=None,
        z=None,
        p=None,
        tau=None,
        slope_per_year=None,
        verdict="insufficient",
        reason=reason,
        alpha=alpha,
        autocorrelation=autocorrelation,
        variance_factor=1.0,
        below_loq=series.below_loq,
        reversal_start=reversal_start,
        reversal_start_reached=series.reached,
        first_s=float(series.t[0]) if n else None,
        last_s=float(series.t[-1]) if n else None,
    )
    if reason is not None:
        return refused
    stats = _statistics(series, alpha, autocorrelation)
    if stats.var_s <= 0:
        return replace(refused, reason="all values are equal (no variance)")
    s = stats.s
    z = 0.0 if s == 0 else (s - 1 if s > 0 else s + 1) / math.sqrt(stats.var_s)
    p = math.erfc(abs(z) / math.sqrt(2))
    verdict: Verdict = "no_trend"
    if p < alpha:
        verdict = "rising" if z > 0 else "falling"
    return replace(
        refused,
        s=s,
        var_s=stats.var_s,
        z=z,
        p=p,
        tau=s / (n * (n - 1) / 2),
        slope_per_year=stats.slope_per_s * SECONDS_PER_YEAR,
        verdict=verdict,
        reason=None,
        variance_factor=stats.factor,
    )


def sens_slope(times: Sequence[float | datetime], values: Sequence[float]) -> float:
    """Sen's slope (median of pairwise slopes) in value units per year."""
    t = np.array([_seconds(moment) for moment in times], dtype=np.float64)
    x = np.array(values, dtype=np.float64)
    order = np.argsort(t, kind="mergesort")
    _, slopes = _pairs(t[order], x[order])
    if not len(slopes):
        msg = "Sen's slope needs at least two values at different times"
        raise ValueError(msg)
    return _median_in_place(slopes) * SECONDS_PER_YEAR
