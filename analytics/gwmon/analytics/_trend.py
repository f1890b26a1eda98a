"""GrwV Anlage 6 trend test: Mann-Kendall with tie correction, Sen's slope, and the
Hamed & Rao (1998) correction for serial correlation (docs/trend.md).

`mann_kendall` is the pure function; `run_trend` reads nitrate series from InfluxDB,
stores results in `trend` and opens/resolves `trend` alerts in `alert`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from gwmon.analytics._alerts import (
    ALERT,
    SEVERITY,
    TREND,
    alert_from_row,
    alert_id,
    alert_point,
    to_datetime,
    to_ns,
)
from gwmon.analytics._detectors import DetectorRegistry, default_detectors
from gwmon.analytics._engine import DERIVED_FLAG
from gwmon.analytics._model import Alert, AlertKind, AlertState
from gwmon.analytics._settings import TrendSettings
from gwmon.ingest import DEFAULT_NITRATE_BREACH_MG_L, DEFAULT_NITRATE_WARNING_MG_L, Probe
from gwmon.storage import FieldValue, InfluxClient, Point

logger = logging.getLogger("gwmon.analytics.trend")

SECONDS_PER_YEAR = 365.25 * 86400
MIN_VALUES = 5  # GrwV Anlage 6
MAX_VALUES = 5_000  # exact Sen's slope needs all n(n-1)/2 pair slopes in memory
_NS = 1_000_000_000
# GrwV: the start of trend reversal lies at most at 75 % of the Schwellenwert (50 mg/L).
REVERSAL_START_MAX_MG_L = 0.75 * DEFAULT_NITRATE_BREACH_MG_L  # 37.5

Verdict = Literal["rising", "falling", "no_trend", "insufficient"]
Autocorrelation = Literal["hamed_rao", "none"]
FloatArray = npt.NDArray[np.float64]


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


def mann_kendall(
    times: Sequence[float | datetime],
    values: Sequence[float],
    *,
    alpha: float = 0.05,
    autocorrelation: Autocorrelation = "hamed_rao",
    loq: float | None = None,
    censored: Sequence[bool] | None = None,
    reversal_start: float = DEFAULT_NITRATE_WARNING_MG_L,
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
    min_values = max(min_values, MIN_VALUES)
    reversal_start = min(reversal_start, REVERSAL_START_MAX_MG_L)
    t = np.array([_seconds(moment) for moment in times], dtype=np.float64)
    x = np.array(values, dtype=np.float64)
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(x))):
        msg = "times and values must be finite numbers"
        raise ValueError(msg)
    if censored is None:
        marked = np.zeros(len(x), dtype=bool)
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
    below = int(below_mask.sum())
    # Time, then the value tested: values at one time form a fixed sequence, so the
    # Hamed-Rao autocorrelation (which sees the sequence) is independent of input order.
    order = np.lexsort((x, t))
    t, x, raw, marked = t[order], x[order], raw[order], marked[order]
    n = len(x)
    measured = raw[~marked]
    reached = bool(len(measured) and np.max(measured) >= reversal_start)

    def refuse(reason: str) -> MannKendallResult:
        return MannKendallResult(
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
            below_loq=below,
            reversal_start=reversal_start,
            reversal_start_reached=reached,
            first_s=float(t[0]) if n else None,
            last_s=float(t[-1]) if n else None,
        )

    if n < min_values:
        return refuse(f"{n} values; the trend test needs at least {min_values} single values")
    if n > MAX_VALUES:
        return refuse(
            f"{n} values; at most {MAX_VALUES} per test (raise [analytics.trend] "
            "sample_interval_s or use --since)"
        )
    if float(t[-1] - t[0]) <= 0:
        return refuse("all values have the same time")
    span_days = float(t[-1] - t[0]) / 86_400
    if span_days < min_span_days:
        return refuse(
            f"the values span {span_days:.0f} days; the trend test needs at least "
            f"{min_span_days:g} days, or the seasonal cycle passes for a trend "
            "([analytics.trend] min_span_days)"
        )
    s, slopes = _pairs(t, x)
    _, counts = np.unique(x, return_counts=True)
    ties = counts[counts > 1].astype(np.float64)
    var_s = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18
    slope_per_s = _median_in_place(slopes)
    factor = 1.0
    if autocorrelation == "hamed_rao" and n >= 3:
        factor = _hamed_rao_factor(t, x, slope_per_s, alpha)
    var_s *= factor
    if var_s <= 0:
        return refuse("all values are equal (no variance)")
    if s > 0:
        z = (s - 1) / math.sqrt(var_s)
    elif s < 0:
        z = (s + 1) / math.sqrt(var_s)
    else:
        z = 0.0
    p = math.erfc(abs(z) / math.sqrt(2))
    verdict: Verdict = "no_trend"
    if p < alpha:
        verdict = "rising" if z > 0 else "falling"
    return MannKendallResult(
        n=n,
        s=s,
        var_s=var_s,
        z=z,
        p=p,
        tau=s / (n * (n - 1) / 2),
        slope_per_year=slope_per_s * SECONDS_PER_YEAR,
        verdict=verdict,
        reason=None,
        alpha=alpha,
        autocorrelation=autocorrelation,
        variance_factor=factor,
        below_loq=below,
        reversal_start=reversal_start,
        reversal_start_reached=reached,
        first_s=float(t[0]),
        last_s=float(t[-1]),
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


# -- batch runs over InfluxDB --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrendReport:
    """One probe's trend run: the series used, the result, what happened to its alert."""

    probe: Probe
    result: MannKendallResult
    used_values: int
    flagged_excluded: int
    alert: Alert | None
    alert_action: Literal["opened", "updated", "resolved"] | None


def _bad_flags(detectors: DetectorRegistry) -> set[str]:
    bad = {detector.flag for detector in detectors if detector.level == "bad"}
    return bad | {DERIVED_FLAG}


Sample = tuple[int, float, bool]  # time (ns), value, censored ("< value", below the LOQ)


def _load_series(store: InfluxClient, probe: Probe, since_ns: int | None) -> list[Sample]:
    # probe ids match [A-Za-z0-9_-] (registry), safe inside quotes.
    where = f"\"probe\" = '{probe.probe_id}' AND \"quantity\" = 'nitrate'"
    if since_ns is not None:
        where += f" AND time >= {since_ns}"
    rows = store.query_rows(
        f'SELECT "value", "censored" FROM "reading" WHERE {where}'  # noqa: S608
    )
    return [
        (int(row["time"]), float(row["value"]), row.get("censored") is True)
        for row in rows
        if isinstance(row.get("value"), int | float)
    ]


def _load_flagged(
    store: InfluxClient, probe: Probe, since_ns: int | None, bad: set[str]
) -> set[int]:
    where = f"\"probe\" = '{probe.probe_id}' AND \"quantity\" = 'nitrate'"
    if since_ns is not None:
        where += f" AND time >= {since_ns}"
    rows = store.query_rows(f'SELECT "value", "flag" FROM "qc" WHERE {where}')  # noqa: S608
    return {int(row["time"]) for row in rows if row.get("flag") in bad}


SampleT = TypeVar("SampleT", tuple[int, float], tuple[int, float, bool])


def select_samples(series: Iterable[SampleT], interval_s: float) -> list[SampleT]:
    """The first reading of each `interval_s` (UTC-aligned) window: single measured
    values, never means. interval 0 keeps all. Items are (time_ns, value) or
    (time_ns, value, censored)."""
    ordered = sorted(series)
    if interval_s <= 0:
        return ordered
    width = int(interval_s * _NS)
    chosen: dict[int, SampleT] = {}
    for item in ordered:
        chosen.setdefault(item[0] // width, item)
    return list(chosen.values())


def trend_point(probe: Probe, result: MannKendallResult, now_ns: int) -> Point:
    fields: dict[str, FieldValue] = {
        "n": result.n,
        "verdict": result.verdict,
        "reversal_start_reached": result.reversal_start_reached,
        "alpha": result.alpha,
        "autocorrelation": result.autocorrelation,
        "variance_factor": result.variance_factor,
        "below_loq": result.below_loq,
        "reversal_start": result.reversal_start,
    }
    optional: dict[str, float | None] = {
        "tau": result.tau,
        "s": None if result.s is None else float(result.s),
        "z": result.z,
        "p": result.p,
        "slope_per_year": result.slope_per_year,
        "first_s": result.first_s,
        "last_s": result.last_s,
    }
    fields.update({key: float(value) for key, value in optional.items() if value is not None})
    if result.reason:
        fields["reason"] = result.reason
    time_ns = now_ns if result.last_s is None else round(result.last_s * _NS)
    tags = {
        "probe": probe.probe_id,
        "site": probe.site,
        "municipality": probe.municipality,
        "quantity": "nitrate",
    }
    return Point(TREND, tags, fields, time_ns)


def _latest_trend_alert(store: InfluxClient, probe: Probe) -> tuple[Alert, int] | None:
    rows = store.query_rows(
        f'SELECT * FROM "{ALERT}" WHERE "probe" = \'{probe.probe_id}\' '  # noqa: S608
        "AND \"kind\" = 'trend' ORDER BY time DESC LIMIT 1"
    )
    if not rows:
        return None
    return alert_from_row(rows[0]), int(rows[0]["time"])


def _trend_message(probe: Probe, result: MannKendallResult) -> str:
    assert result.slope_per_year is not None and result.p is not None
    start = result.reversal_start
    if abs(start - REVERSAL_START_MAX_MG_L) < 1e-9:
        named = (
            f"The start of trend reversal, {start:g} mg/L (75 % of the GrwV threshold value "
            f"of {DEFAULT_NITRATE_BREACH_MG_L:g} mg/L),"
        )
    else:
        named = (
            f"The start of trend reversal set for this probe, {start:g} mg/L (the GrwV's is "
            f"at most 75 % of {DEFAULT_NITRATE_BREACH_MG_L:g} mg/L, "
            f"{REVERSAL_START_MAX_MG_L:g} mg/L),"
        )
    return (
        f"Significant rising nitrate trend at {probe.probe_id} ({probe.site}, "
        f"{probe.municipality}): Sen's slope {result.slope_per_year:+.2f} mg/L per year, "
        f"Mann-Kendall p = {result.p:.3g} < {result.alpha:g} (n = {result.n}, GrwV Anlage 6"
        f"{', Hamed-Rao corrected' if result.autocorrelation == 'hamed_rao' else ''}). "
        + (
            f"{named} has been reached."
            if result.reversal_start_reached
            else f"{named} has not been reached yet."
        )
    )


def _update_trend_alert(
    store: InfluxClient, probe: Probe, result: MannKendallResult
) -> tuple[Alert | None, Literal["opened", "updated", "resolved"] | None]:
    latest = _latest_trend_alert(store, probe)
    if result.verdict == "insufficient" or result.last_s is None:
        return None, None
    last_ns = round(result.last_s * _NS)
    existing, existing_ns = latest if latest is not None else (None, 0)
    active = existing is not None and existing.state != AlertState.RESOLVED
    point_ns = max(last_ns, existing_ns + 1_000)
    if result.verdict == "rising":
        message = _trend_message(probe, result)
        if existing is not None and active:
            if existing.value == result.slope_per_year and existing.message == message:
                return existing, None
            updated = existing.with_changes(
                value=result.slope_per_year, message=message, updated_at=to_datetime(point_ns)
            )
            store.write_points([alert_point(updated, point_ns)])
            return updated, "updated"
        alert = Alert(
            alert_id=alert_id(probe.probe_id, AlertKind.TREND.value, last_ns),
            probe=probe.probe_id,
            site=probe.site,
            municipality=probe.municipality,
            kind=AlertKind.TREND,
            severity=SEVERITY[AlertKind.TREND],
            state=AlertState.OPEN,
            opened_at=to_datetime(last_ns),
            updated_at=to_datetime(point_ns),
            value=result.slope_per_year,
            threshold=0.0,
            unit="mg/L/a",
            message=message,
            quantity="nitrate",
        )
        store.write_points([alert_point(alert, point_ns)])
        return alert, "opened"
    if existing is not None and active:
        resolved = existing.with_changes(
            state=AlertState.RESOLVED,
            resolved_at=to_datetime(last_ns),
            updated_at=to_datetime(point_ns),
            message=existing.message
            + f" Resolved: the test of {to_datetime(last_ns):%Y-%m-%d} shows {result.verdict}"
            f" (p = {result.p:.3g}).",
        )
        store.write_points([alert_point(resolved, point_ns)])
        return resolved, "resolved"
    return None, None


def run_trend(
    store: InfluxClient,
    probes: Iterable[Probe],
    settings: TrendSettings,
    *,
    since: datetime | None = None,
    now: datetime | None = None,
    detectors: DetectorRegistry | None = None,
) -> list[TrendReport]:
    """Test each probe's nitrate series; store `trend` points and update trend alerts."""
    since_ns = None if since is None else to_ns(since)
    now_ns = to_ns(now or datetime.now(tz=UTC))
    bad = _bad_flags(detectors or default_detectors())
    reports: list[TrendReport] = []
    for probe in probes:
        series = _load_series(store, probe, since_ns)
        flagged = _load_flagged(store, probe, since_ns, bad) if settings.exclude_flagged else set()
        clean = [sample for sample in series if sample[0] not in flagged]
        samples = select_samples(clean, settings.sample_interval_s)
        result = mann_kendall(
            [t / _NS for t, _, _ in samples],
            [v for _, v, _ in samples],
            alpha=settings.alpha,
            autocorrelation=settings.autocorrelation,
            loq=probe.nitrate_loq_mg_l,
            censored=[c for _, _, c in samples],
            # A probe's warning may lie above the GrwV's start of trend reversal; the
            # start is never later than 37.5 mg/L (mann_kendall caps it as well).
            reversal_start=min(
                settings.reversal_start_mg_l or probe.nitrate_warning_mg_l,
                REVERSAL_START_MAX_MG_L,
            ),
            min_values=settings.min_values,
            min_span_days=settings.min_span_days,
        )
        store.write_points([trend_point(probe, result, now_ns)])
        alert: Alert | None = None
        action: Literal["opened", "updated", "resolved"] | None = None
        if settings.open_alerts:
            alert, action = _update_trend_alert(store, probe, result)
        logger.info(
            "trend %s: n=%d verdict=%s p=%s slope=%s alert=%s",
            probe.probe_id,
            result.n,
            result.verdict,
            result.p,
            result.slope_per_year,
            action,
        )
        reports.append(
            TrendReport(
                probe=probe,
                result=result,
                used_values=len(samples),
                flagged_excluded=len(series) - len(clean),
                alert=alert,
                alert_action=action,
            )
        )
    return reports
