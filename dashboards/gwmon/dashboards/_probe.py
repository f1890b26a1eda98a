"""Dashboard 2: one probe in detail (municipality -> site -> probe)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from gwmon.dashboards._common import (
    BREACH_COLOR,
    PROBE,
    PROBE_UID,
    Texts,
    dashboard_link,
    datasource_ref,
)
from gwmon.dashboards._overview import municipality_variable
from gwmon.dashboards._probe_records import ANNOTATIONS as RECORD_ANNOTATIONS
from gwmon.dashboards._probe_records import approvals_panel, corrections_panel
from gwmon.dashboards._probe_series import battery_panel, level_panel, nitrate_panel
from gwmon.dashboards._probe_stats import status_panel, trend_panel
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.ingest import Registry
from gwmon.storage import ALERT, READING
from gwmon.storage import influxql as q

UID = PROBE_UID

# Alerts as annotations: the text is the alert's message, its tags kind and state.
ANNOTATION_TEXT = "message"
ANNOTATION_TAGS = ("kind", "state")
ANNOTATION_QUERY = q.select(ALERT, ANNOTATION_TEXT, *ANNOTATION_TAGS).where(PROBE, q.TIME_FILTER)

SITE_QUERY = q.show_tag_values(READING, "site").where(
    q.matches_variable("municipality", "municipality")
)
PROBE_QUERY = q.show_tag_values(READING, "probe").where(
    q.matches_variable("municipality", "municipality"), q.matches_variable("site", "site")
)


def _cascading(
    settings: DashboardsSettings, name: str, label: str, query: q.ShowTagValues
) -> db.QueryVariable:
    """A variable whose values depend on those chosen before it."""
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(datasource_ref(settings))
        .query(query.text)
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )


def _variables(
    settings: DashboardsSettings, registry: Registry, t: Texts
) -> list[db.QueryVariable]:
    first = sorted(probe.probe_id for probe in registry)[0]
    site = (
        _cascading(settings, "site", t("Standort", "Site"), SITE_QUERY)
        .multi(True)
        .include_all(True)
        .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )
    probe = (
        _cascading(settings, "probe", t("Messstelle", "Probe"), PROBE_QUERY)
        .multi(False)
        .include_all(False)
        .current(dm.VariableOption(selected=True, text=first, value=first))
    )
    return [municipality_variable(settings, t), site, probe]


def annotation(settings: DashboardsSettings, t: Texts) -> db.AnnotationQuery:
    """The alerts as annotations; the InfluxQL fields the SDK cannot express are added
    in the build (`gwmon.dashboards._build`)."""
    return (
        db.AnnotationQuery()
        .name(t("Alarme", "Alerts"))
        .datasource(datasource_ref(settings))
        .enable(True)
        .icon_color(BREACH_COLOR)
    )


def record_annotations(settings: DashboardsSettings, t: Texts) -> list[db.AnnotationQuery]:
    """Corrections and field visits (dips) as annotations; their InfluxQL is added in the
    build like the alerts' (`gwmon.dashboards._build`)."""
    return [
        db.AnnotationQuery()
        .name(t(*record.name))
        .datasource(datasource_ref(settings))
        .enable(True)
        .icon_color(record.color)
        for record in RECORD_ANNOTATIONS
    ]


def annotation_columns() -> dict[str, tuple[q.Select, str, tuple[str, ...]]]:
    """Annotation name (German and English) -> its query, text column and tag columns."""
    columns: dict[str, tuple[q.Select, str, tuple[str, ...]]] = {
        name: (ANNOTATION_QUERY, ANNOTATION_TEXT, ANNOTATION_TAGS) for name in ("Alarme", "Alerts")
    }
    for record in RECORD_ANNOTATIONS:
        for name in record.name:
            columns[name] = (record.query, record.text_column, record.tag_columns)
    return columns


def build_probe(settings: DashboardsSettings, registry: Registry) -> db.Dashboard:
    t = Texts(settings.language)
    dashboard = (
        db.Dashboard(t("Grundwasser – Messstelle", "Groundwater – probe"))
        .uid(UID)
        .tags(["gwmon", t("Grundwasser", "groundwater")])
        .description(
            t(
                "Eine Messstelle im Detail: Nitrat und Wasserstand roh und korrigiert mit "
                "Schwellen, QC-Markierungen und Abstichen, Alarme, Korrekturen und "
                "Wartung als Anmerkungen, Batterie, Status, Trend, Freigabestufen.",
                "One probe in detail: nitrate and level raw and corrected with thresholds, "
                "QC flags and dips, alerts, corrections and maintenance as annotations, "
                "battery, status, trend, approval levels.",
            )
        )
        .time("now-30d", "now")
        .timezone(settings.timezone)
        .refresh(settings.refresh)
        .readonly()
        .annotation(annotation(settings, t))
        .link(dashboard_link(t("Übersicht", "Overview")))
        .with_panel(nitrate_panel(settings, t))
        .with_panel(trend_panel(settings, t))
        .with_panel(status_panel(settings, t))
        .with_panel(level_panel(settings, registry, t))
        .with_panel(battery_panel(settings, t))
        .with_panel(approvals_panel(settings, t))
        .with_panel(corrections_panel(settings, t))
    )
    for extra in record_annotations(settings, t):
        dashboard = dashboard.annotation(extra)
    for variable in _variables(settings, registry, t):
        dashboard = dashboard.with_variable(variable)
    return dashboard
