"""Dashboard 1: the control-room overview (map, nitrate, levels, open alerts, freshness)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from gwmon.dashboards._common import (
    BELOW_LOQ_UNIT,
    BREACH_COLOR,
    LEVEL_UNIT,
    MUNICIPALITY,
    NITRATE_UNIT,
    OK_COLOR,
    Texts,
    dashboard_link,
    datasource_ref,
    drilldown_link,
    legal_nitrate,
    legal_nitrate_thresholds,
    nitrate_thresholds,
    prop,
    thresholds,
)
from gwmon.dashboards._overview_map import map_panel
from gwmon.dashboards._overview_tables import alerts_panel, freshness_panel
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.dashboards._target import InfluxQL
from gwmon.ingest import DEFAULT_NITRATE_BREACH_MG_L, DEFAULT_NITRATE_WARNING_MG_L, Probe, Registry
from gwmon.storage import READING
from gwmon.storage import influxql as q

UID = "gwmon-overview"


def latest_nitrate_query(*, censored: bool) -> q.Select:
    """The latest nitrate per probe, split by what it is: a measured value (A) or a
    limit of quantification, "< 0.5" (B). `last("value"), "censored"` returns the
    censored field of that latest point (null when measured); only one statement per
    probe returns a row."""
    latest = (
        q.select(READING, q.last("value"), "censored")
        .where(q.eq("quantity", "nitrate"), MUNICIPALITY, q.TIME_FILTER)
        .group_by("probe")
    )
    kind = q.eq("censored", True) if censored else q.ne("censored", True)
    return q.select(latest, "last").where(kind).group_by("probe")


def latest_level_query() -> q.Select:
    return (
        q.select(READING, q.last("value"))
        .where(q.eq("quantity", "level"), MUNICIPALITY, q.TIME_FILTER)
        .group_by("probe")
    )


def _per_probe_gauge(settings: DashboardsSettings, t: Texts, title: str) -> bargauge.Panel:
    """A horizontal bar per probe with its latest value, clicking opens the probe."""
    return (
        bargauge.Panel()
        .title(title)
        .datasource(datasource_ref(settings))
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .display_mode(cm.BarGaugeDisplayMode.BASIC)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .show_unfilled(True)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .data_links([drilldown_link(t, "${__series.name}")])
    )


def _by_probe(registry: Registry) -> list[Probe]:
    return sorted(registry, key=lambda item: item.probe_id)


def nitrate_panel(settings: DashboardsSettings, registry: Registry, t: Texts) -> bargauge.Panel:
    legal = legal_nitrate(t)
    panel = (
        _per_probe_gauge(
            settings, t, t("Nitrat aktuell je Messstelle", "Current nitrate per probe")
        )
        .description(
            t(
                f"Letzter Nitratwert (mg/L NO₃) im gewählten Zeitraum; orange ab {legal.warning} "
                f"mg/L (Trendumkehr, {legal.share} % des Schwellenwerts), rot ab {legal.breach} "
                "mg/L (GrwV Anlage 2). „< 0,5“: zuletzt unter der Bestimmungsgrenze gemeldet.",
                f"Latest nitrate (mg/L NO₃) in the time range; orange from {legal.warning} mg/L "
                f"(trend reversal, {legal.share} % of the threshold), red from {legal.breach} "
                'mg/L (GrwV Annex 2). "< 0.5": last reported below the limit of quantification.',
            )
        )
        .with_target(InfluxQL("A", latest_nitrate_query(censored=False)).alias("$tag_probe"))
        .with_target(InfluxQL("B", latest_nitrate_query(censored=True)).alias("$tag_probe"))
        .override_by_query("B", [prop("unit", BELOW_LOQ_UNIT)])
        .unit(NITRATE_UNIT)
        .decimals(1)
        .min(0)
        .max(80)
        .thresholds(legal_nitrate_thresholds())
        .grid_pos(dm.GridPos(h=14, w=12, x=12, y=0))
    )
    for probe in _by_probe(registry):
        own = (probe.nitrate_warning_mg_l, probe.nitrate_breach_mg_l)
        if own != (DEFAULT_NITRATE_WARNING_MG_L, DEFAULT_NITRATE_BREACH_MG_L):
            steps = nitrate_thresholds(*own).build()
            panel = panel.override_by_name(probe.probe_id, [prop("thresholds", steps)])
    return panel


def _level_limits(probe: Probe) -> list[dm.DynamicConfigValue]:
    """Green between the probe's minimum and maximum level, red outside; the bar's
    range a little wider than the limits."""
    low, high = probe.level_min_m_nhn, probe.level_max_m_nhn
    steps: list[tuple[float | None, str]] = [(None, BREACH_COLOR if low is not None else OK_COLOR)]
    if low is not None:
        steps.append((low, OK_COLOR))
    if high is not None:
        steps.append((high, BREACH_COLOR))
    properties = [prop("thresholds", thresholds(*steps).build())]
    if low is not None:
        properties.append(prop("min", round(low - 2.0, 2)))
    if high is not None:
        properties.append(prop("max", round(high + 1.0, 2)))
    return properties


def level_panel(settings: DashboardsSettings, registry: Registry, t: Texts) -> bargauge.Panel:
    title = t("Grundwasserstand gegen Grenzen", "Groundwater level against limits")
    panel = (
        _per_probe_gauge(settings, t, title)
        .description(
            t(
                "Letzter Wasserstand (m NHN). Je Messstelle aus dem Register: grün zwischen "
                "Mindest- und Höchststand, rot darunter bzw. darüber.",
                "Latest level (m NHN). Per probe from the registry: green between minimum "
                "and maximum level, red below or above.",
            )
        )
        .with_target(InfluxQL("A", latest_level_query()).alias("$tag_probe"))
        .unit(LEVEL_UNIT)
        .decimals(2)
        .thresholds(thresholds((None, OK_COLOR)))
        .grid_pos(dm.GridPos(h=12, w=24, x=0, y=24))
    )
    for probe in _by_probe(registry):
        if probe.level_min_m_nhn is not None or probe.level_max_m_nhn is not None:
            panel = panel.override_by_name(probe.probe_id, _level_limits(probe))
    return panel


def municipality_variable(settings: DashboardsSettings, t: Texts) -> db.QueryVariable:
    return (
        db.QueryVariable("municipality")
        .label(t("Kommune", "Municipality"))
        .datasource(datasource_ref(settings))
        .query(q.show_tag_values(READING, "municipality").text)
        .multi(True)
        .include_all(True)
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def build_overview(settings: DashboardsSettings, registry: Registry) -> db.Dashboard:
    t = Texts(settings.language)
    return (
        db.Dashboard(t("Grundwasser – Übersicht", "Groundwater – overview"))
        .uid(UID)
        .tags(["gwmon", t("Grundwasser", "groundwater")])
        .description(
            t(
                "Leitwarte: Zustand aller Messstellen, Nitrat, Wasserstände, offene Alarme.",
                "Control room: state of all probes, nitrate, levels, open alerts.",
            )
        )
        .time("now-7d", "now")
        .timezone(settings.timezone)
        .refresh(settings.refresh)
        .readonly()
        .with_variable(municipality_variable(settings, t))
        .link(dashboard_link(t("Messstelle im Detail", "Probe drilldown")))
        .with_panel(map_panel(settings, registry, t))
        .with_panel(nitrate_panel(settings, registry, t))
        .with_panel(alerts_panel(settings, t))
        .with_panel(freshness_panel(settings, t))
        .with_panel(level_panel(settings, registry, t))
    )
