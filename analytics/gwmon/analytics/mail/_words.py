"""The vocabulary of the mails in German (default) and English, and how numbers, times
and durations are written (decimal comma, Europe/Berlin, MEZ/MESZ)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from gwmon.analytics import Alert, AlertKind, TrendSettings

Language = Literal["de", "en"]

BERLIN = ZoneInfo("Europe/Berlin")
DEFAULT_ALPHA = TrendSettings().alpha

_LABELS: dict[AlertKind, tuple[str, str]] = {
    AlertKind.BREACH: ("SCHWELLENWERT ÜBERSCHRITTEN", "THRESHOLD EXCEEDED"),
    AlertKind.WARNING: ("WARNUNG", "WARNING"),
    AlertKind.TREND: ("TREND", "TREND"),
    AlertKind.LEVEL_LOW: ("NIEDRIGER GRUNDWASSERSTAND", "LOW GROUNDWATER LEVEL"),
    AlertKind.LEVEL_HIGH: ("HOHER GRUNDWASSERSTAND", "HIGH GROUNDWATER LEVEL"),
    AlertKind.SENSOR_FAULT: ("SENSORSTÖRUNG", "SENSOR FAULT"),
    AlertKind.STALE: ("KEINE DATEN", "NO DATA"),
    AlertKind.DRIFT: ("SONDE WEICHT VOM ABSTICH AB", "LOGGER DRIFT AGAINST MANUAL DIP"),
}

_WORDS: dict[str, tuple[str, str]] = {
    "nitrate": ("Nitrat", "Nitrate"),
    "probe": ("Messstelle", "probe"),
    "Probe": ("Messstelle", "Probe"),
    "site": ("Standort", "Site"),
    "municipality": ("Gemeinde", "Municipality"),
    "value": ("Messwert", "Value"),
    "peak": ("Höchstwert", "Peak value"),
    "slope": ("Anstieg (Sen)", "Slope (Sen)"),
    "silent": ("Ohne Daten seit", "Silent for"),
    "offset": ("Abweichung Sonde − Abstich", "Logger minus dip"),
    "tolerance": ("Toleranz", "Tolerance"),
    "expected_within": ("Gilt als still nach", "Counted as silent after"),
    "threshold": ("Schwellenwert", "Threshold"),
    "measured": ("Gemessen", "Measured"),
    "arrived": ("Eingegangen", "Arrived"),
    "late": ("verspätet übertragen", "transmitted late"),
    "since": ("Dauer bisher", "Duration so far"),
    "duration": ("Dauer", "Duration"),
    "resolved_at": ("Beendet", "Resolved"),
    "meaning": ("Bedeutung", "What it means"),
    "chart": ("Verlauf", "Chart"),
    "dashboard": ("Verlauf in Grafana", "Dashboard in Grafana"),
    "ack": ("Kenntnisnahme bestätigen", "Acknowledge"),
    "ack_hint": (
        "Bitte bestätigen Sie die Kenntnisnahme über diesen Link (gültig bis {until}):",
        "Please acknowledge this alert with this link (valid until {until}):",
    ),
    "reminder_hint": (
        "Solange niemand bestätigt, erinnert gwmon alle {every} erneut.",
        "Until someone acknowledges, gwmon reminds again every {every}.",
    ),
    "reminder_no": (
        "{n}. Erinnerung: noch nicht bestätigt.",
        "Reminder {n}: not acknowledged yet.",
    ),
    "acked": ("Bestätigt von {by} am {at}.", "Acknowledged by {by} at {at}."),
    "resolved_line": (
        "Die Meldung ist beendet: der Wert liegt wieder im zulässigen Bereich.",
        "The alert is over: the value is back within the allowed range.",
    ),
    "resolved_line_maint": (
        "Die Störung ist beendet: die Sonde liefert wieder plausible Daten.",
        "The fault is over: the probe delivers plausible data again.",
    ),
    "flap": (
        "Seit {first}: {opened}× ausgelöst, {resolved}× beendet.",
        "Since {first}: opened {opened}×, resolved {resolved}×.",
    ),
    "flap_hint": ("Der Wert schwankt um die Schwelle.", "The value hovers at the threshold."),
    "no_chart": ("Kein Diagramm: keine Daten verfügbar.", "No chart: no data available."),
    "detail": ("Technische Angabe", "Technical detail"),
    "footer": (
        "Automatische Nachricht von gwmon, Grundwasser-Messnetz. Meldungsnummer: {ids}. "
        "Empfänger: {audience}.",
        "Automatic message from gwmon, groundwater monitoring network. Alert id: {ids}. "
        "Recipients: {audience}.",
    ),
    "digest_intro": (
        "{n} Meldungen für {audience} in den letzten Minuten, zusammengefasst:",
        "{n} notices for {audience} in the last minutes, grouped in one mail:",
    ),
    "open_state": ("offen", "open"),
    "ack_state": ("bestätigt", "acknowledged"),
    "resolved_state": ("beendet", "resolved"),
    "current": ("Stand", "Status"),
}

# The chart: quantity names, the days in its title, and the label of values reported
# below the limit of quantification (BG = Bestimmungsgrenze).
CHART_LEVEL = ("Grundwasserstand", "Groundwater level")
CHART_DAYS = ("Tage", "days")
CHART_CENSORED = ("< BG (Bestimmungsgrenze)", "< LOQ (limit of quantification)")


def pick(texts: tuple[str, str], lang: Language) -> str:
    """The German or the English text of a pair."""
    return texts[0] if lang == "de" else texts[1]


def fmt_alpha(alpha: float, lang: Language) -> str:
    text = f"{alpha:g}"
    return text.replace(".", ",") if lang == "de" else text


def word(key: str, lang: Language) -> str:
    de, en = _WORDS[key]
    return de if lang == "de" else en


def label(kind: AlertKind, lang: Language) -> str:
    de, en = _LABELS[kind]
    return de if lang == "de" else en


def fmt_number(value: float, decimals: int, lang: Language) -> str:
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if lang == "de" else text


def quantity_of(kind: AlertKind, unit: str) -> str | None:
    """The `reading` quantity an alert is about, for the chart."""
    if kind in (AlertKind.BREACH, AlertKind.WARNING, AlertKind.TREND):
        return "nitrate"
    if kind in (AlertKind.LEVEL_LOW, AlertKind.LEVEL_HIGH):
        return "level"
    return {"mg/L": "nitrate", "m": "level", "°C": "temperature", "µS/cm": "conductivity"}.get(
        unit, "nitrate" if kind == AlertKind.STALE else None
    )


def display_unit(kind: AlertKind, unit: str) -> str:
    if unit == "m" and kind in (AlertKind.LEVEL_LOW, AlertKind.LEVEL_HIGH):
        return "m NHN"
    return unit


def fmt_value(alert: Alert, value: float | None, lang: Language) -> str:
    if value is None:
        return "–"
    if alert.unit == "s":  # stale: seconds of silence
        return fmt_duration(timedelta(seconds=value), lang)
    if alert.unit == "mg/L/a":  # trend: Sen's slope
        per_year = "mg/L pro Jahr" if lang == "de" else "mg/L per year"
        return f"{'+' if value > 0 else ''}{fmt_number(value, 2, lang)} {per_year}"
    if alert.kind == AlertKind.DRIFT:  # logger minus dip: millimetres matter, and the sign
        return f"{'+' if value > 0 else ''}{fmt_number(value, 3, lang)} m"
    decimals = 2 if alert.unit == "m" else 1
    unit = display_unit(alert.kind, alert.unit)
    return f"{fmt_number(value, decimals, lang)} {unit}".strip()


def fmt_time(moment: datetime, lang: Language) -> str:
    local = moment.astimezone(BERLIN)
    if lang == "de":
        zone = "MESZ" if local.dst() else "MEZ"
        return f"{local:%d.%m.%Y %H:%M} {zone}"
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def fmt_duration(span: timedelta, lang: Language) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts: list[str] = []
    if lang == "de":
        if days:
            parts.append(f"{days} {'Tag' if days == 1 else 'Tage'}")
        if hours:
            parts.append(f"{hours} Std.")
        if mins or not parts:
            parts.append(f"{mins} Min.")
    else:
        if days:
            parts.append(f"{days} {'day' if days == 1 else 'days'}")
        if hours:
            parts.append(f"{hours} h")
        if mins or not parts:
            parts.append(f"{mins} min")
    return " ".join(parts)


def fmt_every(span: timedelta, lang: Language) -> str:
    """'24 Std.' rather than '1 Tag' after 'alle'."""
    seconds = span.total_seconds()
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} Std." if lang == "de" else f"{hours} h"
    return fmt_duration(span, lang)


def one_line(text: str) -> str:
    """Header-safe: no line breaks or other control characters, single spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
