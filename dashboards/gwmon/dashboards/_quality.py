"""Dashboard 3: data quality of the pipeline (throughput, rejections, loss, lag, backfill)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from gwmon.dashboards._common import (
    BREACH_COLOR,
    OK_COLOR,
    WARNING_COLOR,
    Texts,
    datasource_ref,
    thresholds,
    transformation,
)
from gwmon.dashboards._influxql import InfluxQL
from gwmon.dashboards._settings import DashboardsSettings

UID = "gwmon-quality"

THROUGHPUT_QUERY = (
    'SELECT non_negative_derivative(max("received"), 1m) AS "received", '
    'non_negative_derivative(max("readings"), 1m) AS "stored", '
    'non_negative_derivative(max("rejected_messages"), 1m) AS "rejected" '
    'FROM "ingest_stats" WHERE $timeFilter GROUP BY time($__interval), "ingestor" fill(none)'
)
REJECTED_BY_REASON_QUERY = (
    'SELECT count("payload_bytes") AS "rejected" FROM "rejected" WHERE $timeFilter '
    'GROUP BY time($__interval), "reason" fill(none)'
)
REJECTED_LATEST_QUERY = (
    'SELECT "reason", "probe", "detail", "topic" FROM "rejected" WHERE $timeFilter '
    "ORDER BY time DESC LIMIT 100"
)
LOSS_QUERY = (
    'SELECT count("seq") AS "received", max("seq") - min("seq") + 1 AS "expected", '
    'max("seq") - min("seq") + 1 - count("seq") AS "missing" '
    'FROM "sequence" WHERE $timeFilter GROUP BY "probe"'
)
LAG_QUERY = (
    'SELECT median("lag_s") AS "median", percentile("lag_s", 95) AS "p95", max("lag_s") AS "max" '
    'FROM "reading" WHERE $timeFilter GROUP BY time($__interval) fill(none)'
)


def backfill_query(backfill_lag_s: float) -> str:
    return (
        f'SELECT count("value") AS "backfill" FROM "reading" WHERE "lag_s" > {backfill_lag_s!r} '  # noqa: S608 - constants, validated registry ids
        'AND $timeFilter GROUP BY time($__interval), "probe" fill(none)'
    )


def build_quality(settings: DashboardsSettings) -> db.Dashboard:
    t = Texts(settings.language)
    ds = datasource_ref(settings)
    throughput = (
        timeseries.Panel()
        .title(t("Nachrichten pro Minute", "Messages per minute"))
        .description(
            t(
                "Aus den Zählern jedes Ingest-Prozesses (ingest_stats): empfangene "
                "Nachrichten, gespeicherte Werte, abgewiesene Nachrichten.",
                "From each ingest process' counters (ingest_stats): messages received, "
                "values stored, messages rejected.",
            )
        )
        .datasource(ds)
        .with_target(InfluxQL("A", THROUGHPUT_QUERY).alias("$col ($tag_ingestor)"))
        .unit("suffix:/min")
        .decimals(1)
        .min(0)
        .override_by_regexp(
            "^received.*",
            [dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": "blue"})],
        )
        .override_by_regexp(
            "^stored.*",
            [
                dm.DynamicConfigValue(
                    id_val="color", value={"mode": "fixed", "fixedColor": OK_COLOR}
                )
            ],
        )
        .override_by_regexp(
            "^rejected.*",
            [
                dm.DynamicConfigValue(
                    id_val="color", value={"mode": "fixed", "fixedColor": BREACH_COLOR}
                )
            ],
        )
        .grid_pos(dm.GridPos(h=9, w=12, x=0, y=0))
    )
    rejected = (
        timeseries.Panel()
        .title(t("Abgewiesen nach Grund", "Rejected by reason"))
        .description(
            t(
                "Abgewiesene Nachrichten und Einzelwerte je Grund (docs/wire-format.md).",
                "Rejected messages and records per reason (docs/wire-format.md).",
            )
        )
        .datasource(ds)
        .with_target(InfluxQL("A", REJECTED_BY_REASON_QUERY).alias("$tag_reason"))
        .draw_style(cm.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
        .unit("short")
        .decimals(0)
        .min(0)
        .grid_pos(dm.GridPos(h=9, w=12, x=12, y=0))
    )
    loss = (
        table.Panel()
        .title(t("Verlust je Messstelle (Sequenzlücken)", "Loss per probe (sequence gaps)"))
        .description(
            t(
                "Empfangene gegen erwartete Messzyklen aus dem Sequenzzähler der Sonde; "
                "exakt, solange der Zähler im Zeitraum nicht übergelaufen ist.",
                "Received vs expected sampling cycles from the probe's sequence counter; "
                "exact while the counter did not wrap in the range.",
            )
        )
        .datasource(ds)
        .with_target(InfluxQL("A", LOSS_QUERY).table())
        .with_transformation(
            transformation(
                "organize",
                {
                    "excludeByName": {"Time": True},
                    "indexByName": {"probe": 0, "received": 1, "expected": 2, "missing": 3},
                    "renameByName": {
                        "probe": t("Messstelle", "Probe"),
                        "received": t("empfangen", "received"),
                        "expected": t("erwartet", "expected"),
                        "missing": t("fehlend", "missing"),
                    },
                },
            )
        )
        .decimals(0)
        .override_by_name(
            t("fehlend", "missing"),
            [
                dm.DynamicConfigValue(
                    id_val="thresholds",
                    value=thresholds(
                        (None, OK_COLOR), (1, WARNING_COLOR), (10, BREACH_COLOR)
                    ).build(),
                ),
                dm.DynamicConfigValue(
                    id_val="custom.cellOptions", value={"type": "color-background"}
                ),
            ],
        )
        .sort_by([cb.TableSortByFieldState().display_name(t("fehlend", "missing")).desc(True)])
        .grid_pos(dm.GridPos(h=10, w=8, x=0, y=9))
    )
    lag = (
        timeseries.Panel()
        .title(t("Eingangsverzug (Ankunft − Messzeit)", "Ingest lag (arrival − measurement)"))
        .description(
            t(
                "Median, 95. Perzentil und Maximum des Verzugs aller gespeicherten Werte; "
                "Nachlieferungen aus dem Sondenpuffer erscheinen als große Werte.",
                "Median, 95th percentile and maximum lag of all stored values; backfill "
                "from a probe's buffer shows as large values.",
            )
        )
        .datasource(ds)
        .with_target(InfluxQL("A", LAG_QUERY))
        .unit("s")
        .decimals(0)
        .min(0)
        .scale_distribution(cb.ScaleDistributionConfig().type(cm.ScaleDistribution.LOG).log(10))
        .grid_pos(dm.GridPos(h=10, w=8, x=8, y=9))
    )
    backfill = (
        timeseries.Panel()
        .title(t("Nachgelieferte Werte (Backfill)", "Backfilled values"))
        .description(
            t(
                f"Werte, die mehr als {settings.backfill_lag_s:g} s nach ihrer Messzeit "
                "ankamen, je Messstelle.",
                f"Values that arrived more than {settings.backfill_lag_s:g} s after their "
                "measurement time, per probe.",
            )
        )
        .datasource(ds)
        .with_target(InfluxQL("A", backfill_query(settings.backfill_lag_s)).alias("$tag_probe"))
        .draw_style(cm.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
        .unit("short")
        .decimals(0)
        .min(0)
        .grid_pos(dm.GridPos(h=10, w=8, x=16, y=9))
    )
    latest = (
        table.Panel()
        .title(t("Zuletzt abgewiesen", "Latest rejections"))
        .datasource(ds)
        .with_target(InfluxQL("A", REJECTED_LATEST_QUERY).table())
        .with_transformation(
            transformation(
                "organize",
                {
                    "indexByName": {"Time": 0, "reason": 1, "probe": 2, "detail": 3, "topic": 4},
                    "renameByName": {
                        "Time": t("Ankunft", "Arrival"),
                        "reason": t("Grund", "Reason"),
                        "probe": t("Messstelle", "Probe"),
                        "detail": t("Details", "Detail"),
                        "topic": "Topic",
                    },
                },
            )
        )
        .grid_pos(dm.GridPos(h=9, w=24, x=0, y=19))
    )
    return (
        db.Dashboard(t("Grundwasser – Datenqualität", "Groundwater – data quality"))
        .uid(UID)
        .tags(["gwmon", t("Datenqualität", "data quality")])
        .description(
            t(
                "Betrieb der Datenstrecke: Durchsatz, Abweisungen, Verluste, Verzug, "
                "Nachlieferungen.",
                "Pipeline operations: throughput, rejections, loss, lag, backfill.",
            )
        )
        .time("now-24h", "now")
        .timezone(settings.timezone)
        .refresh(settings.refresh)
        .readonly()
        .link(
            db.DashboardLink(t("Übersicht", "Overview"))
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["gwmon"])
            .as_dropdown(True)
            .keep_time(True)
        )
        .with_panel(throughput)
        .with_panel(rejected)
        .with_panel(loss)
        .with_panel(lag)
        .with_panel(backfill)
        .with_panel(latest)
    )
