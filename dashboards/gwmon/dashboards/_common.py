"""Small shared pieces of the dashboards and the report: language, data source,
thresholds, colours, the words for alert kinds, states and trend verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from gwmon.dashboards._settings import PROBE_DASHBOARD_UID, DashboardsSettings
from gwmon.ingest import DEFAULT_NITRATE_BREACH_MG_L, DEFAULT_NITRATE_WARNING_MG_L
from gwmon.storage import influxql as q

# Colours chosen for a control-room screen: the traffic-light meaning is fixed across
# all panels (green ok, orange warning, red breach), maintenance states get colours of
# their own so that a sensor problem is never mistaken for a water-quality problem.
OK_COLOR = "green"
WARNING_COLOR = "orange"
BREACH_COLOR = "red"
SENSOR_FAULT_COLOR = "purple"
STALE_COLOR = "#8e8e8e"
QC_COLOR = "purple"

# Map state codes (overview geomap): the worst open alert per probe.
STATE_OK = 0
STATE_WARNING = 1
STATE_SENSOR_FAULT = 2
STATE_STALE = 3
STATE_BREACH = 4
# Alert kinds (docs/alerts.md) -> state code on the map; trend alerts are not a state.
KIND_STATE: dict[str, int] = {
    "warning": STATE_WARNING,
    "level_low": STATE_WARNING,
    "level_high": STATE_WARNING,
    "sensor_fault": STATE_SENSOR_FAULT,
    "stale": STATE_STALE,
    "breach": STATE_BREACH,
}

# German words for the stored codes; English shows the codes themselves in the report.
KIND_DE = {
    "breach": "Schwellenwert überschritten",
    "warning": "Warnung Nitrat",
    "level_low": "Wasserstand zu niedrig",
    "level_high": "Wasserstand zu hoch",
    "sensor_fault": "Sensorstörung",
    "stale": "keine Daten",
    "trend": "steigender Trend",
}
STATE_DE = {"open": "offen", "acknowledged": "quittiert", "resolved": "behoben"}
VERDICT_DE = {
    "rising": "steigend",
    "falling": "fallend",
    "no_trend": "kein Trend",
    "insufficient": "zu wenige Werte",
}

NITRATE_UNIT = "conmgL"  # Grafana's "mg/L"
LEVEL_UNIT = "suffix: m NHN"
# A value reported below the limit of quantification is shown as "< 0.5": Grafana's custom
# unit "prefix:<text>" puts the text before the number (grafana/grafana, valueFormats.ts,
# getValueFormat).
BELOW_LOQ_UNIT = "prefix:< "
INFLUXDB_TYPE = "influxdb"

# Every panel of the overview filters by the municipality variable.
MUNICIPALITY = q.matches_variable("municipality", "municipality")
PROBE = q.matches_variable("probe", "probe")


@dataclass(frozen=True)
class Texts:
    """German by default; English on request. `t("Nitrat", "Nitrate")`."""

    language: str

    def __call__(self, german: str, english: str) -> str:
        return german if self.language == "de" else english

    def number(self, value: float) -> str:
        """A value as short as it is exact, with the language's decimal mark: 37,5 / 37.5."""
        text = f"{value:g}"
        return text.replace(".", ",") if self.language == "de" else text

    def fixed(self, value: float, decimals: int) -> str:
        """`value` with `decimals` decimals and thousands separators: 1.234,5 / 1,234.5."""
        text = f"{value:,.{decimals}f}"
        if self.language == "de":
            text = text.replace(",", "_").replace(".", ",").replace("_", ".")
        return text


@dataclass(frozen=True)
class LegalNitrate:
    """The legal nitrate values as texts, from gwmon.ingest's one definition."""

    warning: str  # start of trend reversal, 37,5
    breach: str  # Schwellenwert, GrwV Anlage 2: 50
    share: str  # the warning as a percentage of the Schwellenwert: 75


def legal_nitrate(t: Texts) -> LegalNitrate:
    share = 100 * DEFAULT_NITRATE_WARNING_MG_L / DEFAULT_NITRATE_BREACH_MG_L
    return LegalNitrate(
        t.number(DEFAULT_NITRATE_WARNING_MG_L), t.number(DEFAULT_NITRATE_BREACH_MG_L), f"{share:g}"
    )


def datasource_ref(settings: DashboardsSettings) -> dm.DataSourceRef:
    return dm.DataSourceRef(type_val=INFLUXDB_TYPE, uid=settings.datasource_uid)


def thresholds(*steps: tuple[float | None, str]) -> db.ThresholdsConfig:
    """Absolute thresholds; the first step is the base (value None)."""
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=value, color=color) for value, color in steps])
    )


def nitrate_thresholds(warning: float, breach: float) -> db.ThresholdsConfig:
    return thresholds((None, OK_COLOR), (warning, WARNING_COLOR), (breach, BREACH_COLOR))


def legal_nitrate_thresholds() -> db.ThresholdsConfig:
    return nitrate_thresholds(DEFAULT_NITRATE_WARNING_MG_L, DEFAULT_NITRATE_BREACH_MG_L)


def sdk_number(value: float) -> int:
    """The SDK types some float options (map centre, opacity) as int, a schema bug;
    Grafana stores floats there, so pass the float through unchanged."""
    return cast(int, value)


def value_text(mapping: dict[str, tuple[str, str]]) -> dm.ValueMap:
    """Value mapping {raw: (text, colour)}."""
    return dm.ValueMap(
        options={
            raw: dm.ValueMappingResult(text=text, color=color, index=index)
            for index, (raw, (text, color)) in enumerate(mapping.items())
        }
    )


def special_value(
    match: dm.SpecialValueMatch, text: str, index: int, color: str | None = None
) -> dm.SpecialValueMap:
    """Mapping of a special value (true, false, null) to a text."""
    return dm.SpecialValueMap(
        options=dm.DashboardSpecialValueMapOptions(
            match=match, result=dm.ValueMappingResult(text=text, color=color, index=index)
        )
    )


def transformation(transform_id: str, options: dict[str, object]) -> dm.DataTransformerConfig:
    return dm.DataTransformerConfig(id_val=transform_id, options=options)


def prop(property_id: str, value: object) -> dm.DynamicConfigValue:
    """One property of a field override, e.g. `prop("unit", "s")`."""
    return dm.DynamicConfigValue(id_val=property_id, value=value)


def display_name(text: str) -> list[dm.DynamicConfigValue]:
    return [prop("displayName", text)]


def fixed_color(color: str) -> dm.DynamicConfigValue:
    return prop("color", {"mode": "fixed", "fixedColor": color})


def dashboard_link(title: str, *, include_vars: bool = True) -> db.DashboardLink:
    """The dropdown of the other gwmon dashboards, keeping the time range."""
    link = (
        db.DashboardLink(title)
        .type(dm.DashboardLinkType.DASHBOARDS)
        .tags(["gwmon"])
        .as_dropdown(True)
    )
    if include_vars:
        link = link.include_vars(True)
    return link.keep_time(True)


PROBE_UID = PROBE_DASHBOARD_UID


def drilldown_link(t: Texts, probe_expr: str) -> db.DashboardLink:
    """Data link to the probe dashboard; `probe_expr` is a Grafana data-link variable
    such as `${__series.name}` or `${__data.fields.probe}`."""
    return db.DashboardLink(t("Messstelle im Detail", "Probe details")).url(
        f"/d/{PROBE_UID}/?var-probe={probe_expr}&${{__url_time_range}}"
    )
