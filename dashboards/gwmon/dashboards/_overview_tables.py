"""The overview's tables: open alerts and data freshness."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import dashboard as dm

from gwmon.dashboards._common import (
    BREACH_COLOR,
    KIND_DE,
    MUNICIPALITY,
    SENSOR_FAULT_COLOR,
    STALE_COLOR,
    WARNING_COLOR,
    Texts,
    datasource_ref,
    drilldown_link,
    prop,
    transformation,
    value_text,
)
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.dashboards._target import InfluxQL
from gwmon.storage import ALERT, READING
from gwmon.storage import influxql as q

# Alert columns the table shows, taken from each alert's latest point.
_ALERT_COLUMNS = ("alert_id", "state", "value", "threshold", "unit")
_ALERT_KEYS = ("probe", "kind", "severity")


def open_alerts_query() -> q.Select:
    latest = (
        q.select(
            ALERT,
            *(q.last(column).as_(column) for column in _ALERT_COLUMNS),
            (q.last("opened_at_s") * 1000).as_("opened_ms"),
            q.last("message").as_("message"),
        )
        .where(MUNICIPALITY)
        .group_by(*_ALERT_KEYS)
    )
    return (
        q.select(latest, *_ALERT_COLUMNS, "opened_ms", "message")
        .where(q.ne("state", "resolved"))
        .group_by(*_ALERT_KEYS)
    )


def freshness_query() -> q.Select:
    return q.select(READING, q.last("lag_s").as_("lag_s")).where(MUNICIPALITY).group_by("probe")


def _kind_mappings(t: Texts) -> list[dm.ValueMapping]:
    english = {
        "breach": "breach",
        "warning": "nitrate warning",
        "level_low": "level low",
        "level_high": "level high",
        "sensor_fault": "sensor fault",
        "stale": "stale",
        "trend": "rising trend",
    }
    colours = {
        "breach": BREACH_COLOR,
        "sensor_fault": SENSOR_FAULT_COLOR,
        "stale": STALE_COLOR,
    }
    return [
        value_text(
            {
                kind: (t(KIND_DE[kind], english[kind]), colours.get(kind, WARNING_COLOR))
                for kind in english
            }
        )
    ]


def _alert_columns(t: Texts) -> dict[str, object]:
    """Order and German names of the alert table's columns."""
    names = {
        "kind": t("Art", "Kind"),
        "severity": t("Schwere", "Severity"),
        "probe": t("Messstelle", "Probe"),
        "opened_ms": t("seit", "since"),
        "value": t("Wert", "Value"),
        "threshold": t("Schwelle", "Threshold"),
        "state": t("Status", "State"),
        "message": t("Meldung", "Message"),
    }
    return {
        "excludeByName": {"Time": True, "alert_id": True, "unit": True},
        "indexByName": {column: index for index, column in enumerate(names)},
        "renameByName": names,
    }


def alerts_panel(settings: DashboardsSettings, t: Texts) -> table.Panel:
    state_words = {
        "open": (t("offen", "open"), BREACH_COLOR),
        "acknowledged": (t("quittiert", "acknowledged"), WARNING_COLOR),
    }
    return (
        table.Panel()
        .title(t("Offene Alarme", "Open alerts"))
        .description(
            t(
                "Alarme, die offen oder quittiert (noch nicht behoben) sind. „seit“ ist "
                "die Messzeit, die den Alarm ausgelöst hat.",
                "Alerts that are open or acknowledged (not resolved). 'since' is the "
                "measurement time that opened the alert.",
            )
        )
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", open_alerts_query()).table())
        .with_transformation(transformation("organize", _alert_columns(t)))
        .override_by_name(t("seit", "since"), [prop("unit", "dateTimeAsIso")])
        .override_by_name(
            t("Art", "Kind"),
            [
                prop("mappings", _kind_mappings(t)),
                prop("custom.cellOptions", {"type": "color-background"}),
            ],
        )
        .override_by_name(t("Status", "State"), [prop("mappings", [value_text(state_words)])])
        .decimals(1)
        .sort_by([cb.TableSortByFieldState().display_name(t("seit", "since")).desc(True)])
        .no_value(t("keine offenen Alarme", "no open alerts"))
        .data_links([drilldown_link(t, "${__data.fields.probe}")])
        .grid_pos(dm.GridPos(h=10, w=16, x=0, y=14))
    )


def freshness_panel(settings: DashboardsSettings, t: Texts) -> table.Panel:
    latest = t("letzter Wert", "latest value")
    delay = t("Verzug", "Delay")
    columns = {
        "indexByName": {"probe": 0, "Time": 1, "lag_s": 2},
        "renameByName": {"probe": t("Messstelle", "Probe"), "Time": latest, "lag_s": delay},
    }
    return (
        table.Panel()
        .title(t("Datenaktualität", "Data freshness"))
        .description(
            t(
                "Messzeit des letzten Werts je Messstelle (älteste oben) und wie spät er "
                "ankam. Stille Messstellen öffnen zusätzlich einen Alarm „keine Daten“.",
                "Measurement time of the latest value per probe (oldest first) and how late "
                "it arrived. Silent probes also open a 'stale' alert.",
            )
        )
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", freshness_query()).table())
        .with_transformation(transformation("organize", columns))
        .override_by_name(latest, [prop("unit", "dateTimeFromNow")])
        .override_by_name(delay, [prop("unit", "s"), prop("decimals", 0)])
        .sort_by([cb.TableSortByFieldState().display_name(latest).desc(False)])
        .data_links([drilldown_link(t, "${__data.fields.probe}")])
        .grid_pos(dm.GridPos(h=10, w=8, x=16, y=14))
    )
