"""gwmon.dashboards: Grafana dashboards as code (InfluxQL), provisioning, push, and the
monthly report for the Stabsstellen."""

from gwmon.dashboards._build import (
    DEFAULT_PROVIDER_PATH,
    PanelQuery,
    build_dashboards,
    build_files,
    datasource_yaml,
    iter_queries,
    provider_yaml,
    render,
    validate_dashboard,
    write_files,
)
from gwmon.dashboards._influxql import InfluxQL, InfluxQLQuery
from gwmon.dashboards._macros import (
    MacroError,
    TemplateVariable,
    TimeRange,
    calculate_interval,
    format_interval,
    interpolate,
    regex_escape,
    round_interval,
    used_variables,
)
from gwmon.dashboards._settings import EXAMPLE_TOML, DashboardsSettings, check_config

__all__ = [
    "DEFAULT_PROVIDER_PATH",
    "EXAMPLE_TOML",
    "DashboardsSettings",
    "InfluxQL",
    "InfluxQLQuery",
    "MacroError",
    "PanelQuery",
    "TemplateVariable",
    "TimeRange",
    "build_dashboards",
    "build_files",
    "calculate_interval",
    "check_config",
    "datasource_yaml",
    "format_interval",
    "interpolate",
    "iter_queries",
    "provider_yaml",
    "regex_escape",
    "render",
    "round_interval",
    "used_variables",
    "validate_dashboard",
    "write_files",
]
