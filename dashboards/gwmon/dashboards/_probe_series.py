"""The probe dashboard's time series: nitrate, level (each raw and corrected; level with
the manual dips) and battery."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from gwmon.dashboards._common import (
    BELOW_LOQ_UNIT,
    BREACH_COLOR,
    LEVEL_UNIT,
    NITRATE_UNIT,
    OK_COLOR,
    PROBE,
    QC_COLOR,
    STALE_COLOR,
    WARNING_COLOR,
    Texts,
    datasource_ref,
    display_name,
    fixed_color,
    legal_nitrate,
    legal_nitrate_thresholds,
    prop,
    thresholds,
)
from gwmon.dashboards._probe_records import corrected_query, dip_query
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.dashboards._target import InfluxQL
from gwmon.ingest import Registry
from gwmon.storage import QC, READING, Statement
from gwmon.storage import influxql as q


def series_query(quantity: str) -> q.Select:
    """Measured values only: a value stored with `censored = true` is a limit of
    quantification ("< 0.5"), not a measurement, and must not enter a mean. InfluxQL
    cannot test a field that is absent, but a subquery returns it as null, which the
    outer `<> true` keeps."""
    values = q.select(READING, "value", "censored").where(
        PROBE, q.eq("quantity", quantity), q.TIME_FILTER
    )
    return (
        q.select(values, q.mean("value").as_(quantity))
        .where(q.ne("censored", True), q.TIME_FILTER)
        .group_by(interval=q.GRAFANA_INTERVAL)
        .fill("none")
    )


def below_loq_query(quantity: str) -> q.Select:
    """Values reported below the limit of quantification: drawn at the LOQ, shown as
    "< 0.5" (unit prefix "< ")."""
    return q.select(READING, q.Col("value").as_("below_loq")).where(
        PROBE, q.eq("quantity", quantity), q.eq("censored", True), q.TIME_FILTER
    )


def qc_query(quantity: str) -> q.Select:
    return q.select(QC, q.Col("value").as_("qc_flagged")).where(
        PROBE, q.eq("quantity", quantity), q.TIME_FILTER
    )


def level_limits_query(registry: Registry) -> list[Statement]:
    """Per-probe limit lines: only the statement of the selected probe returns rows."""
    statements: list[Statement] = []
    for probe in sorted(registry, key=lambda item: item.probe_id):
        limits = [
            (q.mean("value") * 0 + level).as_(name)
            for name, level in (
                ("level_min", probe.level_min_m_nhn),
                ("level_max", probe.level_max_m_nhn),
            )
            if level is not None
        ]
        if not limits:
            continue
        statements.append(
            q.select(READING, *limits)
            .where(q.eq("probe", probe.probe_id), PROBE, q.eq("quantity", "level"), q.TIME_FILTER)
            .group_by(interval=q.GRAFANA_INTERVAL)
            .fill("none")
        )
    return statements


def _points(size: int, color: str) -> list[dm.DynamicConfigValue]:
    return [prop("custom.drawStyle", "points"), prop("custom.pointSize", size), fixed_color(color)]


def _qc_points(t: Texts) -> list[dm.DynamicConfigValue]:
    return [*_points(9, QC_COLOR), prop("displayName", t("QC-markiert", "QC flagged"))]


def below_loq_points(t: Texts) -> list[dm.DynamicConfigValue]:
    name = t("unter Bestimmungsgrenze, mg/L", "below the limit of quantification, mg/L")
    return [*_points(7, STALE_COLOR), prop("unit", BELOW_LOQ_UNIT), prop("displayName", name)]


def _corrected_line(t: Texts) -> list[dm.DynamicConfigValue]:
    return [
        prop("custom.lineStyle", {"dash": [4, 4], "fill": "dash"}),
        fixed_color(OK_COLOR),
        prop("displayName", t("korrigiert", "corrected")),
    ]


def _dip_points(t: Texts) -> list[dm.DynamicConfigValue]:
    return [*_points(10, WARNING_COLOR), prop("displayName", t("Abstich", "Manual dip"))]


def _series(settings: DashboardsSettings, title: str, color: str) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .datasource(datasource_ref(settings))
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color(color))
    )


def nitrate_panel(settings: DashboardsSettings, t: Texts) -> timeseries.Panel:
    legal = legal_nitrate(t)
    return (
        _series(settings, t("Nitrat (mg/L NO₃)", "Nitrate (mg/L NO₃)"), "blue")
        .description(
            t(
                f"Bänder: orange ab {legal.warning} mg/L (Trendumkehr), rot ab {legal.breach} "
                "mg/L (GrwV Anlage 2). Lila Punkte: von der Qualitätskontrolle markierte "
                "Rohwerte. Graue Punkte: unter der Bestimmungsgrenze gemeldet („< 0,5“), in "
                "Höhe der Bestimmungsgrenze gezeichnet; die Linie zeigt nur Messwerte.",
                f"Bands: orange from {legal.warning} mg/L (trend reversal), red from "
                f"{legal.breach} mg/L (GrwV Annex 2). Purple points: raw values flagged by "
                "quality control. Grey points: reported below the limit of quantification "
                '("< 0.5"), drawn at that limit; the line shows measured values only.',
            )
        )
        .with_target(InfluxQL("A", series_query("nitrate")))
        .with_target(InfluxQL("B", qc_query("nitrate")))
        .with_target(InfluxQL("D", below_loq_query("nitrate")))
        .with_target(InfluxQL("E", corrected_query("nitrate")))
        .unit(NITRATE_UNIT)
        .decimals(1)
        .min(0)
        .thresholds(legal_nitrate_thresholds())
        .thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.LINE_AND_AREA)
        )
        .line_width(2)
        .fill_opacity(0)
        .span_nulls(False)
        .override_by_name("nitrate", display_name(t("Nitrat", "Nitrate")))
        .override_by_name("qc_flagged", _qc_points(t))
        .override_by_name("below_loq", below_loq_points(t))
        .override_by_name("nitrate_corrected", _corrected_line(t))
        .legend(
            cb.VizLegendOptions()
            .show_legend(True)
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
        )
        .grid_pos(dm.GridPos(h=10, w=16, x=0, y=0))
    )


def level_panel(settings: DashboardsSettings, registry: Registry, t: Texts) -> timeseries.Panel:
    dashed_limit = [
        prop("custom.lineStyle", {"dash": [10, 10], "fill": "dash"}),
        fixed_color(BREACH_COLOR),
        prop("custom.lineWidth", 1),
    ]
    return (
        _series(settings, t("Grundwasserstand (m NHN)", "Groundwater level (m NHN)"), "blue")
        .description(
            t(
                "Gestrichelt rot: Mindest- und Höchststand der Messstelle aus dem "
                "Register. Gestrichelt grün: die korrigierte Reihe (wo korrigiert). Orange "
                "Punkte: manuelle Abstiche.",
                "Dashed red: the probe's minimum and maximum level from the registry. "
                "Dashed green: the corrected series (where corrected). Orange points: "
                "manual dips.",
            )
        )
        .with_target(InfluxQL("A", series_query("level")))
        .with_target(InfluxQL("B", qc_query("level")))
        .with_target(InfluxQL("C", level_limits_query(registry)))
        .with_target(InfluxQL("E", corrected_query("level")))
        .with_target(InfluxQL("F", dip_query()))
        .unit(LEVEL_UNIT)
        .decimals(2)
        .line_width(2)
        .override_by_name("level", display_name(t("Wasserstand", "Level")))
        .override_by_name("qc_flagged", _qc_points(t))
        .override_by_regexp("level_(min|max)", dashed_limit)
        .override_by_name("level_min", display_name(t("Mindeststand", "Minimum level")))
        .override_by_name("level_max", display_name(t("Höchststand", "Maximum level")))
        .override_by_name("level_corrected", _corrected_line(t))
        .override_by_name("dip", _dip_points(t))
        .grid_pos(dm.GridPos(h=10, w=16, x=0, y=10))
    )


def battery_panel(settings: DashboardsSettings, t: Texts) -> timeseries.Panel:
    return (
        _series(settings, t("Batterie", "Battery"), "text")
        .with_target(InfluxQL("A", series_query("battery")))
        .unit("percent")
        .decimals(0)
        .min(0)
        .max(100)
        .thresholds(thresholds((None, BREACH_COLOR), (20, WARNING_COLOR), (40, OK_COLOR)))
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.AREA))
        .override_by_name("battery", display_name(t("Batterie", "Battery")))
        .grid_pos(dm.GridPos(h=10, w=8, x=16, y=10))
    )
