"""Dashboard 2: one probe in detail (municipality -> site -> probe)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from gwmon.dashboards._common import (
    BELOW_LOQ_UNIT,
    BREACH_COLOR,
    LEVEL_UNIT,
    NITRATE_UNIT,
    OK_COLOR,
    QC_COLOR,
    STALE_COLOR,
    WARNING_COLOR,
    Texts,
    datasource_ref,
    nitrate_thresholds,
    regex_tag,
    thresholds,
    value_text,
)
from gwmon.dashboards._influxql import InfluxQL
from gwmon.dashboards._overview import municipality_variable
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.ingest import DEFAULT_NITRATE_BREACH_MG_L, DEFAULT_NITRATE_WARNING_MG_L, Registry

UID = "gwmon-probe"
PROBE = regex_tag("probe", "probe")


def series_query(quantity: str) -> str:
    """Measured values only: a value stored with `censored = true` is a limit of
    quantification ("< 0.5"), not a measurement, and must not enter a mean. InfluxQL
    cannot test a field that is absent, but a subquery returns it as null, which the
    outer `!= true` keeps."""
    return (
        f'SELECT mean("value") AS "{quantity}" FROM (SELECT "value", "censored" '  # noqa: S608 - constants, validated registry ids
        f'FROM "reading" WHERE {PROBE} AND "quantity" = \'{quantity}\' AND $timeFilter) '
        'WHERE "censored" != true AND $timeFilter GROUP BY time($__interval) fill(none)'
    )


def below_loq_query(quantity: str) -> str:
    """Values reported below the limit of quantification: drawn at the LOQ, shown as
    "< 0.5" (unit prefix "< ")."""
    return (
        f'SELECT "value" AS "below_loq" FROM "reading" WHERE {PROBE} '  # noqa: S608 - constants, validated registry ids
        f'AND "quantity" = \'{quantity}\' AND "censored" = true AND $timeFilter'
    )


def qc_query(quantity: str) -> str:
    return (
        f'SELECT "value" AS "qc_flagged" FROM "qc" WHERE {PROBE} '  # noqa: S608 - constants, validated registry ids
        f"AND \"quantity\" = '{quantity}' AND $timeFilter"
    )


def level_limits_query(registry: Registry) -> str:
    """Per-probe limit lines: only the statement of the selected probe returns rows."""
    statements = []
    for probe in sorted(registry, key=lambda item: item.probe_id):
        columns = []
        if probe.level_min_m_nhn is not None:
            columns.append(f'mean("value") * 0 + {probe.level_min_m_nhn!r} AS "level_min"')
        if probe.level_max_m_nhn is not None:
            columns.append(f'mean("value") * 0 + {probe.level_max_m_nhn!r} AS "level_max"')
        if not columns:
            continue
        statements.append(
            f'SELECT {", ".join(columns)} FROM "reading" WHERE "probe" = \'{probe.probe_id}\' '  # noqa: S608 - constants, validated registry ids
            f"AND {PROBE} AND \"quantity\" = 'level' AND $timeFilter "
            "GROUP BY time($__interval) fill(none)"
        )
    return ";\n".join(statements)


ANNOTATION_QUERY = (
    'SELECT "message", "kind", "state" FROM "alert" WHERE "probe" =~ /^$probe$/ AND $timeFilter'
)
STATUS_QUERY = (
    'SELECT last("online") AS "online", last("firmware") AS "firmware" '  # noqa: S608 - constants, validated registry ids
    f'FROM "probe_status" WHERE {PROBE}'
)
TREND_QUERY = (
    'SELECT last("verdict") AS "verdict", last("slope_per_year") AS "slope_per_year", '  # noqa: S608 - constants, validated registry ids
    'last("p") AS "p", last("n") AS "n", last("alpha") AS "alpha" FROM "trend" '
    f"WHERE {PROBE} AND \"quantity\" = 'nitrate'"
)


def _points_override(name: str) -> list[dm.DynamicConfigValue]:
    return [
        dm.DynamicConfigValue(id_val="custom.drawStyle", value="points"),
        dm.DynamicConfigValue(id_val="custom.pointSize", value=9),
        dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": QC_COLOR}),
        dm.DynamicConfigValue(id_val="displayName", value=name),
    ]


def below_loq_override(t: Texts) -> list[dm.DynamicConfigValue]:
    return [
        dm.DynamicConfigValue(id_val="custom.drawStyle", value="points"),
        dm.DynamicConfigValue(id_val="custom.pointSize", value=7),
        dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": STALE_COLOR}),
        dm.DynamicConfigValue(id_val="unit", value=BELOW_LOQ_UNIT),
        dm.DynamicConfigValue(
            id_val="displayName",
            value=t("unter Bestimmungsgrenze, mg/L", "below the limit of quantification, mg/L"),
        ),
    ]


def _nitrate_panel(settings: DashboardsSettings, t: Texts) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("Nitrat (mg/L NO₃)", "Nitrate (mg/L NO₃)"))
        .description(
            t(
                "Bänder: orange ab 37,5 mg/L (Trendumkehr), rot ab 50 mg/L (GrwV Anlage 2). "
                "Lila Punkte: von der Qualitätskontrolle markierte Rohwerte. Graue Punkte: "
                "unter der Bestimmungsgrenze gemeldet („< 0,5“), in Höhe der "
                "Bestimmungsgrenze gezeichnet; die Linie zeigt nur Messwerte.",
                "Bands: orange from 37.5 mg/L (trend reversal), red from 50 mg/L (GrwV "
                "Annex 2). Purple points: raw values flagged by quality control. Grey "
                'points: reported below the limit of quantification ("< 0.5"), drawn at '
                "that limit; the line shows measured values only.",
            )
        )
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", series_query("nitrate")))
        .with_target(InfluxQL("B", qc_query("nitrate")))
        .with_target(InfluxQL("D", below_loq_query("nitrate")))
        .unit(NITRATE_UNIT)
        .decimals(1)
        .min(0)
        .thresholds(nitrate_thresholds(DEFAULT_NITRATE_WARNING_MG_L, DEFAULT_NITRATE_BREACH_MG_L))
        .thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.LINE_AND_AREA)
        )
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color("blue"))
        .line_width(2)
        .fill_opacity(0)
        .span_nulls(False)
        .override_by_name(
            "nitrate", [dm.DynamicConfigValue(id_val="displayName", value=t("Nitrat", "Nitrate"))]
        )
        .override_by_name("qc_flagged", _points_override(t("QC-markiert", "QC flagged")))
        .override_by_name("below_loq", below_loq_override(t))
        .legend(
            cb.VizLegendOptions()
            .show_legend(True)
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
        )
        .grid_pos(dm.GridPos(h=10, w=16, x=0, y=0))
    )


def _level_panel(settings: DashboardsSettings, registry: Registry, t: Texts) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("Grundwasserstand (m NHN)", "Groundwater level (m NHN)"))
        .description(
            t(
                "Gestrichelt: Mindest- und Höchststand der Messstelle aus dem Register.",
                "Dashed: the probe's minimum and maximum level from the registry.",
            )
        )
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", series_query("level")))
        .with_target(InfluxQL("B", qc_query("level")))
        .with_target(InfluxQL("C", level_limits_query(registry)))
        .unit(LEVEL_UNIT)
        .decimals(2)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color("blue"))
        .line_width(2)
        .override_by_name(
            "level", [dm.DynamicConfigValue(id_val="displayName", value=t("Wasserstand", "Level"))]
        )
        .override_by_name("qc_flagged", _points_override(t("QC-markiert", "QC flagged")))
        .override_by_regexp(
            "level_(min|max)",
            [
                dm.DynamicConfigValue(
                    id_val="custom.lineStyle", value={"dash": [10, 10], "fill": "dash"}
                ),
                dm.DynamicConfigValue(
                    id_val="color", value={"mode": "fixed", "fixedColor": BREACH_COLOR}
                ),
                dm.DynamicConfigValue(id_val="custom.lineWidth", value=1),
            ],
        )
        .override_by_name(
            "level_min",
            [dm.DynamicConfigValue(id_val="displayName", value=t("Mindeststand", "Minimum level"))],
        )
        .override_by_name(
            "level_max",
            [dm.DynamicConfigValue(id_val="displayName", value=t("Höchststand", "Maximum level"))],
        )
        .grid_pos(dm.GridPos(h=10, w=16, x=0, y=10))
    )


def _trend_panel(settings: DashboardsSettings, t: Texts) -> stat.Panel:
    return (
        stat.Panel()
        .title(t("Trend Nitrat (GrwV Anlage 6)", "Nitrate trend (GrwV Annex 6)"))
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
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", TREND_QUERY).table())
        .reduce_options(
            cb.ReduceDataOptions()
            .calcs(["lastNotNull"])
            .values(False)
            .fields("/^(verdict|slope_per_year|p|n|alpha)$/")
        )
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color("text"))
        .override_by_name(
            "verdict",
            [
                dm.DynamicConfigValue(id_val="displayName", value=t("Bewertung", "Verdict")),
                dm.DynamicConfigValue(
                    id_val="mappings",
                    value=[
                        value_text(
                            {
                                "rising": (t("steigend", "rising"), BREACH_COLOR),
                                "falling": (t("fallend", "falling"), OK_COLOR),
                                "no_trend": (t("kein Trend", "no trend"), "blue"),
                                "insufficient": (
                                    t("zu wenige Werte", "too few values"),
                                    STALE_COLOR,
                                ),
                            }
                        )
                    ],
                ),
                dm.DynamicConfigValue(id_val="color", value={"mode": "thresholds"}),
            ],
        )
        .override_by_name(
            "slope_per_year",
            [
                dm.DynamicConfigValue(id_val="displayName", value=t("Sen-Steigung", "Sen's slope")),
                dm.DynamicConfigValue(
                    id_val="unit", value=t("suffix: mg/L pro Jahr", "suffix: mg/L per year")
                ),
                dm.DynamicConfigValue(id_val="decimals", value=2),
            ],
        )
        .override_by_name(
            "p",
            [
                dm.DynamicConfigValue(id_val="displayName", value="p"),
                dm.DynamicConfigValue(id_val="decimals", value=3),
            ],
        )
        .override_by_name(
            "n",
            [
                dm.DynamicConfigValue(id_val="displayName", value=t("Anzahl Werte", "Values")),
                dm.DynamicConfigValue(id_val="decimals", value=0),
            ],
        )
        .override_by_name(
            "alpha",
            [
                dm.DynamicConfigValue(id_val="displayName", value="α"),
                dm.DynamicConfigValue(id_val="decimals", value=2),
            ],
        )
        .no_value(t("noch kein Trendtest", "no trend test yet"))
        .grid_pos(dm.GridPos(h=5, w=8, x=16, y=0))
    )


def _status_panel(settings: DashboardsSettings, t: Texts) -> stat.Panel:
    return (
        stat.Panel()
        .title(t("Sonde: Verbindung und Firmware", "Probe: connection and firmware"))
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", STATUS_QUERY).table())
        .reduce_options(
            cb.ReduceDataOptions()
            .calcs(["lastNotNull"])
            .values(False)
            .fields("/^(online|firmware)$/")
        )
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color("text"))
        .override_by_name(
            "online",
            [
                dm.DynamicConfigValue(id_val="displayName", value=t("Verbindung", "Connection")),
                dm.DynamicConfigValue(
                    id_val="mappings",
                    value=[
                        dm.SpecialValueMap(
                            options=dm.DashboardSpecialValueMapOptions(
                                match=dm.SpecialValueMatch.TRUE,
                                result=dm.ValueMappingResult(
                                    text="online", color=OK_COLOR, index=0
                                ),
                            )
                        ),
                        dm.SpecialValueMap(
                            options=dm.DashboardSpecialValueMapOptions(
                                match=dm.SpecialValueMatch.FALSE,
                                result=dm.ValueMappingResult(
                                    text="offline", color=BREACH_COLOR, index=1
                                ),
                            )
                        ),
                    ],
                ),
                dm.DynamicConfigValue(id_val="color", value={"mode": "thresholds"}),
            ],
        )
        .override_by_name(
            "firmware", [dm.DynamicConfigValue(id_val="displayName", value="Firmware")]
        )
        .grid_pos(dm.GridPos(h=5, w=8, x=16, y=5))
    )


def _battery_panel(settings: DashboardsSettings, t: Texts) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("Batterie", "Battery"))
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", series_query("battery")))
        .unit("percent")
        .decimals(0)
        .min(0)
        .max(100)
        .thresholds(thresholds((None, BREACH_COLOR), (20, WARNING_COLOR), (40, OK_COLOR)))
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.AREA))
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color("text"))
        .override_by_name(
            "battery", [dm.DynamicConfigValue(id_val="displayName", value=t("Batterie", "Battery"))]
        )
        .grid_pos(dm.GridPos(h=10, w=8, x=16, y=10))
    )


def _variables(
    settings: DashboardsSettings, registry: Registry, t: Texts
) -> list[db.QueryVariable]:
    ds = datasource_ref(settings)
    first = sorted(probe.probe_id for probe in registry)[0]
    site = (
        db.QueryVariable("site")
        .label(t("Standort", "Site"))
        .datasource(ds)
        .query(
            'SHOW TAG VALUES FROM "reading" WITH KEY = "site" '
            'WHERE "municipality" =~ /^$municipality$/'
        )
        .multi(True)
        .include_all(True)
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )
    probe = (
        db.QueryVariable("probe")
        .label(t("Messstelle", "Probe"))
        .datasource(ds)
        .query(
            'SHOW TAG VALUES FROM "reading" WITH KEY = "probe" WHERE "municipality" =~ '
            '/^$municipality$/ AND "site" =~ /^$site$/'
        )
        .multi(False)
        .include_all(False)
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .current(dm.VariableOption(selected=True, text=first, value=first))
    )
    return [municipality_variable(settings, t), site, probe]


def annotation(settings: DashboardsSettings, t: Texts) -> db.AnnotationQuery:
    return (
        db.AnnotationQuery()
        .name(t("Alarme", "Alerts"))
        .datasource(datasource_ref(settings))
        .enable(True)
        .icon_color(BREACH_COLOR)
    )


def build_probe(settings: DashboardsSettings, registry: Registry) -> db.Dashboard:
    t = Texts(settings.language)
    dashboard = (
        db.Dashboard(t("Grundwasser – Messstelle", "Groundwater – probe"))
        .uid(UID)
        .tags(["gwmon", t("Grundwasser", "groundwater")])
        .description(
            t(
                "Eine Messstelle im Detail: Nitrat und Wasserstand mit Schwellen, "
                "QC-Markierungen, Alarme als Anmerkungen, Batterie, Status und Trend.",
                "One probe in detail: nitrate and level with thresholds, QC flags, alerts "
                "as annotations, battery, status and trend.",
            )
        )
        .time("now-30d", "now")
        .timezone(settings.timezone)
        .refresh(settings.refresh)
        .readonly()
        .annotation(annotation(settings, t))
        .link(
            db.DashboardLink(t("Übersicht", "Overview"))
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["gwmon"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_panel(_nitrate_panel(settings, t))
        .with_panel(_trend_panel(settings, t))
        .with_panel(_status_panel(settings, t))
        .with_panel(_level_panel(settings, registry, t))
        .with_panel(_battery_panel(settings, t))
    )
    for variable in _variables(settings, registry, t):
        dashboard = dashboard.with_variable(variable)
    return dashboard
