"""The monthly report's figures: one municipality's month read from InfluxDB.

Per probe: min/mean/max nitrate, hours above the breach threshold, the month's alerts,
the latest trend verdict, the approval levels of the values and the groundwater-level
table (`_report_levels`). Values are those of the corrected series (raw where nothing is
corrected; docs/data-management.md). Values flagged by quality control are left out of
the statistics (and counted), because a stuck or spiking sensor says nothing about the
groundwater; values a correction deleted are left out too.

Exceedance hours: each valid reading stands for the time until the next reading, at
most the probe's expected interval and never past the month's end; the hours of readings
above the probe's breach threshold (the Schwellenwert by default; strictly above, the same
rule as the breach alert: a Schwellenwert is exceeded by a value above it) are summed. A gap in
the data therefore never counts as exceedance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from gwmon.config import GwmonError
from gwmon.dashboards._common import Texts
from gwmon.dashboards._report_levels import LevelMonth, read_level_months
from gwmon.ingest import Probe, Registry
from gwmon.storage import ALERT, TREND, InfluxClient
from gwmon.storage import influxql as q
from gwmon.storage import series as stored

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_MONTHS_DE = (
    "Januar", "Februar", "März", "April", "Mai", "Juni",
    "Juli", "August", "September", "Oktober", "November", "Dezember",
)  # fmt: skip
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_NS = 1_000_000_000
_TREND_COLUMNS = ("verdict", "slope_per_year", "p", "n", "approval_levels")
NITRATE = "nitrate"


class ReportError(GwmonError, ValueError):
    """The report cannot be made (bad month, unknown municipality); says how to fix it."""


@dataclass(frozen=True, slots=True)
class Period:
    year: int
    month: int
    start_s: float
    end_s: float
    timezone: str

    @classmethod
    def parse(cls, text: str, timezone: str) -> Period:
        match = _MONTH.match(text)
        if not match or not 1 <= int(match.group(2)) <= 12:
            msg = f"month {text!r} is not YYYY-MM (e.g. 2026-10)"
            raise ReportError(msg)
        year, month = int(match.group(1)), int(match.group(2))
        zone = ZoneInfo(timezone)
        start = datetime(year, month, 1, tzinfo=zone)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
        return cls(year, month, start.timestamp(), end.timestamp(), timezone)

    def label(self, t: Texts) -> str:
        names = _MONTHS_DE if t.language == "de" else _MONTHS_EN
        return f"{names[self.month - 1]} {self.year}"

    @property
    def end_ns(self) -> int:
        return int(self.end_s * _NS)

    def conditions(self) -> tuple[q.Condition, q.Condition]:
        """`time >= start AND time < end` (nanoseconds) for the builder."""
        return q.time_ge(int(self.start_s * _NS)), q.time_lt(self.end_ns)


def exceedance_hours(
    times_s: Sequence[float],
    values: Sequence[float],
    threshold: float,
    *,
    max_hold_s: float,
    end_s: float,
) -> float:
    """Hours during which the (step-held) series was above threshold; see module docstring.
    `times_s` must be sorted ascending."""
    if len(times_s) != len(values):
        msg = "times and values differ in length"
        raise ValueError(msg)
    total = 0.0
    for index, (time_s, value) in enumerate(zip(times_s, values, strict=True)):
        following = times_s[index + 1] if index + 1 < len(times_s) else end_s
        hold = max(0.0, min(following, end_s, time_s + max_hold_s) - time_s)
        if value > threshold:
            total += hold
    return total / 3600


@dataclass
class ProbeMonth:
    """One probe's counted (not QC-flagged) values of the month. `limits[i]` is not None
    when value i is below the limit of quantification: a laboratory's "< 0.5" (stored
    with censored = true; the limit is the stored value) or a number below the
    registry's nitrate_loq_mg_l (the limit is that LOQ). Such values are shown as
    "< limit" and count as half the limit in the mean (GrwV Anlage 6's rule)."""

    probe: Probe
    times_s: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    flagged: list[tuple[float, float]] = field(default_factory=list)
    trend: dict[str, object] | None = None
    limits: list[float | None] = field(default_factory=list)
    approval_levels: list[str] = field(default_factory=list)  # of each counted value
    deleted: int = 0  # values a correction removed from the corrected series

    @property
    def levels_used(self) -> list[str]:
        """The approval levels of the counted values, best first."""
        return stored.best_first(self.approval_levels)

    def add(self, time_s: float, value: float, *, censored: bool = False) -> None:
        loq = self.probe.nitrate_loq_mg_l
        limit = value if censored else loq if loq is not None and value < loq else None
        self.times_s.append(time_s)
        self.values.append(value)
        self.limits.append(None if limit is None else max(limit, loq or 0.0))

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def below_loq_count(self) -> int:
        return sum(1 for limit in self._limits() if limit is not None)

    def _limits(self) -> list[float | None]:
        return self.limits if len(self.limits) == len(self.values) else [None] * len(self.values)

    def _quantified(self) -> list[float]:
        return [v for v, limit in zip(self.values, self._limits(), strict=True) if limit is None]

    def _bounds(self) -> list[float]:
        return [limit for limit in self._limits() if limit is not None]

    @property
    def minimum(self) -> float | None:
        """The smallest value; a limit ("< 0.5") when a value was below it."""
        bounds = self._bounds()
        if bounds:
            return min(bounds)
        return min(self.values) if self.values else None

    @property
    def minimum_below_loq(self) -> bool:
        return bool(self._bounds())

    @property
    def maximum(self) -> float | None:
        """The largest measured value; the largest limit when all were below it."""
        quantified = self._quantified()
        if quantified:
            return max(quantified)
        bounds = self._bounds()
        return max(bounds) if bounds else None

    @property
    def maximum_below_loq(self) -> bool:
        return bool(self.values) and not self._quantified()

    def substituted(self) -> list[float]:
        """Values with those below the LOQ as half of it (GrwV Anlage 6)."""
        return [
            v if limit is None else limit / 2
            for v, limit in zip(self.values, self._limits(), strict=True)
        ]

    @property
    def mean(self) -> float | None:
        values = self.substituted()
        return sum(values) / len(values) if values else None

    @property
    def mean_below_loq(self) -> bool:
        """All values below the LOQ: the mean is only known to be below it."""
        return self.maximum_below_loq

    def exceedance(self, period: Period) -> float:
        return exceedance_hours(
            self.times_s,
            self.substituted(),
            self.probe.nitrate_breach_mg_l,
            max_hold_s=self.probe.expected_interval_s,
            end_s=period.end_s,
        )


@dataclass
class AlertRow:
    alert_id: str
    probe: str
    kind: str
    severity: str
    state: str
    opened_at_s: float | None
    resolved_at_s: float | None
    value: float | None
    threshold: float | None
    unit: str
    message: str

    @classmethod
    def from_row(cls, alert_id: str, row: dict[str, object]) -> AlertRow:
        """An alert from its latest stored point (measurement `alert`)."""
        return cls(
            alert_id=alert_id,
            probe=str(row.get("probe")),
            kind=str(row.get("kind")),
            severity=str(row.get("severity")),
            state=str(row.get("state")),
            opened_at_s=number_or_none(row.get("opened_at_s")),
            resolved_at_s=number_or_none(row.get("resolved_at_s")),
            value=number_or_none(row.get("value")),
            threshold=number_or_none(row.get("threshold")),
            unit=str(row.get("unit") or ""),
            message=str(row.get("message") or ""),
        )


@dataclass
class MonthlyReport:
    municipality: str
    period: Period
    probes: list[ProbeMonth]
    alerts: list[AlertRow]
    levels: list[LevelMonth] = field(default_factory=list)


def _read_values(client: InfluxClient, months: dict[str, ProbeMonth], period: Period) -> None:
    """The month's nitrate values into `months`: the corrected series (raw where nothing
    is corrected), QC-flagged ones set apart, values a correction deleted left out."""
    start_ns, end_ns = int(period.start_s * _NS), period.end_ns
    for probe_id, entry in months.items():
        flagged = stored.read_flags(client, probe_id, NITRATE, start_ns=start_ns, end_ns=end_ns)
        approvals = stored.read_approvals(client, probe_id, NITRATE)
        values = stored.read_series(client, probe_id, NITRATE, start_ns=start_ns, end_ns=end_ns)
        for item in values:
            if item.value is None:
                entry.deleted += 1
            elif item.time_ns in flagged:
                entry.flagged.append((item.time_ns / _NS, item.value))
            else:
                entry.add(item.time_ns / _NS, item.value, censored=item.censored)
                entry.approval_levels.append(approvals.level_at(item.time_ns))


def _read_trends(
    client: InfluxClient, months: dict[str, ProbeMonth], municipality: str, period: Period
) -> None:
    """The latest trend test per probe as of the month's end."""
    statement = (
        q.select(TREND, *(q.last(column).as_(column) for column in _TREND_COLUMNS))
        .where(
            q.eq("quantity", "nitrate"),
            q.eq("municipality", municipality),
            q.time_lt(period.end_ns),
        )
        .group_by("probe")
    )
    for row in client.query_rows(statement):
        if row["probe"] in months:
            months[row["probe"]].trend = row


def _read_alerts(client: InfluxClient, municipality: str, period: Period) -> list[AlertRow]:
    """Every alert with a change in the month, in its last state of the month."""
    statement = q.select(ALERT, q.STAR).where(
        q.eq("municipality", municipality), *period.conditions()
    )
    latest: dict[str, dict[str, object]] = {}
    for row in client.query_rows(statement):
        alert_id = str(row.get("alert_id"))
        if alert_id not in latest or int(row["time"]) >= int(str(latest[alert_id]["time"])):
            latest[alert_id] = row
    alerts = [AlertRow.from_row(alert_id, row) for alert_id, row in latest.items()]
    alerts.sort(key=lambda alert: (alert.opened_at_s or 0.0, alert.probe, alert.kind))
    return alerts


def collect(
    client: InfluxClient, registry: Registry, municipality: str, period: Period
) -> MonthlyReport:
    """Read the month from InfluxDB (storage contract only)."""
    probes = sorted(
        (probe for probe in registry if probe.municipality == municipality),
        key=lambda probe: probe.probe_id,
    )
    if not probes:
        known = ", ".join(sorted(registry.municipalities()))
        msg = f"municipality {municipality!r} has no probes in the registry (known: {known})"
        raise ReportError(msg)
    months = {probe.probe_id: ProbeMonth(probe) for probe in probes}
    _read_values(client, months, period)
    _read_trends(client, months, municipality, period)
    alerts = _read_alerts(client, municipality, period)
    levels = read_level_months(client, probes, int(period.start_s * _NS), period.end_ns)
    return MonthlyReport(municipality, period, list(months.values()), alerts, levels)


def number_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
