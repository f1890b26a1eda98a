"""The report as one self-contained HTML page: inline CSS, charts as inline PNG, no
scripts and no external links, so it can be mailed or archived as it is."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gwmon.dashboards._common import KIND_DE, STATE_DE, VERDICT_DE, Texts, legal_nitrate
from gwmon.dashboards._report_chart import nitrate_chart
from gwmon.dashboards._report_levels import LevelMonth
from gwmon.dashboards._report_month import AlertRow, MonthlyReport, ProbeMonth, number_or_none
from gwmon.dashboards._settings import DashboardsSettings

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
esc = html.escape


def _num(value: float | None, decimals: int, t: Texts) -> str:
    return "–" if value is None else t.fixed(value, decimals)


def _stat(value: float | None, below_loq: bool, decimals: int, t: Texts) -> str:
    """A statistic, or "< 0,5" when it is a limit of quantification, not a number."""
    text = _num(value, decimals, t)
    return f"< {text}" if below_loq and value is not None else text


def _time(value: float | None, zone: ZoneInfo) -> str:
    if value is None:
        return "–"
    return datetime.fromtimestamp(value, tz=UTC).astimezone(zone).strftime("%d.%m.%Y %H:%M")


def _word(t: Texts, german: dict[str, str], code: str) -> str:
    """A stored code in German words; English shows the code itself."""
    return german.get(code, code) if t.language == "de" else code


APPROVAL_DE = {"raw": "ungeprüft", "checked": "geprüft", "approved": "freigegeben"}


def _levels_text(levels: Sequence[str], t: Texts) -> str:
    """The approval levels of the values behind a row, best first."""
    return ", ".join(_word(t, APPROVAL_DE, level) for level in levels) or "–"


def _date(value: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(value, tz=UTC).astimezone(zone).strftime("%d.%m.%Y")


def _header_row(headings: Sequence[str]) -> str:
    return "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headings) + "</tr>"


def _definitions(report: MonthlyReport, t: Texts) -> str:
    """What the figures mean: the period, the legal values, the LOQ and QC rules."""
    zone = ZoneInfo(report.period.timezone)
    start, end = _time(report.period.start_s, zone), _time(report.period.end_s, zone)
    legal = legal_nitrate(t)
    text = t(
        f"Zeitraum {start} bis {end} ({report.period.timezone}). Nitrat als mg/L NO₃. "
        f"Schwellenwert nach GrwV Anlage 2: {legal.breach} mg/L; Ausgangspunkt der "
        f"Trendumkehr: höchstens {legal.share} % davon, {legal.warning} mg/L. "
        "Abweichende Alarm- und Warnschwellen einzelner Messstellen stammen aus "
        "dem Messstellenregister; die Stunden über Schwellenwert zählen Werte über "
        "der Alarmschwelle der Messstelle. „< 0,5“: unter der Bestimmungsgrenze "
        "(BG), als solcher gemeldet oder unter der BG des Messstellenregisters; im "
        "Mittel zählt ein solcher Wert mit der halben BG. Von der "
        "Qualitätskontrolle markierte Werte sind nicht gewertet. Gewertet wird die "
        "korrigierte Reihe (Rohwerte, wo nichts korrigiert ist); durch eine Korrektur "
        "gelöschte Werte zählen nicht. Freigabe: ungeprüft, geprüft, freigegeben.",
        f"Period {start} to {end} ({report.period.timezone}). Nitrate as mg/L NO₃. "
        f"Threshold value per GrwV Annex 2: {legal.breach} mg/L; start of trend reversal: "
        f"at most {legal.share} % of it, {legal.warning} mg/L. Other alarm and warning "
        "thresholds of single probes come from the probe registry; hours above "
        'threshold count values above the probe\'s alarm threshold. "< 0.5": below '
        "the limit of quantification (LOQ), reported as such or below the LOQ of the "
        "probe registry; the mean counts such a value as half the LOQ. Values "
        "flagged by quality control are not counted. The corrected series is used (raw "
        "values where nothing is corrected); values a correction deleted do not count. "
        "Approval: raw, checked, approved.",
    )
    return f'<p class="muted">{esc(text)}</p>'


def _row_class(entry: ProbeMonth) -> str:
    """Traffic light of a probe's row from its largest measured value."""
    maximum = entry.maximum
    if maximum is None or entry.maximum_below_loq:
        return ""
    if maximum > entry.probe.nitrate_breach_mg_l:
        return "breach"
    if maximum > entry.probe.nitrate_warning_mg_l:
        return "warning"
    return "ok"


def _probe_row(entry: ProbeMonth, report: MonthlyReport, t: Texts) -> str:
    hours = entry.exceedance(report.period)
    maximum = entry.maximum
    below = entry.below_loq_count
    count = f"{entry.count}" + (f" ({below} {t('< BG', '< LOQ')})" if below else "")
    # All values below the LOQ: the mean is only known to be below the largest limit.
    mean = _stat(maximum, True, 1, t) if entry.mean_below_loq else _num(entry.mean, 1, t)
    trend = entry.trend or {}
    verdict = str(trend.get("verdict", "")) if trend else ""
    slope = number_or_none(trend.get("slope_per_year")) if trend else None
    return (
        f'<tr class="{_row_class(entry)}"><td>{esc(entry.probe.probe_id)}</td>'
        f"<td>{esc(entry.probe.site)}</td>"
        f'<td class="num">{esc(count)}</td><td class="num">{len(entry.flagged)}</td>'
        f'<td class="num">{esc(_stat(entry.minimum, entry.minimum_below_loq, 1, t))}</td>'
        f'<td class="num">{esc(mean)}</td>'
        f'<td class="num">{esc(_stat(maximum, entry.maximum_below_loq, 1, t))}</td>'
        f'<td class="num">{_num(hours, 1, t)}</td>'
        f"<td>{esc(_word(t, VERDICT_DE, verdict) if verdict else '–')}</td>"
        f'<td class="num">{_num(slope, 2, t)}</td>'
        f"<td>{esc(_levels_text(entry.levels_used, t))}</td></tr>"
    )


def _probes_table(report: MonthlyReport, t: Texts) -> list[str]:
    headings = (
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
        t("Freigabe", "Approval"),
    )
    rows = [_probe_row(entry, report, t) for entry in report.probes]
    return [
        f"<h2>{esc(t('Nitrat je Messstelle', 'Nitrate per probe'))}</h2>",
        _header_row(headings),
        *rows,
        "</table>",
    ]


def _level_row(entry: LevelMonth, zone: ZoneInfo, t: Texts) -> str:
    cells = [esc(entry.probe.probe_id), esc(entry.probe.site)]
    numbers = [str(entry.count), _num(entry.mean, 2, t)]
    for extreme in (entry.highest, entry.lowest):
        numbers.append(_num(extreme[0] if extreme else None, 2, t))
        numbers.append(_date(extreme[1], zone) if extreme else "–")
    return (
        "<tr>"
        + "".join(f"<td>{cell}</td>" for cell in cells)
        + "".join(f'<td class="num">{esc(number)}</td>' for number in numbers)
        + f"<td>{esc(_levels_text(entry.approval_levels, t))}</td></tr>"
    )


def _levels_table(report: MonthlyReport, t: Texts) -> list[str]:
    headings = (
        t("Messstelle", "Probe"),
        t("Standort", "Site"),
        t("Werte", "Values"),
        t("Monatsmittel m NHN", "Monthly mean m NHN"),
        t("Höchster m NHN", "Highest m NHN"),
        t("am", "on"),
        t("Niedrigster m NHN", "Lowest m NHN"),
        t("am", "on"),
        t("Freigabe", "Approval"),
    )
    zone = ZoneInfo(report.period.timezone)
    title = f"<h2>{esc(t('Grundwasserstand je Messstelle', 'Groundwater level per well'))}</h2>"
    measured = [entry for entry in report.levels if entry.count]
    if not measured:
        none = t("Keine Grundwasserstände in diesem Monat.", "No groundwater levels this month.")
        return [title, f"<p>{esc(none)}</p>"]
    rows = [_level_row(entry, zone, t) for entry in measured]
    return [title, _header_row(headings), *rows, "</table>"]


def _alert_row(alert: AlertRow, zone: ZoneInfo, t: Texts) -> str:
    css = "breach" if alert.kind == "breach" else ""
    return (
        f'<tr class="{css}"><td>{esc(alert.probe)}</td>'
        f"<td>{esc(_word(t, KIND_DE, alert.kind))}</td>"
        f"<td>{esc(_word(t, STATE_DE, alert.state))}</td>"
        f"<td>{_time(alert.opened_at_s, zone)}</td>"
        f"<td>{_time(alert.resolved_at_s, zone)}</td>"
        f'<td class="num">{_num(alert.value, 2, t)} {esc(alert.unit)}</td>'
        f'<td class="num">{_num(alert.threshold, 2, t)} {esc(alert.unit)}</td></tr>'
    )


def _alerts_table(report: MonthlyReport, t: Texts) -> list[str]:
    parts = [f"<h2>{esc(t('Alarme des Monats', 'Alerts of the month'))}</h2>"]
    if not report.alerts:
        no_alerts = t("Keine Alarme in diesem Monat.", "No alerts this month.")
        return [*parts, f"<p>{esc(no_alerts)}</p>"]
    headings = (
        t("Messstelle", "Probe"),
        t("Art", "Kind"),
        t("Status", "State"),
        t("ausgelöst", "opened"),
        t("behoben", "resolved"),
        t("Wert", "Value"),
        t("Schwelle", "Threshold"),
    )
    zone = ZoneInfo(report.period.timezone)
    rows = [_alert_row(alert, zone, t) for alert in report.alerts]
    return [*parts, _header_row(headings), *rows, "</table>"]


def _charts(report: MonthlyReport, t: Texts) -> list[str]:
    parts = [f"<h2>{esc(t('Verläufe', 'Charts'))}</h2>"]
    for entry in report.probes:
        alt = t(f"Nitratverlauf {entry.probe.probe_id}", f"Nitrate at {entry.probe.probe_id}")
        png = nitrate_chart(entry, report.period, t)
        parts.append(f'<img alt="{esc(alt)}" src="data:image/png;base64,{png}">')
    return parts


def render_html(report: MonthlyReport, settings: DashboardsSettings, *, charts: bool = True) -> str:
    t = Texts(settings.language)
    title = t(
        f"Monatsbericht Grundwasser – {report.municipality} – {report.period.label(t)}",
        f"Monthly groundwater report – {report.municipality} – {report.period.label(t)}",
    )
    made_by = t("Erstellt von gwmon aus InfluxDB.", "Made by gwmon from InfluxDB.")
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{t.language}"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        _definitions(report, t),
        *_probes_table(report, t),
        *_levels_table(report, t),
        *_alerts_table(report, t),
        *(_charts(report, t) if charts else []),
        f'<p class="muted">{esc(made_by)}</p></body></html>',
    ]
    return "\n".join(parts) + "\n"
