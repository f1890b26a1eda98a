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
    dashboard_link,
    datasource_ref,
    fixed_color,
    prop,
    thresholds,
    transformation,
)
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.dashboards._target import InfluxQL
from gwmon.storage import INGEST_STATS, READING, REJECTED, SEQUENCE
from gwmon.storage import influxql as q

UID = "gwmon-quality"

# Counter of ingest_stats -> the series it becomes, per minute.
_THROUGHPUT = {"received": "received", "readings": "stored", "rejected_messages": "rejected"}
_PER_MINUTE = "1m"

THROUGHPUT_QUERY = (
    q.select(
        INGEST_STATS,
        *(
            q.non_negative_derivative(q.maximum(counter), _PER_MINUTE).as_(series)
            for counter, series in _THROUGHPUT.items()
        ),
    )
    .where(q.TIME_FILTER)
    .group_by("ingestor", interval=q.GRAFANA_INTERVAL)
    .fill("none")
)
REJECTED_BY_REASON_QUERY = (
    q.select(REJECTED, q.count("payload_bytes").as_("rejected"))
    .where(q.TIME_FILTER)
    .group_by("reason", interval=q.GRAFANA_INTERVAL)
    .fill("none")
)
REJECTED_LATEST_QUERY = (
    q.select(REJECTED, "reason", "probe", "detail", "topic")
    .where(q.TIME_FILTER)
    .newest_first()
    .limit(100)
)
_EXPECTED = q.maximum("seq") - q.minimum("seq") + 1
LOSS_QUERY = (
    q.select(
        SEQUENCE,
        q.count("seq").as_("received"),
        _EXPECTED.as_("expected"),
        (_EXPECTED - q.count("seq")).as_("missing"),
    )
    .where(q.TIME_FILTER)
    .group_by("probe")
)
LAG_QUERY = (
    q.select(
        READING,
        q.median("lag_s").as_("median"),
        q.percentile("lag_s", 95).as_("p95"),
        q.maximum("lag_s").as_("max"),
    )
    .where(q.TIME_FILTER)
    .group_by(interval=q.GRAFANA_INTERVAL)
    .fill("none")
)


def backfill_query(backfill_lag_s: float) -> q.Select:
    return (
        q.select(READING, q.count("value").as_("backfill"))
        .where(q.gt("lag_s", backfill_lag_s), q.TIME_FILTER)
        .group_by("probe", interval=q.GRAFANA_INTERVAL)
        .fill("none")
    )


def _bars_per_series(panel: timeseries.Panel) -> timeseries.Panel:
    """Stacked bars of counts."""
    return (
        panel.draw_style(cm.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
        .unit("short")
        .decimals(0)
        .min(0)
    )


def throughput_panel(settings: DashboardsSettings, t: Texts) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(t("Nachrichten pro Minute", "Messages per minute"))
        .description(
            t(
                "Aus den Zählern jedes Ingest-Prozesses "
                f"({INGEST_STATS.name}): empfangene Nachrichten, gespeicherte Werte, "
                "abgewiesene Nachrichten.",
                f"From each ingest process' counters ({INGEST_STATS.name}): messages "
                "received, values stored, messages rejected.",
            )
        )
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", THROUGHPUT_QUERY).alias("$col ($tag_ingestor)"))
        .unit("suffix:/min")
        .decimals(1)
        .min(0)
    )
    for series, color in zip(_THROUGHPUT.values(), ("blue", OK_COLOR, BREACH_COLOR), strict=True):
        panel = panel.override_by_regexp(f"^{series}.*", [fixed_color(color)])
    return panel.grid_pos(dm.GridPos(h=9, w=12, x=0, y=0))


def rejected_panel(settings: DashboardsSettings, t: Texts) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(t("Abgewiesen nach Grund", "Rejected by reason"))
        .description(
            t(
                "Abgewiesene Nachrichten und Einzelwerte je Grund (docs/wire-format.md).",
                "Rejected messages and records per reason (docs/wire-format.md).",
            )
        )
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", REJECTED_BY_REASON_QUERY).alias("$tag_reason"))
    )
    return _bars_per_series(panel).grid_pos(dm.GridPos(h=9, w=12, x=12, y=0))


def loss_panel(settings: DashboardsSettings, t: Texts) -> table.Panel:
    missing = t("fehlend", "missing")
    columns = {
        "excludeByName": {"Time": True},
        "indexByName": {"probe": 0, "received": 1, "expected": 2, "missing": 3},
        "renameByName": {
            "probe": t("Messstelle", "Probe"),
            "received": t("empfangen", "received"),
            "expected": t("erwartet", "expected"),
            "missing": missing,
        },
    }
    colours = thresholds((None, OK_COLOR), (1, WARNING_COLOR), (10, BREACH_COLOR))
    return (
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
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", LOSS_QUERY).table())
        .with_transformation(transformation("organize", columns))
        .decimals(0)
        .override_by_name(
            missing,
            [
                prop("thresholds", colours.build()),
                prop("custom.cellOptions", {"type": "color-background"}),
            ],
        )
        .sort_by([cb.TableSortByFieldState().display_name(missing).desc(True)])
        .grid_pos(dm.GridPos(h=10, w=8, x=0, y=9))
    )


def lag_panel(settings: DashboardsSettings, t: Texts) -> timeseries.Panel:
    return (
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
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", LAG_QUERY))
        .unit("s")
        .decimals(0)
        .min(0)
        .scale_distribution(cb.ScaleDistributionConfig().type(cm.ScaleDistribution.LOG).log(10))
        .grid_pos(dm.GridPos(h=10, w=8, x=8, y=9))
    )


def backfill_panel(settings: DashboardsSettings, t: Texts) -> timeseries.Panel:
    lag = f"{settings.backfill_lag_s:g}"
    panel = (
        timeseries.Panel()
        .title(t("Nachgelieferte Werte (Backfill)", "Backfilled values"))
        .description(
            t(
                f"Werte, die mehr als {lag} s nach ihrer Messzeit ankamen, je Messstelle.",
                f"Values that arrived more than {lag} s after their measurement time, per probe.",
            )
        )
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", backfill_query(settings.backfill_lag_s)).alias("$tag_probe"))
    )
    return _bars_per_series(panel).grid_pos(dm.GridPos(h=10, w=8, x=16, y=9))


def latest_rejections_panel(settings: DashboardsSettings, t: Texts) -> table.Panel:
    columns = {
        "indexByName": {"Time": 0, "reason": 1, "probe": 2, "detail": 3, "topic": 4},
        "renameByName": {
            "Time": t("Ankunft", "Arrival"),
            "reason": t("Grund", "Reason"),
            "probe": t("Messstelle", "Probe"),
            "detail": t("Details", "Detail"),
            "topic": "Topic",
        },
    }
    return (
        table.Panel()
        .title(t("Zuletzt abgewiesen", "Latest rejections"))
        .datasource(datasource_ref(settings))
        .with_target(InfluxQL("A", REJECTED_LATEST_QUERY).table())
        .with_transformation(transformation("organize", columns))
        .grid_pos(dm.GridPos(h=9, w=24, x=0, y=19))
    )


def build_quality(settings: DashboardsSettings) -> db.Dashboard:
    t = Texts(settings.language)
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
        .link(dashboard_link(t("Übersicht", "Overview"), include_vars=False))
        .with_panel(throughput_panel(settings, t))
        .with_panel(rejected_panel(settings, t))
        .with_panel(loss_panel(settings, t))
        .with_panel(lag_panel(settings, t))
        .with_panel(backfill_panel(settings, t))
        .with_panel(latest_rejections_panel(settings, t))
    )
