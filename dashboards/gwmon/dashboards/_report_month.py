"""The monthly report per Stabsstelle (municipality): what Grafana OSS cannot do.

A self-contained HTML file (inline CSS, charts as inline PNG rendered with matplotlib's
Agg backend) with, per probe: min/mean/max nitrate, hours above the breach
threshold, the month's alerts and the latest trend verdict. Values flagged by quality
control are left out of the statistics (and counted), because a stuck or spiking
sensor says nothing about the groundwater.

Exceedance hours: each valid reading stands for the time until the next reading, at
most the probe's expected interval and never past the month's end; the hours of readings
above the probe's breach threshold (50 mg/L by default; strictly above, the same rule as
the breach alert: a Schwellenwert is exceeded by a value above it) are summed. A gap in
the data therefore never counts as exceedance.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from gwmon.dashboards._common import Texts
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.ingest import DEFAULT_NITRATE_BREACH_MG_L, DEFAULT_NITRATE_WARNING_MG_L, Probe, Registry
from gwmon.storage import InfluxClient

logger = logging.getLogger("gwmon.dashboards.report")

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


class ReportError(ValueError):
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

    def influx_range(self) -> str:
        return f"time >= {int(self.start_s * _NS)} AND time < {int(self.end_s * _NS)}"


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


@dataclass
class MonthlyReport:
    municipality: str
    period: Period
    probes: list[ProbeMonth]
    alerts: list[AlertRow]


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
    params = {"municipality": municipality}
    where = f'"municipality" = $municipality AND {period.influx_range()}'
    flagged: dict[str, set[int]] = defaultdict(set)
    for row in client.query_rows(
        f'SELECT "value" FROM "qc" WHERE "quantity" = \'nitrate\' AND {where} GROUP BY "probe"',  # noqa: S608 - bound parameter
        params=params,
    ):
        flagged[row["probe"]].add(int(row["time"]))
    for row in client.query_rows(
        f'SELECT "value", "censored" FROM "reading" WHERE "quantity" = \'nitrate\' AND {where} '  # noqa: S608 - bound parameter
        'GROUP BY "probe"',
        params=params,
    ):
        entry = months.get(row["probe"])
        if entry is None:
            continue
        time_s = int(row["time"]) / _NS
        if int(row["time"]) in flagged[row["probe"]]:
            entry.flagged.append((time_s, float(row["value"])))
        else:
            entry.add(time_s, float(row["value"]), censored=row.get("censored") is True)
    for row in client.query_rows(
        'SELECT last("verdict") AS "verdict", last("slope_per_year") AS "slope_per_year", '  # noqa: S608 - bound parameter
        'last("p") AS "p", last("n") AS "n" FROM "trend" WHERE "quantity" = \'nitrate\' '
        f'AND "municipality" = $municipality AND time < {int(period.end_s * _NS)} '
        'GROUP BY "probe"',
        params=params,
    ):
        if row["probe"] in months:
            months[row["probe"]].trend = row
    latest: dict[str, dict[str, object]] = {}
    for row in client.query_rows(
        f'SELECT * FROM "alert" WHERE {where}',  # noqa: S608 - bound parameter
        params=params,
    ):
        alert_id = str(row.get("alert_id"))
        if alert_id not in latest or int(row["time"]) >= int(str(latest[alert_id]["time"])):
            latest[alert_id] = row
    alerts = [
        AlertRow(
            alert_id=alert_id,
            probe=str(row.get("probe")),
            kind=str(row.get("kind")),
            severity=str(row.get("severity")),
            state=str(row.get("state")),
            opened_at_s=_float(row.get("opened_at_s")),
            resolved_at_s=_float(row.get("resolved_at_s")),
            value=_float(row.get("value")),
            threshold=_float(row.get("threshold")),
            unit=str(row.get("unit") or ""),
            message=str(row.get("message") or ""),
        )
        for alert_id, row in latest.items()
    ]
    alerts.sort(key=lambda alert: (alert.opened_at_s or 0.0, alert.probe, alert.kind))
    return MonthlyReport(municipality, period, list(months.values()), alerts)


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# -- rendering ----------------------------------------------------------------------------
_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:2em;color:#1d1d1b;max-width:60em}
h1{font-size:1.5em;border-bottom:3px solid #005ca9;padding-bottom:.3em}
h2{font-size:1.2em;margin-top:1.6em;color:#005ca9}
table{border-collapse:collapse;width:100%;margin:.5em 0 1em}
th,td{border:1px solid #c8c8c8;padding:.3em .5em;text-align:left;font-size:.92em}
th{background:#eef3f8}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.breach{background:#f8d7da}.warning{background:#fff3cd}.ok{background:#d4edda}
.muted{color:#6c6c6c;font-size:.85em}
img{max-width:100%;height:auto;border:1px solid #e0e0e0;margin:.3em 0}
@media print{body{margin:0}h2{page-break-after:avoid}img{page-break-inside:avoid}}
"""


def _num(value: float | None, decimals: int, t: Texts) -> str:
    if value is None:
        return "–"
    text = f"{value:,.{decimals}f}"
    if t.language == "de":
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return text


def _stat(value: float | None, below_loq: bool, decimals: int, t: Texts) -> str:
    """A statistic, or "< 0,5" when it is a limit of quantification, not a number."""
    text = _num(value, decimals, t)
    return f"< {text}" if below_loq and value is not None else text


def _time(value: float | None, zone: ZoneInfo) -> str:
    if value is None:
        return "–"
    return datetime.fromtimestamp(value, tz=UTC).astimezone(zone).strftime("%d.%m.%Y %H:%M")


def _date_num(seconds: float) -> float:
    # matplotlib's date axis counts days since 1970-01-01 UTC.
    return seconds / 86400.0


def _chart(entry: ProbeMonth, period: Period, t: Texts) -> str:
    zone = ZoneInfo(period.timezone)
    fig, ax = plt.subplots(figsize=(8, 2.9), dpi=100)
    try:
        if entry.values:
            times = [_date_num(s) for s in entry.times_s]
            limits = entry.limits if len(entry.limits) == len(entry.values) else []
            # Measured values as the line (broken where a value was below the LOQ) ...
            measured = [
                v if not limits or limits[i] is None else math.nan
                for i, v in enumerate(entry.values)
            ]
            ax.plot(times, measured, color="#005ca9", linewidth=1.2, label=t("Nitrat", "Nitrate"))
            below = [(x, limit) for x, limit in zip(times, limits, strict=False) if limit]
            if below:  # ... and "< LOQ" as markers at the limit
                ax.plot(
                    [x for x, _ in below],
                    [limit for _, limit in below],
                    "v",
                    markersize=3,
                    color="#6c6c6c",
                    label=t("< BG (unter Bestimmungsgrenze)", "< LOQ (below quantification)"),
                )
        if entry.flagged:
            ax.plot(
                [_date_num(s) for s, _ in entry.flagged],
                [v for _, v in entry.flagged],
                "x",
                color="purple",
                label=t("QC-markiert (nicht gewertet)", "QC flagged (not counted)"),
            )
        probe = entry.probe
        warning, breach = probe.nitrate_warning_mg_l, probe.nitrate_breach_mg_l
        # The legal values by name, a probe's own registry thresholds as the probe's.
        ax.axhline(
            warning,
            color="orange",
            linestyle="--",
            linewidth=1,
            label=t(f"Trendumkehr {_num(warning, 1, t)}", f"Trend reversal {warning:g}")
            if warning == DEFAULT_NITRATE_WARNING_MG_L
            else t(f"Warnschwelle {_num(warning, 1, t)}", f"Warning threshold {warning:g}"),
        )
        ax.axhline(
            breach,
            color="red",
            linestyle="--",
            linewidth=1,
            label=t(f"Schwellenwert {_num(breach, 1, t)}", f"Threshold value {breach:g}")
            if breach == DEFAULT_NITRATE_BREACH_MG_L
            else t(f"Alarmschwelle {_num(breach, 1, t)}", f"Alarm threshold {breach:g}"),
        )
        ax.set_xlim(_date_num(period.start_s), _date_num(period.end_s))
        ax.set_ylabel("mg/L NO₃")
        formatter = mdates.DateFormatter("%d.%m.", tz=zone)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(formatter)
        ax.grid(alpha=0.3)
        fig.legend(loc="lower center", fontsize=7, ncols=4, frameon=False)
        ax.set_title(f"{probe.probe_id} – {probe.site}", fontsize=10)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_KIND_DE = {
    "breach": "Schwellenwert überschritten",
    "warning": "Warnung Nitrat",
    "level_low": "Wasserstand zu niedrig",
    "level_high": "Wasserstand zu hoch",
    "sensor_fault": "Sensorstörung",
    "stale": "keine Daten",
    "trend": "steigender Trend",
}
_STATE_DE = {"open": "offen", "acknowledged": "quittiert", "resolved": "behoben"}
_VERDICT_DE = {
    "rising": "steigend",
    "falling": "fallend",
    "no_trend": "kein Trend",
    "insufficient": "zu wenige Werte",
}


def render_html(report: MonthlyReport, settings: DashboardsSettings, *, charts: bool = True) -> str:
    t = Texts(settings.language)
    zone = ZoneInfo(report.period.timezone)
    esc = html.escape

    def word(table: dict[str, str], key: str) -> str:
        return table.get(key, key) if t.language == "de" else key

    title = t(
        f"Monatsbericht Grundwasser – {report.municipality} – {report.period.label(t)}",
        f"Monthly groundwater report – {report.municipality} – {report.period.label(t)}",
    )
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{t.language}"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        '<p class="muted">'
        + esc(
            t(
                f"Zeitraum {_time(report.period.start_s, zone)} bis "
                f"{_time(report.period.end_s, zone)} ({report.period.timezone}). "
                "Nitrat als mg/L NO₃. Schwellenwert nach GrwV Anlage 2: 50 mg/L; "
                "Ausgangspunkt der Trendumkehr: höchstens 75 % davon, 37,5 mg/L. "
                "Abweichende Alarm- und Warnschwellen einzelner Messstellen stammen aus "
                "dem Messstellenregister; die Stunden über Schwellenwert zählen Werte über "
                "der Alarmschwelle der Messstelle. „< 0,5“: unter der Bestimmungsgrenze "
                "(BG), als solcher gemeldet oder unter der BG des Messstellenregisters; im "
                "Mittel zählt ein solcher Wert mit der halben BG. Von der "
                "Qualitätskontrolle markierte Werte sind nicht gewertet.",
                f"Period {_time(report.period.start_s, zone)} to "
                f"{_time(report.period.end_s, zone)} ({report.period.timezone}). "
                "Nitrate as mg/L NO₃. Threshold value per GrwV Annex 2: 50 mg/L; start of "
                "trend reversal: at most 75 % of it, 37.5 mg/L. Other alarm and warning "
                "thresholds of single probes come from the probe registry; hours above "
                'threshold count values above the probe\'s alarm threshold. "< 0.5": below '
                "the limit of quantification (LOQ), reported as such or below the LOQ of the "
                "probe registry; the mean counts such a value as half the LOQ. Values "
                "flagged by quality control are not counted.",
            )
        )
        + "</p>",
        f"<h2>{esc(t('Nitrat je Messstelle', 'Nitrate per probe'))}</h2>",
        "<table><tr>"
        + "".join(
            f"<th>{esc(h)}</th>"
            for h in (
                t("Messstelle", "Probe"),
                t("Standort", "Site"),
                t("Werte", "Values"),
                t("QC-markiert", "QC flagged"),
                "Min",
                t("Mittel", "Mean"),
                "Max",
                t("Stunden über Schwellenwert", "Hours above threshold"),
                t("Trend (GrwV Anl. 6)", "Trend (GrwV Annex 6)"),
                t("Sen-Steigung mg/L pro Jahr", "Sen's slope mg/L per year"),
            )
        )
        + "</tr>",
    ]
    for entry in report.probes:
        hours = entry.exceedance(report.period)
        maximum = entry.maximum
        css = ""
        if maximum is not None and not entry.maximum_below_loq:
            if maximum > entry.probe.nitrate_breach_mg_l:
                css = "breach"
            elif maximum > entry.probe.nitrate_warning_mg_l:
                css = "warning"
            else:
                css = "ok"
        below = entry.below_loq_count
        count = f"{entry.count}" + (f" ({below} {t('< BG', '< LOQ')})" if below else "")
        # All values below the LOQ: the mean is only known to be below the largest limit.
        mean = _stat(maximum, True, 1, t) if entry.mean_below_loq else _num(entry.mean, 1, t)
        trend = entry.trend or {}
        verdict = str(trend.get("verdict", "")) if trend else ""
        slope = _float(trend.get("slope_per_year")) if trend else None
        parts.append(
            f'<tr class="{css}"><td>{esc(entry.probe.probe_id)}</td>'
            f"<td>{esc(entry.probe.site)}</td>"
            f'<td class="num">{esc(count)}</td><td class="num">{len(entry.flagged)}</td>'
            f'<td class="num">{esc(_stat(entry.minimum, entry.minimum_below_loq, 1, t))}</td>'
            f'<td class="num">{esc(mean)}</td>'
            f'<td class="num">{esc(_stat(maximum, entry.maximum_below_loq, 1, t))}</td>'
            f'<td class="num">{_num(hours, 1, t)}</td>'
            f"<td>{esc(word(_VERDICT_DE, verdict) if verdict else '–')}</td>"
            f'<td class="num">{_num(slope, 2, t)}</td></tr>'
        )
    parts.append("</table>")
    parts.append(f"<h2>{esc(t('Alarme des Monats', 'Alerts of the month'))}</h2>")
    if report.alerts:
        parts.append(
            "<table><tr>"
            + "".join(
                f"<th>{esc(h)}</th>"
                for h in (
                    t("Messstelle", "Probe"),
                    t("Art", "Kind"),
                    t("Status", "State"),
                    t("ausgelöst", "opened"),
                    t("behoben", "resolved"),
                    t("Wert", "Value"),
                    t("Schwelle", "Threshold"),
                )
            )
            + "</tr>"
        )
        for alert in report.alerts:
            css = "breach" if alert.kind == "breach" else ""
            parts.append(
                f'<tr class="{css}"><td>{esc(alert.probe)}</td>'
                f"<td>{esc(word(_KIND_DE, alert.kind))}</td>"
                f"<td>{esc(word(_STATE_DE, alert.state))}</td>"
                f"<td>{_time(alert.opened_at_s, zone)}</td>"
                f"<td>{_time(alert.resolved_at_s, zone)}</td>"
                f'<td class="num">{_num(alert.value, 2, t)} {esc(alert.unit)}</td>'
                f'<td class="num">{_num(alert.threshold, 2, t)} {esc(alert.unit)}</td></tr>'
            )
        parts.append("</table>")
    else:
        parts.append(f"<p>{esc(t('Keine Alarme in diesem Monat.', 'No alerts this month.'))}</p>")
    if charts:
        parts.append(f"<h2>{esc(t('Verläufe', 'Charts'))}</h2>")
        for entry in report.probes:
            alt = t(f"Nitratverlauf {entry.probe.probe_id}", f"Nitrate at {entry.probe.probe_id}")
            png = _chart(entry, report.period, t)
            parts.append(f'<img alt="{esc(alt)}" src="data:image/png;base64,{png}">')
    parts.append(
        '<p class="muted">'
        + esc(t("Erstellt von gwmon aus InfluxDB.", "Made by gwmon from InfluxDB."))
        + "</p></body></html>"
    )
    return "\n".join(parts) + "\n"


def slug(text: str) -> str:
    table = str.maketrans(
        {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"}
    )
    return re.sub(r"[^A-Za-z0-9]+", "-", text.translate(table)).strip("-").lower()


def write_reports(
    client: InfluxClient,
    registry: Registry,
    settings: DashboardsSettings,
    *,
    month: str,
    municipalities: Sequence[str],
    out_dir: Path,
) -> list[Path]:
    """One HTML file per municipality (all of the registry when none are given)."""
    period = Period.parse(month, settings.timezone)
    names = list(municipalities) or sorted(registry.municipalities())
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        report = collect(client, registry, name, period)
        target = out_dir / f"gwmon-monatsbericht-{month}-{slug(name)}.html"
        target.write_text(render_html(report, settings), encoding="utf-8")
        logger.info("wrote monthly report %s", target)
        written.append(target)
    return written
