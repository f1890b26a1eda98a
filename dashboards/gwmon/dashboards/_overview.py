"""Dashboard 1: the control-room overview (map, nitrate, levels, open alerts, freshness)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, geomap, table
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as gm

from gwmon.dashboards._common import (
    BELOW_LOQ_UNIT,
    BREACH_COLOR,
    KIND_STATE,
    LEVEL_UNIT,
    NITRATE_UNIT,
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
    nitrate_thresholds,
    regex_tag,
    sdk_number,
    thresholds,
    transformation,
    value_text,
)
from gwmon.dashboards._influxql import InfluxQL
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.ingest import DEFAULT_NITRATE_BREACH_MG_L, DEFAULT_NITRATE_WARNING_MG_L, Registry

UID = "gwmon-overview"
MUNICIPALITY = regex_tag("municipality", "municipality")


def _fmt(value: float) -> str:
    return repr(float(value))


def map_coordinates_query(registry: Registry) -> str:
    """One statement per probe: latest nitrate with the registry's coordinates baked in.

    InfluxDB holds no coordinates (docs/storage.md tags: probe, site, municipality), so
    they come from the registry at build time; `last("value") * 0 + <lat>` makes InfluxQL
    return the constant next to the probe's row. State 0 (ok) is the floor the alert
    statements raise. The inner `last("value"), "censored"` returns the censored field of that same
    (latest) point, null for a measured value: the tooltip shows "< BG" beside a value
    that is a limit of quantification.
    """
    statements = []
    for probe in sorted(registry, key=lambda item: item.probe_id):
        statements.append(
            'SELECT "last" AS "nitrate", "censored" AS "below_loq", '  # noqa: S608 - constants, validated registry ids
            f'"last" * 0 + {_fmt(probe.lat)} AS "lat", '
            f'"last" * 0 + {_fmt(probe.lon)} AS "lon", '
            f'"last" * 0 + {STATE_OK} AS "state" '
            'FROM (SELECT last("value"), "censored" FROM "reading" '
            f"WHERE \"probe\" = '{probe.probe_id}' AND \"quantity\" = 'nitrate' "
            f'AND {MUNICIPALITY} GROUP BY "probe", "site") GROUP BY "probe", "site"'
        )
    return ";\n".join(statements)


def latest_nitrate_query(*, censored: bool) -> str:
    """The latest nitrate per probe, split by what it is: a measured value (A) or a
    limit of quantification, "< 0.5" (B). `last("value"), "censored"` returns the
    censored field of that latest point (null when measured); only one statement per
    probe returns a row."""
    condition = '"censored" = true' if censored else '"censored" != true'
    return (
        'SELECT "last" FROM (SELECT last("value"), "censored" FROM "reading" '  # noqa: S608 - constants, validated registry ids
        f"WHERE \"quantity\" = 'nitrate' AND {MUNICIPALITY} AND $timeFilter "
        f'GROUP BY "probe") WHERE {condition} GROUP BY "probe"'
    )


def map_state_query() -> str:
    """One statement per alert kind: state code of every probe with such an open alert.

    At most one alert per (probe, kind) is open (docs/alerts.md), so count() is 0 or 1
    and count() * code is the code.
    """
    statements = []
    for kind, code in sorted(KIND_STATE.items()):
        statements.append(
            f'SELECT count("state") * {code} AS "state" FROM '  # noqa: S608 - constants, validated registry ids
            '(SELECT last("state") AS "state" FROM "alert" '
            f'WHERE "kind" = \'{kind}\' AND {MUNICIPALITY} GROUP BY "probe") '
            'WHERE "state" <> \'resolved\' GROUP BY "probe"'
        )
    return ";\n".join(statements)


def open_alerts_query() -> str:
    return (
        'SELECT "alert_id", "state", "value", "threshold", "unit", "opened_ms", "message" '  # noqa: S608 - constants, validated registry ids
        'FROM (SELECT last("alert_id") AS "alert_id", last("state") AS "state", '
        'last("value") AS "value", last("threshold") AS "threshold", last("unit") AS "unit", '
        'last("opened_at_s") * 1000 AS "opened_ms", last("message") AS "message" '
        f'FROM "alert" WHERE {MUNICIPALITY} GROUP BY "probe", "kind", "severity") '
        'WHERE "state" <> \'resolved\' GROUP BY "probe", "kind", "severity"'
    )


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


def _map_panel(settings: DashboardsSettings, registry: Registry, t: Texts) -> geomap.Panel:
    ds = datasource_ref(settings)
    lat = sum(probe.lat for probe in registry) / len(registry)
    lon = sum(probe.lon for probe in registry) / len(registry)
    layer = (
        cb.MapLayerOptions()
        .type("markers")
        .name(t("Messstellen", "Probes"))
        .config(
            {
                "showLegend": True,
                "style": {
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
                },
            }
        )
        .location(
            cb.FrameGeometrySource()
            .mode(cm.FrameGeometrySourceMode.COORDS)
            .latitude("lat")
            .longitude("lon")
        )
        .tooltip(True)
    )
    return (
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
        .datasource(ds)
        .with_target(InfluxQL("A", map_coordinates_query(registry)).table())
        .with_target(InfluxQL("B", map_state_query()).table())
        .with_transformation(transformation("merge", {}))
        .with_transformation(
            transformation(
                "groupBy",
                {
                    "fields": {
                        "probe": {"aggregations": [], "operation": "groupby"},
                        "site": {"aggregations": ["firstNotNull"], "operation": "aggregate"},
                        "lat": {"aggregations": ["firstNotNull"], "operation": "aggregate"},
                        "lon": {"aggregations": ["firstNotNull"], "operation": "aggregate"},
                        "nitrate": {"aggregations": ["firstNotNull"], "operation": "aggregate"},
                        "below_loq": {"aggregations": ["firstNotNull"], "operation": "aggregate"},
                        "state": {"aggregations": ["max"], "operation": "aggregate"},
                    }
                },
            )
        )
        .with_transformation(
            transformation(
                "organize",
                {
                    "renameByName": {
                        "site (firstNotNull)": "site",
                        "lat (firstNotNull)": "lat",
                        "lon (firstNotNull)": "lon",
                        "nitrate (firstNotNull)": "nitrate",
                        "below_loq (firstNotNull)": "below_loq",
                        "state (max)": "state",
                    }
                },
            )
        )
        .mappings(_state_mappings(t))
        .override_by_name(
            "below_loq",
            [
                dm.DynamicConfigValue(
                    id_val="displayName",
                    value=t("Nitrat unter Bestimmungsgrenze", "nitrate below the LOQ"),
                ),
                dm.DynamicConfigValue(
                    id_val="mappings",
                    value=[
                        dm.SpecialValueMap(
                            options=dm.DashboardSpecialValueMapOptions(
                                match=dm.SpecialValueMatch.TRUE,
                                result=dm.ValueMappingResult(
                                    text=t(
                                        "ja: der Wert ist die Bestimmungsgrenze (< BG)",
                                        "yes: the value is the LOQ (< LOQ)",
                                    ),
                                    index=0,
                                ),
                            )
                        ),
                        dm.SpecialValueMap(
                            options=dm.DashboardSpecialValueMapOptions(
                                match=dm.SpecialValueMatch.NULL,
                                result=dm.ValueMappingResult(text=t("nein", "no"), index=1),
                            )
                        ),
                    ],
                ),
            ],
        )
        .thresholds(
            thresholds(
                (None, OK_COLOR),
                (STATE_WARNING, WARNING_COLOR),
                (STATE_SENSOR_FAULT, SENSOR_FAULT_COLOR),
                (STATE_STALE, STALE_COLOR),
                (STATE_BREACH, BREACH_COLOR),
            )
        )
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .data_links([drilldown_link(t, "${__data.fields.probe}")])
        .view(
            geomap.MapViewConfig()
            .id("coords")
            .lat(sdk_number(round(lat, 4)))
            .lon(sdk_number(round(lon, 4)))
            .zoom(10)
        )
        .basemap(cb.MapLayerOptions().type("default").name(t("Basiskarte", "Base map")))
        .layers([layer])
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(False).show_scale(True))
        .tooltip(geomap.TooltipOptions().mode(gm.TooltipMode.DETAILS))
        .grid_pos(dm.GridPos(h=14, w=12, x=0, y=0))
    )


def _nitrate_panel(settings: DashboardsSettings, registry: Registry, t: Texts) -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .title(t("Nitrat aktuell je Messstelle", "Current nitrate per probe"))
        .description(
            t(
                "Letzter Nitratwert (mg/L NO₃) im gewählten Zeitraum; orange ab 37,5 mg/L "
                "(Trendumkehr, 75 % des Schwellenwerts), rot ab 50 mg/L (GrwV Anlage 2). "
                "„< 0,5“: zuletzt unter der Bestimmungsgrenze gemeldet.",
                "Latest nitrate (mg/L NO₃) in the time range; orange from 37.5 mg/L "
                "(trend reversal, 75 % of the threshold), red from 50 mg/L (GrwV Annex 2). "
                '"< 0.5": last reported below the limit of quantification.',
            )
        )
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", latest_nitrate_query(censored=False)).alias("$tag_probe"))
        .with_target(InfluxQL("B", latest_nitrate_query(censored=True)).alias("$tag_probe"))
        .override_by_query("B", [dm.DynamicConfigValue(id_val="unit", value=BELOW_LOQ_UNIT)])
        .unit(NITRATE_UNIT)
        .decimals(1)
        .min(0)
        .max(80)
        .thresholds(nitrate_thresholds(DEFAULT_NITRATE_WARNING_MG_L, DEFAULT_NITRATE_BREACH_MG_L))
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .display_mode(cm.BarGaugeDisplayMode.BASIC)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .show_unfilled(True)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .data_links([drilldown_link(t, "${__series.name}")])
        .grid_pos(dm.GridPos(h=14, w=12, x=12, y=0))
    )
    for probe in sorted(registry, key=lambda item: item.probe_id):
        if (probe.nitrate_warning_mg_l, probe.nitrate_breach_mg_l) != (
            DEFAULT_NITRATE_WARNING_MG_L,
            DEFAULT_NITRATE_BREACH_MG_L,
        ):
            steps = nitrate_thresholds(probe.nitrate_warning_mg_l, probe.nitrate_breach_mg_l)
            panel = panel.override_by_name(
                probe.probe_id, [dm.DynamicConfigValue(id_val="thresholds", value=steps.build())]
            )
    return panel


def _level_panel(settings: DashboardsSettings, registry: Registry, t: Texts) -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .title(t("Grundwasserstand gegen Grenzen", "Groundwater level against limits"))
        .description(
            t(
                "Letzter Wasserstand (m NHN). Je Messstelle aus dem Register: grün zwischen "
                "Mindest- und Höchststand, rot darunter bzw. darüber.",
                "Latest level (m NHN). Per probe from the registry: green between minimum "
                "and maximum level, red below or above.",
            )
        )
        .datasource(datasource_ref(settings))
        .with_target(
            InfluxQL(
                "A",
                'SELECT last("value") FROM "reading" WHERE "quantity" = \'level\' '  # noqa: S608 - constants, validated registry ids
                f'AND {MUNICIPALITY} AND $timeFilter GROUP BY "probe"',
            ).alias("$tag_probe")
        )
        .unit(LEVEL_UNIT)
        .decimals(2)
        .thresholds(thresholds((None, OK_COLOR)))
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .display_mode(cm.BarGaugeDisplayMode.BASIC)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .show_unfilled(True)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .data_links([drilldown_link(t, "${__series.name}")])
        .grid_pos(dm.GridPos(h=12, w=24, x=0, y=24))
    )
    for probe in sorted(registry, key=lambda item: item.probe_id):
        if probe.level_min_m_nhn is None and probe.level_max_m_nhn is None:
            continue
        low = probe.level_min_m_nhn
        high = probe.level_max_m_nhn
        steps: list[tuple[float | None, str]] = [
            (None, BREACH_COLOR if low is not None else OK_COLOR)
        ]
        if low is not None:
            steps.append((low, OK_COLOR))
        if high is not None:
            steps.append((high, BREACH_COLOR))
        properties = [dm.DynamicConfigValue(id_val="thresholds", value=thresholds(*steps).build())]
        if low is not None:
            properties.append(dm.DynamicConfigValue(id_val="min", value=round(low - 2.0, 2)))
        if high is not None:
            properties.append(dm.DynamicConfigValue(id_val="max", value=round(high + 1.0, 2)))
        panel = panel.override_by_name(probe.probe_id, properties)
    return panel


def _alerts_panel(settings: DashboardsSettings, t: Texts) -> table.Panel:
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
        .with_transformation(
            transformation(
                "organize",
                {
                    "excludeByName": {"Time": True, "alert_id": True, "unit": True},
                    "indexByName": {
                        "kind": 0,
                        "severity": 1,
                        "probe": 2,
                        "opened_ms": 3,
                        "value": 4,
                        "threshold": 5,
                        "state": 6,
                        "message": 7,
                    },
                    "renameByName": {
                        "kind": t("Art", "Kind"),
                        "severity": t("Schwere", "Severity"),
                        "probe": t("Messstelle", "Probe"),
                        "opened_ms": t("seit", "since"),
                        "value": t("Wert", "Value"),
                        "threshold": t("Schwelle", "Threshold"),
                        "state": t("Status", "State"),
                        "message": t("Meldung", "Message"),
                    },
                },
            )
        )
        .override_by_name(
            t("seit", "since"), [dm.DynamicConfigValue(id_val="unit", value="dateTimeAsIso")]
        )
        .override_by_name(
            t("Art", "Kind"),
            [
                dm.DynamicConfigValue(
                    id_val="mappings",
                    value=[
                        value_text(
                            {
                                "breach": (
                                    t("Schwellenwert überschritten", "breach"),
                                    BREACH_COLOR,
                                ),
                                "warning": (t("Warnung Nitrat", "nitrate warning"), WARNING_COLOR),
                                "level_low": (
                                    t("Wasserstand zu niedrig", "level low"),
                                    WARNING_COLOR,
                                ),
                                "level_high": (
                                    t("Wasserstand zu hoch", "level high"),
                                    WARNING_COLOR,
                                ),
                                "sensor_fault": (
                                    t("Sensorstörung", "sensor fault"),
                                    SENSOR_FAULT_COLOR,
                                ),
                                "stale": (t("keine Daten", "stale"), STALE_COLOR),
                                "trend": (t("steigender Trend", "rising trend"), WARNING_COLOR),
                            }
                        )
                    ],
                ),
                dm.DynamicConfigValue(
                    id_val="custom.cellOptions", value={"type": "color-background"}
                ),
            ],
        )
        .override_by_name(
            t("Status", "State"),
            [
                dm.DynamicConfigValue(
                    id_val="mappings",
                    value=[
                        value_text(
                            {
                                "open": (t("offen", "open"), BREACH_COLOR),
                                "acknowledged": (t("quittiert", "acknowledged"), WARNING_COLOR),
                            }
                        )
                    ],
                )
            ],
        )
        .decimals(1)
        .sort_by([cb.TableSortByFieldState().display_name(t("seit", "since")).desc(True)])
        .no_value(t("keine offenen Alarme", "no open alerts"))
        .data_links([drilldown_link(t, "${__data.fields.probe}")])
        .grid_pos(dm.GridPos(h=10, w=16, x=0, y=14))
    )


def _freshness_panel(settings: DashboardsSettings, t: Texts) -> table.Panel:
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
        .with_target(
            InfluxQL(
                "A",
                'SELECT last("lag_s") AS "lag_s" FROM "reading" '  # noqa: S608 - constants, validated registry ids
                f'WHERE {MUNICIPALITY} GROUP BY "probe"',
            ).table()
        )
        .with_transformation(
            transformation(
                "organize",
                {
                    "indexByName": {"probe": 0, "Time": 1, "lag_s": 2},
                    "renameByName": {
                        "probe": t("Messstelle", "Probe"),
                        "Time": t("letzter Wert", "latest value"),
                        "lag_s": t("Verzug", "Delay"),
                    },
                },
            )
        )
        .override_by_name(
            t("letzter Wert", "latest value"),
            [dm.DynamicConfigValue(id_val="unit", value="dateTimeFromNow")],
        )
        .override_by_name(
            t("Verzug", "Delay"),
            [
                dm.DynamicConfigValue(id_val="unit", value="s"),
                dm.DynamicConfigValue(id_val="decimals", value=0),
            ],
        )
        .sort_by(
            [cb.TableSortByFieldState().display_name(t("letzter Wert", "latest value")).desc(False)]
        )
        .data_links([drilldown_link(t, "${__data.fields.probe}")])
        .grid_pos(dm.GridPos(h=10, w=8, x=16, y=14))
    )


def municipality_variable(settings: DashboardsSettings, t: Texts) -> db.QueryVariable:
    return (
        db.QueryVariable("municipality")
        .label(t("Kommune", "Municipality"))
        .datasource(datasource_ref(settings))
        .query('SHOW TAG VALUES FROM "reading" WITH KEY = "municipality"')
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
        .link(
            db.DashboardLink(t("Messstelle im Detail", "Probe drilldown"))
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["gwmon"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_panel(_map_panel(settings, registry, t))
        .with_panel(_nitrate_panel(settings, registry, t))
        .with_panel(_alerts_panel(settings, t))
        .with_panel(_freshness_panel(settings, t))
        .with_panel(_level_panel(settings, registry, t))
    )
