"""The probe dashboard's view of the data management (docs/data-management.md): the
corrected series beside the raw one, manual dips as points, the approval levels and the
corrections of the probe, and corrections and field visits as annotations."""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import dashboard as dm

from gwmon.dashboards._common import PROBE, Texts, datasource_ref, prop, transformation
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.dashboards._target import InfluxQL
from gwmon.storage import APPROVAL, CORRECTION, DIP, READING_CORRECTED
from gwmon.storage import influxql as q

_NS_TO_MS = 0.000_001  # Grafana's time units are milliseconds


def corrected_query(quantity: str) -> q.Select:
    """The corrected series where one exists, values a correction deleted left out.
    Drawn beside the raw series (which stays as it is), so a correction shows as the
    distance between the two lines."""
    return (
        q.select(READING_CORRECTED, q.mean("value").as_(f"{quantity}_corrected"))
        .where(PROBE, q.eq("quantity", quantity), q.eq("deleted", False), q.TIME_FILTER)
        .group_by(interval=q.GRAFANA_INTERVAL)
        .fill("none")
    )


def dip_query() -> q.Select:
    """Manual dips (Abstich) as levels, m NHN, to be drawn as points over the logger."""
    return q.select(DIP, q.Col("level_m_nhn").as_("dip")).where(PROBE, q.TIME_FILTER)


def approvals_query() -> q.Select:
    """Every approval step of the probe (the latest covering a time gives its level)."""
    return q.select(
        APPROVAL,
        "quantity",
        "level",
        (q.Col("from_ns") * _NS_TO_MS).as_("from_ms"),
        (q.Col("to_ns") * _NS_TO_MS).as_("to_ms"),
        "sequence",
        "by",
        "why",
    ).where(PROBE)


def corrections_query() -> q.Select:
    """Every state change of the probe's corrections, with who and why."""
    return q.select(
        CORRECTION,
        "correction_id",
        "quantity",
        "kind",
        "state",
        (q.Col("from_ns") * _NS_TO_MS).as_("from_ms"),
        (q.Col("to_ns") * _NS_TO_MS).as_("to_ms"),
        "value",
        "by",
        "why",
    ).where(PROBE)


@dataclass(frozen=True)
class RecordAnnotation:
    """An InfluxQL annotation: its name (German, English), query and columns."""

    name: tuple[str, str]
    query: q.Select
    text_column: str
    tag_columns: tuple[str, ...]
    color: str


ANNOTATIONS = (
    RecordAnnotation(
        ("Korrekturen", "Corrections"),
        q.select(CORRECTION, "why", "kind", "state").where(PROBE, q.TIME_FILTER),
        "why",
        ("kind", "state"),
        "purple",
    ),
    RecordAnnotation(
        ("Wartung und Abstiche", "Maintenance and dips"),
        q.select(DIP, "note", "by").where(PROBE, q.TIME_FILTER),
        "note",
        ("by",),
        "green",
    ),
)


def _table(settings: DashboardsSettings, title: str, description: str) -> table.Panel:
    return table.Panel().title(title).description(description).datasource(datasource_ref(settings))


def _columns(names: dict[str, str]) -> dict[str, object]:
    return {
        "excludeByName": {"Time": True},
        "indexByName": {column: index for index, column in enumerate(names)},
        "renameByName": names,
    }


def approvals_panel(settings: DashboardsSettings, t: Texts) -> table.Panel:
    names = {
        "quantity": t("Größe", "Quantity"),
        "level": t("Freigabe", "Approval"),
        "from_ms": t("von", "from"),
        "to_ms": t("bis", "to"),
        "sequence": t("Schritt", "Step"),
        "by": t("durch", "by"),
        "why": t("Bemerkung", "Comment"),
    }
    description = t(
        "Freigabestufen je Zeitraum (ungeprüft, geprüft, freigegeben) mit ihrer "
        "Geschichte: es gilt der letzte Schritt, der eine Zeit abdeckt; ohne Schritt "
        "ungeprüft.",
        "Approval levels per period (raw, checked, approved) with their history: the "
        "latest step covering a time counts; without one, raw.",
    )
    return (
        _table(settings, t("Freigabestufen", "Approval levels"), description)
        .with_target(InfluxQL("A", approvals_query()).table())
        .with_transformation(transformation("organize", _columns(names)))
        .override_by_name(names["from_ms"], [prop("unit", "dateTimeAsIso")])
        .override_by_name(names["to_ms"], [prop("unit", "dateTimeAsIso")])
        .no_value(t("alles ungeprüft", "all raw"))
        .grid_pos(dm.GridPos(h=8, w=12, x=0, y=20))
    )


def corrections_panel(settings: DashboardsSettings, t: Texts) -> table.Panel:
    names = {
        "correction_id": "ID",
        "quantity": t("Größe", "Quantity"),
        "kind": t("Art", "Kind"),
        "state": t("Status", "State"),
        "from_ms": t("von", "from"),
        "to_ms": t("bis", "to"),
        "value": t("Wert", "Value"),
        "by": t("durch", "by"),
        "why": t("Grund", "Why"),
    }
    description = t(
        "Korrekturen der Messstelle (Versatz, Drift, Löschung) mit jeder Änderung: "
        "aktiv oder zurückgenommen. Die Rohdaten bleiben unverändert.",
        "The probe's corrections (offset, drift, delete) with every change: active or "
        "reverted. The raw data stay unchanged.",
    )
    return (
        _table(settings, t("Korrekturen", "Corrections"), description)
        .with_target(InfluxQL("A", corrections_query()).table())
        .with_transformation(transformation("organize", _columns(names)))
        .override_by_name(names["from_ms"], [prop("unit", "dateTimeAsIso")])
        .override_by_name(names["to_ms"], [prop("unit", "dateTimeAsIso")])
        .no_value(t("keine Korrekturen", "no corrections"))
        .grid_pos(dm.GridPos(h=8, w=12, x=12, y=20))
    )
