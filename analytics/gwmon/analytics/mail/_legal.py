"""What an alert means in law, in German and English.

Wells deliver raw groundwater, so texts speak of the GrwV Schwellenwert (50 mg/L nitrate,
Anlage 2) and the start of trend reversal (at most 75 % of it, 37.5 mg/L), never of a
drinking-water "Grenzwert" (TrinkwV). A probe's own thresholds from the registry are
named as what they are (the probe's alarm or warning threshold), not as the legal values.
"""

from __future__ import annotations

from gwmon.analytics import Alert, AlertKind
from gwmon.ingest import GRWV_NITRATE_THRESHOLD_MG_L, TREND_REVERSAL_START_MG_L

from ._words import DEFAULT_ALPHA, Language, fmt_alpha, fmt_number, fmt_value, label, pick, word

GRWV_NITRATE_MG_L = GRWV_NITRATE_THRESHOLD_MG_L  # the Schwellenwert, GrwV Anlage 2
TREND_REVERSAL_MG_L = TREND_REVERSAL_START_MG_L  # at most 75 % of it (GrwV Anlage 2, § 10)

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
    AlertKind.DRIFT: (
        "Der Grundwasserstand der Sonde weicht von der Handmessung (Abstich vom "
        "Messpunkt) um mehr als die Toleranz dieser Messstelle ab: die Sonde driftet oder "
        "ist verschmutzt, nicht das Grundwasser hat sich geändert. Bitte Sonde prüfen, "
        "reinigen oder neu kalibrieren und die Messreihe korrigieren.",
        "The logger's groundwater level differs from the manual dip (measured from the "
        "measuring point) by more than this well's tolerance: the sensor drifts or is "
        "fouled; the groundwater did not change. Please check, clean or recalibrate the "
        "sensor and correct the series.",
    ),
    AlertKind.STALE: (
        "Die Sonde sendet länger als erwartet keine Daten. Solange keine Daten kommen, "
        "kann gwmon an dieser Messstelle nichts überwachen. Bitte Sonde und Übertragung "
        "prüfen.",
        "The probe has been silent for longer than expected. Until data returns, gwmon "
        "cannot watch this well. Please check the probe and its link.",
    ),
}


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


def _breach_meaning(alert: Alert, lang: Language) -> str:
    if is_legal_value(alert.threshold, GRWV_NITRATE_MG_L):
        return pick(_GRWV_BREACH, lang)
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
    return text + pick(_GROUNDWATER, lang)


def _warning_meaning(alert: Alert, lang: Language) -> str:
    if is_legal_value(alert.threshold, TREND_REVERSAL_MG_L):
        return f"{pick(_REVERSAL_START, lang)} {pick(_GROUNDWATER, lang)}"
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
    return text + pick(_GROUNDWATER, lang)


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


def meaning(alert: Alert, lang: Language, *, trend_alpha: float = DEFAULT_ALPHA) -> str:
    """What the alert means, legally for nitrate: the legal values by name, the probe's
    own thresholds as the probe's; `trend_alpha` is the configured significance level."""
    if alert.kind == AlertKind.BREACH:
        return _breach_meaning(alert, lang)
    if alert.kind == AlertKind.WARNING:
        return _warning_meaning(alert, lang)
    if alert.kind == AlertKind.TREND:
        return _trend_meaning(lang, trend_alpha)
    return pick(_MEANING[alert.kind], lang)


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
    if alert.kind == AlertKind.DRIFT:
        return word("tolerance", lang), f"± {fmt_number(threshold, 3, lang)} m"
    return word("threshold", lang), text


def chart_line_labels(breach: float, warning: float, lang: Language) -> tuple[str, str]:
    """The chart's names of a probe's breach and warning lines: the legal values by name
    (`Schwellenwert 50,0`, `Trendumkehr 37,5`), a probe's own thresholds as the probe's
    (`Alarmschwelle 60,0`, `Warnschwelle 45,0`)."""
    breach_name = (
        ("Schwellenwert", "Threshold value")
        if is_legal_value(breach, GRWV_NITRATE_MG_L)
        else ("Alarmschwelle", "Alarm threshold")
    )
    warning_name = (
        ("Trendumkehr", "Trend reversal")
        if is_legal_value(warning, TREND_REVERSAL_MG_L)
        else ("Warnschwelle", "Warning threshold")
    )
    return (
        f"{pick(breach_name, lang)} {fmt_number(breach, 1, lang)}",
        f"{pick(warning_name, lang)} {fmt_number(warning, 1, lang)}",
    )
