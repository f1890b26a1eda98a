"""gwmon.dashboards: Grafana dashboards as code (InfluxQL), provisioning, push, and the
monthly report for the Stabsstellen.

`build_files` writes what Grafana loads; `interpolate` with `TemplateVariable`,
`TimeRange` and `calculate_interval` turns a panel's query into the InfluxQL Grafana
would send, so every panel can be proven against a real InfluxDB without a Grafana;
`write_reports` makes the monthly HTML reports. The CLI is `gwmon.dashboards.cli`.
"""

from gwmon.dashboards._build import (
    DEFAULT_PROVIDER_PATH,
    build_dashboards,
    build_files,
    iter_queries,
    validate_dashboard,
)
from gwmon.dashboards._macros import TemplateVariable, TimeRange, calculate_interval, interpolate
from gwmon.dashboards._report import write_reports
from gwmon.dashboards._settings import (
    CONFIG_SECTION,
    EXAMPLE_TOML,
    PROBE_DASHBOARD_UID,
    DashboardsSettings,
    check_config,
)

__all__ = [
    "CONFIG_SECTION",
    "DEFAULT_PROVIDER_PATH",
    "EXAMPLE_TOML",
    "PROBE_DASHBOARD_UID",
    "DashboardsSettings",
    "TemplateVariable",
    "TimeRange",
    "build_dashboards",
    "build_files",
    "calculate_interval",
    "check_config",
    "interpolate",
    "iter_queries",
    "validate_dashboard",
    "write_reports",
]
