"""The overview's map: every probe at its registry coordinates, coloured by its worst
open alert."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import geomap
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as gm

from gwmon.dashboards._common import (
    BREACH_COLOR,
    KIND_STATE,
    MUNICIPALITY,
    OK_COLOR,
    SENSOR_FAULT_COLOR,
    STALE_COLOR,
    STATE_BREACH,
    STATE_OK,
    STATE_SENSOR_FAULT,
    STATE_STALE,
    STATE_WARNING,
    WARNING_COLOR,
    Texts,
    datasource_ref,
    drilldown_link,
    prop,
    sdk_number,
    special_value,
    thresholds,
    transformation,
    value_text,
)
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.dashboards._target import InfluxQL
from gwmon.ingest import Registry
from gwmon.storage import ALERT, READING, Statement
from gwmon.storage import influxql as q

# Columns the map's rows carry; all but probe and state are taken from the first
# statement that has them (groupBy firstNotNull), the state is the worst (max).
_FIRST_NOT_NULL = ("site", "lat", "lon", "nitrate", "below_loq")


def map_coordinates_query(registry: Registry) -> list[Statement]:
    """One statement per probe: latest nitrate with the registry's coordinates baked in.

    InfluxDB holds no coordinates (docs/storage.md tags: probe, site, municipality), so
    they come from the registry at build time; `last("value") * 0 + <lat>` makes InfluxQL
    return the constant next to the probe's row. State 0 (ok) is the floor the alert
    statements raise. The inner `last("value"), "censored"` returns the censored field of
    that same (latest) point, null for a measured value: the tooltip shows "< BG" beside
    a value that is a limit of quantification.
    """
    statements: list[Statement] = []
    last = q.Col("last")
    for probe in sorted(registry, key=lambda item: item.probe_id):
        latest = (
            q.select(READING, q.last("value"), "censored")
            .where(q.eq("probe", probe.probe_id), q.eq("quantity", "nitrate"), MUNICIPALITY)
            .group_by("probe", "site")
        )
        statements.append(
            q.select(
                latest,
                last.as_("nitrate"),
                q.Col("censored").as_("below_loq"),
                (last * 0 + float(probe.lat)).as_("lat"),
                (last * 0 + float(probe.lon)).as_("lon"),
                (last * 0 + STATE_OK).as_("state"),
            ).group_by("probe", "site")
        )
    return statements


def map_state_query() -> list[Statement]:
    """One statement per alert kind: state code of every probe with such an open alert.

    At most one alert per (probe, kind) is open (docs/alerts.md), so count() is 0 or 1
    and count() * code is the code.
    """
    statements: list[Statement] = []
    for kind, code in sorted(KIND_STATE.items()):
        latest = (
            q.select(ALERT, q.last("state").as_("state"))
            .where(q.eq("kind", kind), MUNICIPALITY)
            .group_by("probe")
        )
        statements.append(
            q.select(latest, (q.count("state") * code).as_("state"))
            .where(q.ne("state", "resolved"))
            .group_by("probe")
        )
    return statements


def _state_mappings(t: Texts) -> list[dm.ValueMapping]:
    return [
        value_text(
            {
                str(STATE_OK): (t("in Ordnung", "ok"), OK_COLOR),
                str(STATE_WARNING): (t("Warnung", "warning"), WARNING_COLOR),
                str(STATE_SENSOR_FAULT): (t("Sensorstörung", "sensor fault"), SENSOR_FAULT_COLOR),
                str(STATE_STALE): (t("keine Daten", "stale"), STALE_COLOR),
                str(STATE_BREACH): (t("Schwellenwert überschritten", "breach"), BREACH_COLOR),
            }
        )
    ]


def _state_thresholds() -> db.ThresholdsConfig:
    return thresholds(
        (None, OK_COLOR),
        (STATE_WARNING, WARNING_COLOR),
        (STATE_SENSOR_FAULT, SENSOR_FAULT_COLOR),
        (STATE_STALE, STALE_COLOR),
        (STATE_BREACH, BREACH_COLOR),
    )


def _markers(t: Texts) -> cb.MapLayerOptions:
    style = {
        "color": {"field": "state", "fixed": OK_COLOR},
        "opacity": 0.9,
        "size": {"fixed": 9, "max": 15, "min": 4},
        "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
        "text": {"field": "probe", "fixed": "", "mode": "field"},
        "textConfig": {
            "fontSize": 11,
            "offsetY": -12,
            "textAlign": "center",
            "textBaseline": "bottom",
        },
    }
    return (
        cb.MapLayerOptions()
        .type("markers")
        .name(t("Messstellen", "Probes"))
        .config({"showLegend": True, "style": style})
        .location(
            cb.FrameGeometrySource()
            .mode(cm.FrameGeometrySourceMode.COORDS)
            .latitude("lat")
            .longitude("lon")
        )
        .tooltip(True)
    )


def _one_row_per_probe() -> list[dm.DataTransformerConfig]:
    """Grafana: merge both targets' frames, group by probe (worst state), rename back."""
    fields: dict[str, object] = {"probe": {"aggregations": [], "operation": "groupby"}}
    for column in _FIRST_NOT_NULL:
        fields[column] = {"aggregations": ["firstNotNull"], "operation": "aggregate"}
    fields["state"] = {"aggregations": ["max"], "operation": "aggregate"}
    rename = {f"{column} (firstNotNull)": column for column in _FIRST_NOT_NULL}
    rename["state (max)"] = "state"
    return [
        transformation("merge", {}),
        transformation("groupBy", {"fields": fields}),
        transformation("organize", {"renameByName": rename}),
    ]


def _below_loq_override(t: Texts) -> list[dm.DynamicConfigValue]:
    return [
        prop("displayName", t("Nitrat unter Bestimmungsgrenze", "nitrate below the LOQ")),
        prop(
            "mappings",
            [
                special_value(
                    dm.SpecialValueMatch.TRUE,
                    t(
                        "ja: der Wert ist die Bestimmungsgrenze (< BG)",
                        "yes: the value is the LOQ (< LOQ)",
                    ),
                    0,
                ),
                special_value(dm.SpecialValueMatch.NULL, t("nein", "no"), 1),
            ],
        ),
    ]


def _centre(registry: Registry) -> geomap.MapViewConfig:
    lat = sum(probe.lat for probe in registry) / len(registry)
    lon = sum(probe.lon for probe in registry) / len(registry)
    return (
        geomap.MapViewConfig()
        .id("coords")
        .lat(sdk_number(round(lat, 4)))
        .lon(sdk_number(round(lon, 4)))
        .zoom(10)
    )


def map_panel(settings: DashboardsSettings, registry: Registry, t: Texts) -> geomap.Panel:
    panel = (
        geomap.Panel()
        .title(t("Messstellen – Zustand", "Probes – state"))
        .description(
            t(
                "Farbe = schlimmster offener Alarm je Messstelle (rot Schwellenwert "
                "überschritten, grau keine Daten, lila Sensorstörung, orange Warnung, "
                "grün in Ordnung). Koordinaten aus dem Messstellenregister.",
                "Colour = worst open alert per probe (red breach, grey stale, purple "
                "sensor fault, orange warning, green ok). Coordinates from the registry.",
            )
        )
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", map_coordinates_query(registry)).table())
        .with_target(InfluxQL("B", map_state_query()).table())
    )
    for step in _one_row_per_probe():
        panel = panel.with_transformation(step)
    return (
        panel.mappings(_state_mappings(t))
        .override_by_name("below_loq", _below_loq_override(t))
        .thresholds(_state_thresholds())
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .data_links([drilldown_link(t, "${__data.fields.probe}")])
        .view(_centre(registry))
        .basemap(cb.MapLayerOptions().type("default").name(t("Basiskarte", "Base map")))
        .layers([_markers(t)])
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(False).show_scale(True))
        .tooltip(geomap.TooltipOptions().mode(gm.TooltipMode.DETAILS))
        .grid_pos(dm.GridPos(h=14, w=12, x=0, y=0))
    )
