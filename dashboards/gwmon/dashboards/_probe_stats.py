"""The probe dashboard's stat panels: the latest trend test and the probe's status."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from gwmon.dashboards._common import (
    BREACH_COLOR,
    OK_COLOR,
    PROBE,
    STALE_COLOR,
    VERDICT_DE,
    Texts,
    datasource_ref,
    prop,
    special_value,
    value_text,
)
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.dashboards._target import InfluxQL
from gwmon.storage import PROBE_STATUS, TREND
from gwmon.storage import influxql as q

TREND_COLUMNS = ("verdict", "slope_per_year", "p", "n", "alpha")
STATUS_COLUMNS = ("online", "firmware")

TREND_QUERY = q.select(TREND, *(q.last(column).as_(column) for column in TREND_COLUMNS)).where(
    PROBE, q.eq("quantity", "nitrate")
)
STATUS_QUERY = q.select(
    PROBE_STATUS, *(q.last(column).as_(column) for column in STATUS_COLUMNS)
).where(PROBE)

# Colour a verdict by its meaning: rising is what the Stabsstellen must act on.
_VERDICT_COLORS = {
    "rising": BREACH_COLOR,
    "falling": OK_COLOR,
    "no_trend": "blue",
    "insufficient": STALE_COLOR,
}
_VERDICT_EN = {
    "rising": "rising",
    "falling": "falling",
    "no_trend": "no trend",
    "insufficient": "too few values",
}


def _latest_values(
    settings: DashboardsSettings, title: str, query: q.Select, columns: tuple[str, ...]
) -> stat.Panel:
    """Latest values of `columns` side by side, name above value, coloured background."""
    return (
        stat.Panel()
        .title(title)
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", query).table())
        .reduce_options(
            cb.ReduceDataOptions()
            .calcs(["lastNotNull"])
            .values(False)
            .fields("/^(" + "|".join(columns) + ")$/")
        )
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color("text"))
    )


def _named(name: str, decimals: int) -> list[dm.DynamicConfigValue]:
    return [prop("displayName", name), prop("decimals", decimals)]


def _verdict(t: Texts) -> list[dm.DynamicConfigValue]:
    words = {
        verdict: (t(VERDICT_DE[verdict], english), _VERDICT_COLORS[verdict])
        for verdict, english in _VERDICT_EN.items()
    }
    return [
        prop("displayName", t("Bewertung", "Verdict")),
        prop("mappings", [value_text(words)]),
        prop("color", {"mode": "thresholds"}),
    ]


def trend_panel(settings: DashboardsSettings, t: Texts) -> stat.Panel:
    title = t("Trend Nitrat (GrwV Anlage 6)", "Nitrate trend (GrwV Annex 6)")
    slope_unit = t("suffix: mg/L pro Jahr", "suffix: mg/L per year")
    return (
        _latest_values(settings, title, TREND_QUERY, TREND_COLUMNS)
        .description(
            t(
                "Letztes Ergebnis von `gwmon trend`: Mann-Kendall-Test auf dem "
                "Signifikanzniveau α, mit dem er lief ([analytics.trend] alpha), und "
                "Sen-Steigung in mg/L pro Jahr.",
                "Latest result of `gwmon trend`: Mann-Kendall test at the significance "
                "level α it ran with ([analytics.trend] alpha), and Sen's slope in mg/L "
                "per year.",
            )
        )
        .override_by_name("verdict", _verdict(t))
        .override_by_name(
            "slope_per_year",
            [
                prop("displayName", t("Sen-Steigung", "Sen's slope")),
                prop("unit", slope_unit),
                prop("decimals", 2),
            ],
        )
        .override_by_name("p", _named("p", 3))
        .override_by_name("n", _named(t("Anzahl Werte", "Values"), 0))
        .override_by_name("alpha", _named("α", 2))
        .no_value(t("noch kein Trendtest", "no trend test yet"))
        .grid_pos(dm.GridPos(h=5, w=8, x=16, y=0))
    )


def status_panel(settings: DashboardsSettings, t: Texts) -> stat.Panel:
    title = t("Sonde: Verbindung und Firmware", "Probe: connection and firmware")
    online = [
        special_value(dm.SpecialValueMatch.TRUE, "online", 0, OK_COLOR),
        special_value(dm.SpecialValueMatch.FALSE, "offline", 1, BREACH_COLOR),
    ]
    return (
        _latest_values(settings, title, STATUS_QUERY, STATUS_COLUMNS)
        .override_by_name(
            "online",
            [
                prop("displayName", t("Verbindung", "Connection")),
                prop("mappings", online),
                prop("color", {"mode": "thresholds"}),
            ],
        )
        .override_by_name("firmware", [prop("displayName", "Firmware")])
        .grid_pos(dm.GridPos(h=5, w=8, x=16, y=5))
    )
