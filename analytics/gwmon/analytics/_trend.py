"""`gwmon trend`: the GrwV Anlage 6 trend test over the nitrate series in InfluxDB.

`run_trend` reads each probe's nitrate readings (leaving out those quality control
flagged bad), takes single values per sample interval, runs `mann_kendall`, stores the
result in `trend` and opens, updates or resolves the probe's `trend` alert through the
alert book (docs/trend.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from gwmon.analytics._book import StoredAlertBook
from gwmon.analytics._codec import to_ns
from gwmon.analytics._delivery import write_points
from gwmon.analytics._detectors import DetectorRegistry, default_detectors
from gwmon.analytics._engine import DERIVED_FLAG
from gwmon.analytics._lifecycle import TrendAction, TrendOutcome
from gwmon.analytics._mann_kendall import MannKendallResult, mann_kendall
from gwmon.analytics._model import Alert
from gwmon.analytics._settings import TrendSettings
from gwmon.ingest import TREND_REVERSAL_START_MG_L, Probe
from gwmon.storage import QC, READING, TREND, FieldValue, InfluxClient, Point, StoreWriter
from gwmon.storage import influxql as q

logger = logging.getLogger("gwmon.analytics.trend")

_NS = 1_000_000_000
TREND_WRITER = "gwmon-trend"  # names `gwmon trend` in `rejected` should InfluxDB refuse


@dataclass(frozen=True, slots=True)
class TrendReport:
    """One probe's trend run: the series used, the result, what happened to its alert."""

    probe: Probe
    result: MannKendallResult
    used_values: int
    flagged_excluded: int
    alert: Alert | None
    alert_action: TrendAction | None


def _bad_flags(detectors: DetectorRegistry) -> set[str]:
    bad = {detector.flag for detector in detectors if detector.level == "bad"}
    return bad | {DERIVED_FLAG}


Sample = tuple[int, float, bool]  # time (ns), value, censored ("< value", below the LOQ)


def _nitrate_of(probe: Probe, since_ns: int | None) -> tuple[q.Condition, ...]:
    conditions = (q.eq("probe", probe.probe_id), q.eq("quantity", "nitrate"))
    return conditions if since_ns is None else (*conditions, q.time_ge(since_ns))


def _load_series(store: InfluxClient, probe: Probe, since_ns: int | None) -> list[Sample]:
    statement = q.select(READING, "value", "censored").where(*_nitrate_of(probe, since_ns))
    return [
        (int(row["time"]), float(row["value"]), row.get("censored") is True)
        for row in store.query_rows(statement)
        if isinstance(row.get("value"), int | float)
    ]


def _load_flagged(
    store: InfluxClient, probe: Probe, since_ns: int | None, bad: set[str]
) -> set[int]:
    # A flag withdrawn by marking ([analytics] qc_withdrawal = "mark") no longer counts.
    statement = q.select(QC, "value", "flag", "withdrawn").where(*_nitrate_of(probe, since_ns))
    return {
        int(row["time"])
        for row in store.query_rows(statement)
        if row.get("flag") in bad and row.get("withdrawn") is not True
    }


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
    """The `trend` point of a result, at the time of its last value (else `now_ns`)."""
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
    return TREND.point(tags, fields, time_ns)


def _test(
    store: InfluxClient, probe: Probe, settings: TrendSettings, since_ns: int | None, bad: set[str]
) -> tuple[MannKendallResult, int, int]:
    """The probe's result, the number of values used and of flagged readings left out."""
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
            TREND_REVERSAL_START_MG_L,
        ),
        min_values=settings.min_values,
        min_span_days=settings.min_span_days,
    )
    return result, len(samples), len(series) - len(clean)


def run_trend(
    store: InfluxClient,
    probes: Iterable[Probe],
    settings: TrendSettings,
    *,
    since: datetime | None = None,
    now: datetime | None = None,
    detectors: DetectorRegistry | None = None,
) -> list[TrendReport]:
    """Test each probe's nitrate series; store `trend` points and update trend alerts.
    Raises StoreError when InfluxDB fails or refuses a point."""
    since_ns = None if since is None else to_ns(since)
    now_ns = to_ns(now or datetime.now(tz=UTC))
    bad = _bad_flags(detectors or default_detectors())
    writer = StoreWriter(store, writer=TREND_WRITER, should_stop=lambda: True)
    book = StoredAlertBook(store, writer=TREND_WRITER)
    reports: list[TrendReport] = []
    for probe in probes:
        result, used, excluded = _test(store, probe, settings, since_ns, bad)
        write_points(writer, [trend_point(probe, result, now_ns)])
        outcome = (
            book.record_trend(probe, result) if settings.open_alerts else TrendOutcome(None, None)
        )
        logger.info(
            "trend %s: n=%d verdict=%s p=%s slope=%s alert=%s",
            probe.probe_id,
            result.n,
            result.verdict,
            result.p,
            result.slope_per_year,
            outcome.action,
        )
        reports.append(
            TrendReport(
                probe=probe,
                result=result,
                used_values=used,
                flagged_excluded=excluded,
                alert=outcome.alert,
                alert_action=outcome.action,
            )
        )
    return reports
