"""What the mails say, in German (default) and English.

The readers are Stabsstellen, not engineers, reading on a phone: what, where, how bad,
since when, what it means legally, and what to do, in that order. Wells deliver raw
groundwater, so texts speak of the GrwV Schwellenwert (50 mg/L nitrate, Anlage 2) and the
start of trend reversal (at most 75 % of it, 37.5 mg/L), never of a drinking-water
"Grenzwert" (TrinkwV). A probe's own thresholds from the registry are named as what they
are (the probe's alarm or warning threshold), not as the legal values.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from gwmon.analytics import Alert, AlertKind, AlertState, TrendSettings

Language = Literal["de", "en"]
NoticeType = Literal["opened", "resolved", "reminder"]

BERLIN = ZoneInfo("Europe/Berlin")
GRWV_NITRATE_MG_L = 50.0
TREND_REVERSAL_MG_L = 37.5  # at most 75 % of the Schwellenwert (GrwV Anlage 2, § 10)
DEFAULT_ALPHA = TrendSettings().alpha

_LABELS: dict[AlertKind, tuple[str, str]] = {
    AlertKind.BREACH: ("SCHWELLENWERT ÜBERSCHRITTEN", "THRESHOLD EXCEEDED"),
    AlertKind.WARNING: ("WARNUNG", "WARNING"),
    AlertKind.TREND: ("TREND", "TREND"),
    AlertKind.LEVEL_LOW: ("NIEDRIGER GRUNDWASSERSTAND", "LOW GROUNDWATER LEVEL"),
    AlertKind.LEVEL_HIGH: ("HOHER GRUNDWASSERSTAND", "HIGH GROUNDWATER LEVEL"),
    AlertKind.SENSOR_FAULT: ("SENSORSTÖRUNG", "SENSOR FAULT"),
    AlertKind.STALE: ("KEINE DATEN", "NO DATA"),
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

_GROUNDWATER = (
    "Gemessen wird Rohwasser aus dem Grundwasser, kein Trinkwasser.",
    "The well delivers raw groundwater, not drinking water.",
)
_GRWV_BREACH = (
    "Der Schwellenwert der Grundwasserverordnung (GrwV, Anlage 2) für Nitrat von 50 mg/L "
    "ist an dieser Grundwassermessstelle überschritten. Gemessen wird Rohwasser aus dem "
    "Grundwasser, kein Trinkwasser: Maßstab ist nicht die Trinkwasserverordnung, sondern "
    "die GrwV; der Befund ist nach GrwV zu bewerten und kann Maßnahmen zum Schutz des "
    "Grundwassers auslösen.",
    "The nitrate threshold value of the German Groundwater Ordinance (GrwV, Annex 2), "
    "50 mg/L, is exceeded at this groundwater monitoring well. The well delivers raw "
    "groundwater, not drinking water: this is not a drinking-water limit being exceeded "
    "but a finding to be assessed under the GrwV that may call for measures to protect "
    "the groundwater.",
)
_REVERSAL_START = (
    "Der Ausgangspunkt für die Trendumkehr ist erreicht: 75 % des GrwV-Schwellenwerts "
    "(37,5 von 50 mg/L Nitrat; GrwV Anlage 2, EU-Grundwasserrichtlinie Anhang IV). Ab "
    "hier sind nach GrwV § 10 Maßnahmen zur Umkehr eines steigenden Trends zu prüfen.",
    "The starting point for trend reversal is reached: 75 % of the GrwV threshold value "
    "(37.5 of 50 mg/L nitrate; GrwV Annex 2, EU Groundwater Directive Annex IV). From "
    "here on, GrwV § 10 asks for measures to reverse a rising trend to be considered.",
)
_MEANING: dict[AlertKind, tuple[str, str]] = {
    AlertKind.LEVEL_LOW: (
        "Der Grundwasserstand liegt unter dem im Messstellenregister festgelegten "
        "Mindest-Betriebswasserstand. Das ist eine betriebliche Schwelle, kein gesetzlicher "
        "Wert.",
        "The groundwater level is below the minimum operating level set in the probe "
        "registry. This is an operational, not a legal, limit.",
    ),
    AlertKind.LEVEL_HIGH: (
        "Der Grundwasserstand liegt über dem im Messstellenregister festgelegten "
        "Höchststand. Das ist eine betriebliche Schwelle, kein gesetzlicher Wert.",
        "The groundwater level is above the maximum level set in the probe registry. This "
        "is an operational, not a legal, limit.",
    ),
    AlertKind.SENSOR_FAULT: (
        "Die Qualitätskontrolle hält den Sensor, nicht das Grundwasser, für gestört. Werte "
        "dieser Sonde lösen derzeit keinen Wasserqualitätsalarm aus. Bitte Sonde prüfen.",
        "Quality control finds the sensor, not the groundwater, at fault. This probe's "
        "values raise no water-quality alert meanwhile. Please check the probe.",
    ),
    AlertKind.STALE: (
        "Die Sonde sendet länger als erwartet keine Daten. Solange keine Daten kommen, "
        "kann gwmon an dieser Messstelle nichts überwachen. Bitte Sonde und Übertragung "
        "prüfen.",
        "The probe has been silent for longer than expected. Until data returns, gwmon "
        "cannot watch this well. Please check the probe and its link.",
    ),
}


def _pick(texts: tuple[str, str], lang: Language) -> str:
    return texts[0] if lang == "de" else texts[1]


def is_legal_value(threshold: float | None, legal: float) -> bool:
    """True when a registry threshold is the legal value itself (the default)."""
    return threshold is None or abs(threshold - legal) < 1e-9


def grwv_exceeded(alert: Alert) -> bool:
    """The breach also exceeds the GrwV Schwellenwert: its threshold is at least 50 mg/L
    (values above it are above 50), or its peak is above 50 mg/L."""
    threshold, value = alert.threshold, alert.value
    return (
        threshold is None
        or threshold >= GRWV_NITRATE_MG_L
        or (value is not None and value > GRWV_NITRATE_MG_L)
    )


def _reversal_start_exceeded(alert: Alert) -> bool:
    threshold, value = alert.threshold, alert.value
    return (threshold is not None and threshold >= TREND_REVERSAL_MG_L) or (
        value is not None and value > TREND_REVERSAL_MG_L
    )


def fmt_alpha(alpha: float, lang: Language) -> str:
    text = f"{alpha:g}"
    return text.replace(".", ",") if lang == "de" else text


def _breach_meaning(alert: Alert, lang: Language) -> str:
    if is_legal_value(alert.threshold, GRWV_NITRATE_MG_L):
        return _pick(_GRWV_BREACH, lang)
    own = fmt_value(alert, alert.threshold, lang)
    if lang == "de":
        text = (
            f"Die Alarmschwelle dieser Messstelle von {own} Nitrat (im Messstellenregister "
            "festgelegt) ist überschritten. "
        )
        text += (
            "Damit ist auch der Schwellenwert der Grundwasserverordnung (GrwV, Anlage 2) "
            "von 50 mg/L überschritten. "
            if grwv_exceeded(alert)
            else "Der Schwellenwert der Grundwasserverordnung (GrwV, Anlage 2) liegt bei 50 mg/L. "
        )
    else:
        text = (
            f"The probe's alarm threshold of {own} nitrate (set in the probe registry) is "
            "exceeded. "
        )
        text += (
            "So is the threshold value of the German Groundwater Ordinance (GrwV, Annex 2), "
            "50 mg/L. "
            if grwv_exceeded(alert)
            else "The threshold value of the German Groundwater Ordinance (GrwV, Annex 2) "
            "is 50 mg/L. "
        )
    return text + _pick(_GROUNDWATER, lang)


def _warning_meaning(alert: Alert, lang: Language) -> str:
    if is_legal_value(alert.threshold, TREND_REVERSAL_MG_L):
        return f"{_pick(_REVERSAL_START, lang)} {_pick(_GROUNDWATER, lang)}"
    own = fmt_value(alert, alert.threshold, lang)
    if lang == "de":
        text = (
            f"Die Warnschwelle dieser Messstelle von {own} Nitrat (im Messstellenregister "
            "festgelegt) ist überschritten. "
        )
        text += (
            "Damit ist auch der Ausgangspunkt für die Trendumkehr überschritten: nach GrwV "
            "höchstens 75 % des Schwellenwerts, 37,5 von 50 mg/L (GrwV Anlage 2); ab hier "
            "sind nach GrwV § 10 Maßnahmen zur Umkehr eines steigenden Trends zu prüfen. "
            if _reversal_start_exceeded(alert)
            else "Der Ausgangspunkt für die Trendumkehr liegt nach GrwV bei höchstens 75 % "
            "des Schwellenwerts: 37,5 von 50 mg/L (GrwV Anlage 2). "
        )
    else:
        text = (
            f"The probe's warning threshold of {own} nitrate (set in the probe registry) is "
            "exceeded. "
        )
        text += (
            "So is the starting point for trend reversal: under the GrwV at most 75 % of the "
            "threshold value, 37.5 of 50 mg/L (GrwV Annex 2); from here on, GrwV § 10 asks "
            "for measures to reverse a rising trend to be considered. "
            if _reversal_start_exceeded(alert)
            else "The starting point for trend reversal under the GrwV is at most 75 % of "
            "the threshold value: 37.5 of 50 mg/L (GrwV Annex 2). "
        )
    return text + _pick(_GROUNDWATER, lang)


def _trend_meaning(lang: Language, alpha: float) -> str:
    level = fmt_alpha(alpha, lang)
    if lang == "de":
        return (
            f"Der Trendtest nach GrwV Anlage 6 (Mann-Kendall, α = {level}) zeigt einen "
            "signifikant steigenden Nitrattrend an dieser Messstelle. Gemessen wird "
            "Rohwasser, kein Trinkwasser."
        )
    return (
        f"The trend test of GrwV Annex 6 (Mann-Kendall, α = {level}) shows a significantly "
        "rising nitrate trend at this well. The well delivers raw groundwater, not drinking "
        "water."
    )


def word(key: str, lang: Language) -> str:
    de, en = _WORDS[key]
    return de if lang == "de" else en


def label(kind: AlertKind, lang: Language) -> str:
    de, en = _LABELS[kind]
    return de if lang == "de" else en


def meaning(alert: Alert, lang: Language, *, trend_alpha: float = DEFAULT_ALPHA) -> str:
    """What the alert means, legally for nitrate: the legal values by name, the probe's
    own thresholds as the probe's; `trend_alpha` is the configured significance level."""
    if alert.kind == AlertKind.BREACH:
        return _breach_meaning(alert, lang)
    if alert.kind == AlertKind.WARNING:
        return _warning_meaning(alert, lang)
    if alert.kind == AlertKind.TREND:
        return _trend_meaning(lang, trend_alpha)
    return _pick(_MEANING[alert.kind], lang)


def headline(alert: Alert, lang: Language) -> str:
    """The kind as a headline; a breach of a probe threshold below 50 mg/L that stayed
    below 50 mg/L is the probe's alarm threshold, not the GrwV Schwellenwert."""
    if alert.kind == AlertKind.BREACH and not grwv_exceeded(alert):
        return "ALARMSCHWELLE ÜBERSCHRITTEN" if lang == "de" else "ALARM THRESHOLD EXCEEDED"
    return label(alert.kind, lang)


def threshold_row(alert: Alert, lang: Language) -> tuple[str, str] | None:
    """The mail's threshold line: name and value, saying whose threshold it is."""
    threshold = alert.threshold
    if threshold is None or alert.kind in (AlertKind.TREND, AlertKind.STALE):
        return None
    text = fmt_value(alert, threshold, lang)
    de = lang == "de"
    if alert.kind == AlertKind.BREACH:
        if is_legal_value(threshold, GRWV_NITRATE_MG_L):
            return word("threshold", lang), f"{text} ({'GrwV Anlage 2' if de else 'GrwV Annex 2'})"
        legal = fmt_number(GRWV_NITRATE_MG_L, 1, lang)
        return (
            ("Alarmschwelle der Messstelle", f"{text} (Schwellenwert GrwV Anlage 2: {legal} mg/L)")
            if de
            else ("Probe alarm threshold", f"{text} (GrwV Annex 2 threshold value: {legal} mg/L)")
        )
    if alert.kind == AlertKind.WARNING:
        reversal = fmt_number(TREND_REVERSAL_MG_L, 1, lang)
        if is_legal_value(threshold, TREND_REVERSAL_MG_L):
            return (
                ("Warnschwelle", f"{text} (Ausgangspunkt der Trendumkehr, 75 % von 50 mg/L)")
                if de
                else (
                    "Warning threshold",
                    f"{text} (trend-reversal starting point, 75 % of 50 mg/L)",
                )
            )
        return (
            (
                "Warnschwelle der Messstelle",
                f"{text} (Ausgangspunkt der Trendumkehr nach GrwV: höchstens {reversal} mg/L)",
            )
            if de
            else (
                "Probe warning threshold",
                f"{text} (GrwV trend-reversal starting point: at most {reversal} mg/L)",
            )
        )
    if alert.kind == AlertKind.LEVEL_LOW:
        return ("Mindest-Betriebswasserstand" if de else "Minimum operating level"), text
    if alert.kind == AlertKind.LEVEL_HIGH:
        return ("Höchststand" if de else "Maximum level"), text
    return word("threshold", lang), text


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


def what(alert: Alert, lang: Language) -> str:
    """'SCHWELLENWERT ÜBERSCHRITTEN Nitrat 54,2 mg/L' — the kind, the quantity, the value."""
    head = headline(alert, lang)
    if alert.kind in (AlertKind.BREACH, AlertKind.WARNING):
        return f"{head} {word('nitrate', lang)} {fmt_value(alert, alert.value, lang)}"
    if alert.kind == AlertKind.TREND:
        return f"{head} {word('nitrate', lang)} {'steigend' if lang == 'de' else 'rising'}"
    if alert.kind in (AlertKind.LEVEL_LOW, AlertKind.LEVEL_HIGH):
        return f"{head} {fmt_value(alert, alert.value, lang)}"
    return head


def where(alert: Alert, lang: Language) -> str:
    return f"{word('Probe', lang)} {alert.probe} ({alert.site})"


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell: an alert opened, was resolved, or still waits for an ack."""

    type: NoticeType
    event_id: str
    alert: Alert
    queued_at_s: float
    reminder_no: int = 0


def one_line(text: str) -> str:
    """Header-safe: no line breaks or other control characters, single spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def subject(notice: Notice, lang: Language) -> str:
    return one_line(_subject(notice, lang))


def _subject(notice: Notice, lang: Language) -> str:
    alert = notice.alert
    if notice.type == "resolved":
        prefix = "BEENDET: " if lang == "de" else "RESOLVED: "
        head = f"{headline(alert, lang)}{_quantity_suffix(alert, lang)}"
        return f"[gwmon] {prefix}{head} – {where(alert, lang)}"
    prefix = ""
    if notice.type == "reminder":
        prefix = "ERINNERUNG: " if lang == "de" else "REMINDER: "
    return f"[gwmon] {prefix}{what(alert, lang)} – {where(alert, lang)}"


def _quantity_suffix(alert: Alert, lang: Language) -> str:
    if alert.kind in (AlertKind.BREACH, AlertKind.WARNING, AlertKind.TREND):
        return f" {word('nitrate', lang)}"
    return ""


def digest_subject(notices: Sequence[Notice], audience: str, lang: Language) -> str:
    return one_line(_digest_subject(notices, audience, lang))


def _digest_subject(notices: Sequence[Notice], audience: str, lang: Language) -> str:
    worst = sorted(notices, key=_rank)[0]
    if lang == "de":
        return (
            f"[gwmon] SAMMELMELDUNG: {len(notices)} Meldungen für {audience} – u. a. "
            f"{what(worst.alert, lang)} {worst.alert.probe}"
        )
    return (
        f"[gwmon] DIGEST: {len(notices)} notices for {audience} – incl. "
        f"{what(worst.alert, lang)} {worst.alert.probe}"
    )


_KIND_RANK = {
    AlertKind.BREACH: 0,
    AlertKind.LEVEL_LOW: 1,
    AlertKind.LEVEL_HIGH: 1,
    AlertKind.WARNING: 2,
    AlertKind.TREND: 3,
    AlertKind.SENSOR_FAULT: 4,
    AlertKind.STALE: 5,
}


def _rank(notice: Notice) -> tuple[int, int, float]:
    type_rank = {"opened": 0, "reminder": 1, "resolved": 2}[notice.type]
    return (type_rank, _KIND_RANK[notice.alert.kind], -notice.queued_at_s)


@dataclass(slots=True)
class Section:
    """One alert's part of a mail (a digest has several)."""

    notice: Notice
    count: int = 1
    opened_count: int = 0
    resolved_count: int = 0
    first_at: datetime | None = None
    chart_cid: str | None = None
    chart_missing: bool = False
    ack_url: str | None = None
    ack_until: datetime | None = None
    dashboard_url: str = ""
    extra: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RenderContext:
    lang: Language
    audience: str
    now: datetime
    late_after_s: float
    reminder_every: timedelta | None
    reminded: frozenset[AlertKind] = frozenset()
    trend_alpha: float = DEFAULT_ALPHA  # [analytics.trend] alpha, named in trend mails


def _rows(section: Section, ctx: RenderContext) -> list[tuple[str, str]]:
    lang = ctx.lang
    notice = section.notice
    alert = notice.alert
    rows: list[tuple[str, str]] = [
        (word("Probe", lang), f"{alert.probe} – {alert.site}"),
        (word("municipality", lang), alert.municipality),
    ]
    if alert.value is not None:
        key = {
            AlertKind.BREACH: "peak",
            AlertKind.WARNING: "peak",
            AlertKind.TREND: "slope",
            AlertKind.STALE: "silent",
        }.get(alert.kind, "value")
        value_text = fmt_value(alert, alert.value, lang)
        if alert.kind in (AlertKind.BREACH, AlertKind.WARNING, AlertKind.TREND):
            value_text += " Nitrat (NO₃)" if lang == "de" else " nitrate (NO₃)"
        rows.append((word(key, lang), value_text))
    if alert.kind == AlertKind.STALE and alert.threshold is not None:
        rows.append((word("expected_within", lang), fmt_value(alert, alert.threshold, lang)))
    else:
        row = threshold_row(alert, lang)
        if row is not None:
            rows.append(row)
    rows.append((word("measured", lang), fmt_time(alert.opened_at, lang)))
    if alert.arrival_at is not None:
        lag = (alert.arrival_at - alert.opened_at).total_seconds()
        if lag > ctx.late_after_s:
            rows.append(
                (
                    word("arrived", lang),
                    f"{fmt_time(alert.arrival_at, lang)} ({word('late', lang)})",
                )
            )
    if notice.type == "resolved" and alert.resolved_at is not None:
        rows.append((word("resolved_at", lang), fmt_time(alert.resolved_at, lang)))
        rows.append(
            (word("duration", lang), fmt_duration(alert.resolved_at - alert.opened_at, lang))
        )
    else:
        rows.append((word("since", lang), fmt_duration(ctx.now - alert.opened_at, lang)))
    return rows


def _state_word(alert: Alert, lang: Language) -> str:
    return {
        AlertState.OPEN: word("open_state", lang),
        AlertState.ACKNOWLEDGED: word("ack_state", lang),
        AlertState.RESOLVED: word("resolved_state", lang),
    }[alert.state]


def _lead(section: Section, ctx: RenderContext) -> list[str]:
    lang = ctx.lang
    notice = section.notice
    alert = notice.alert
    lines: list[str] = []
    if notice.type == "resolved":
        maint = alert.kind in (AlertKind.SENSOR_FAULT, AlertKind.STALE)
        lines.append(word("resolved_line_maint" if maint else "resolved_line", lang))
    if notice.type == "reminder":
        lines.append(word("reminder_no", lang).format(n=notice.reminder_no))
    if alert.acked_at is not None and alert.acked_by:
        lines.append(
            word("acked", lang).format(by=alert.acked_by, at=fmt_time(alert.acked_at, lang))
        )
    if section.count > 1 and section.opened_count > 0 and section.first_at is not None:
        lines.append(
            word("flap", lang).format(
                first=fmt_time(section.first_at, lang),
                opened=section.opened_count,
                resolved=section.resolved_count,
            )
            + (f" {word('flap_hint', lang)}" if section.opened_count > 1 else "")
            + f" {word('current', lang)}: {_state_word(alert, lang)}."
        )
    return lines


def section_title(section: Section, lang: Language) -> str:
    notice = section.notice
    alert = notice.alert
    if notice.type == "resolved":
        prefix = "BEENDET: " if lang == "de" else "RESOLVED: "
        head = f"{headline(alert, lang)}{_quantity_suffix(alert, lang)}"
        return f"{prefix}{head} – {where(alert, lang)}"
    prefix = ("ERINNERUNG: " if lang == "de" else "REMINDER: ") if notice.type == "reminder" else ""
    return f"{prefix}{what(alert, lang)} – {where(alert, lang)}"


def render_plain(sections: Sequence[Section], ctx: RenderContext) -> str:
    lang = ctx.lang
    out: list[str] = []
    total = sum(s.count for s in sections)
    if total > 1:
        out += [word("digest_intro", lang).format(n=total, audience=ctx.audience), ""]
    for number, section in enumerate(sections, 1):
        title = section_title(section, lang)
        if len(sections) > 1:
            title = f"{number}. {title}"
        out += [title, "=" * min(len(title), 72), ""]
        out += [line for line in _lead(section, ctx)]
        if _lead(section, ctx):
            out.append("")
        out += [f"{name}: {value}" for name, value in _rows(section, ctx)]
        out += [
            "",
            f"{word('meaning', lang)}: "
            f"{meaning(section.notice.alert, lang, trend_alpha=ctx.trend_alpha)}",
        ]
        if section.notice.alert.kind in (AlertKind.SENSOR_FAULT, AlertKind.STALE) and (
            section.notice.alert.message
        ):
            out.append(f"{word('detail', lang)}: {section.notice.alert.message}")
        out += ["", f"{word('dashboard', lang)}: {section.dashboard_url}"]
        if section.chart_missing:
            out.append(word("no_chart", lang))
        if section.ack_url is not None and section.ack_until is not None:
            out += [
                "",
                word("ack_hint", lang).format(until=fmt_time(section.ack_until, lang)),
                section.ack_url,
            ]
            if ctx.reminder_every is not None and section.notice.alert.kind in ctx.reminded:
                out.append(
                    word("reminder_hint", lang).format(every=fmt_every(ctx.reminder_every, lang))
                )
        out.append("")
    ids = ", ".join(s.notice.alert.alert_id for s in sections)
    out += ["-- ", word("footer", lang).format(ids=ids, audience=ctx.audience), ""]
    return "\n".join(out)


def render_html(sections: Sequence[Section], ctx: RenderContext) -> str:
    lang = ctx.lang
    e = html.escape
    parts: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>',
        '<body style="font-family: sans-serif; font-size: 16px; line-height: 1.4; '
        'max-width: 640px; margin: 0 auto; padding: 8px;">',
    ]
    total = sum(s.count for s in sections)
    if total > 1:
        parts.append(
            f"<p>{e(word('digest_intro', lang).format(n=total, audience=ctx.audience))}</p>"
        )
    for section in sections:
        alert = section.notice.alert
        colour = "#555555"
        if section.notice.type != "resolved":
            colour = {"critical": "#b00020", "warning": "#b35900"}.get(
                alert.severity.value, "#555555"
            )
        else:
            colour = "#1b5e20"
        parts.append(
            f'<h2 style="color: {colour}; font-size: 20px;">{e(section_title(section, lang))}</h2>'
        )
        parts += [f"<p><strong>{e(line)}</strong></p>" for line in _lead(section, ctx)]
        parts.append('<table style="border-collapse: collapse;">')
        for name, value in _rows(section, ctx):
            parts.append(
                f'<tr><th style="text-align: left; padding: 2px 12px 2px 0; vertical-align: top;">'
                f"{e(name)}</th><td>{e(value)}</td></tr>"
            )
        parts.append("</table>")
        parts.append(
            f"<p><strong>{e(word('meaning', lang))}:</strong> "
            f"{e(meaning(alert, lang, trend_alpha=ctx.trend_alpha))}</p>"
        )
        if alert.kind in (AlertKind.SENSOR_FAULT, AlertKind.STALE) and alert.message:
            parts.append(f"<p><small>{e(word('detail', lang))}: {e(alert.message)}</small></p>")
        if section.chart_cid is not None:
            alt = f"{word('chart', lang)} {alert.probe}"
            parts.append(
                f'<p><img src="cid:{e(section.chart_cid.strip("<>"))}" alt="{e(alt)}" '
                'style="width: 100%; max-width: 640px; height: auto;"></p>'
            )
        elif section.chart_missing:
            parts.append(f"<p><small>{e(word('no_chart', lang))}</small></p>")
        parts.append(
            f'<p><a href="{e(section.dashboard_url)}">{e(word("dashboard", lang))}</a></p>'
        )
        if section.ack_url is not None and section.ack_until is not None:
            hint = word("ack_hint", lang).format(until=fmt_time(section.ack_until, lang))
            parts.append(
                f"<p>{e(hint)}</p>"
                f'<p><a href="{e(section.ack_url)}" style="display: inline-block; '
                "padding: 10px 16px; "
                'background: #0b5394; color: #ffffff; text-decoration: none; border-radius: 4px;">'
                f"{e(word('ack', lang))}</a></p>"
            )
            if ctx.reminder_every is not None and alert.kind in ctx.reminded:
                hint = word("reminder_hint", lang).format(every=fmt_every(ctx.reminder_every, lang))
                parts.append(f"<p><small>{e(hint)}</small></p>")
        parts.append("<hr>")
    ids = ", ".join(s.notice.alert.alert_id for s in sections)
    parts.append(
        f'<p style="color: #666666; font-size: 13px;">'
        f"{e(word('footer', lang).format(ids=ids, audience=ctx.audience))}</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)
