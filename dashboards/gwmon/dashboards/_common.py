"""Small shared pieces of the dashboards: language, data source, thresholds, colours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from gwmon.dashboards._settings import DashboardsSettings

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

NITRATE_UNIT = "conmgL"  # Grafana's "mg/L"
LEVEL_UNIT = "suffix: m NHN"
# A value reported below the limit of quantification is shown as "< 0.5": Grafana's custom
# unit "prefix:<text>" puts the text before the number (valueFormats.ts, getValueFormat).
BELOW_LOQ_UNIT = "prefix:< "
INFLUXDB_TYPE = "influxdb"


@dataclass(frozen=True)
class Texts:
    """German by default; English on request. `t("Nitrat", "Nitrate")`."""

    language: str

    def __call__(self, german: str, english: str) -> str:
        return german if self.language == "de" else english


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


def transformation(transform_id: str, options: dict[str, object]) -> dm.DataTransformerConfig:
    return dm.DataTransformerConfig(id_val=transform_id, options=options)


def regex_tag(tag: str, variable: str) -> str:
    """InfluxQL condition matching a tag against a (multi-value) variable."""
    return f'"{tag}" =~ /^${variable}$/'


PROBE_UID = "gwmon-probe"


def drilldown_link(t: Texts, probe_expr: str) -> db.DashboardLink:
    """Data link to the probe dashboard; `probe_expr` is a Grafana data-link variable
    such as `${__series.name}` or `${__data.fields.probe}`."""
    return db.DashboardLink(t("Messstelle im Detail", "Probe details")).url(
        f"/d/{PROBE_UID}/?var-probe={probe_expr}&${{__url_time_range}}"
    )
