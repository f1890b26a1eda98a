"""The [dashboards] configuration section."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import Field, field_validator

from gwmon.config import ConfigError, ConfigProblem, ConfigSection, Section
from gwmon.ingest import GwmonConfig, Registry

_UID = r"^[A-Za-z0-9_-]{1,40}$"


PROBE_DASHBOARD_UID = "gwmon-probe"  # the probe drilldown; mail links point at it too


class DashboardsSettings(Section):
    """How gwmon's dashboards, provisioning files and reports are built and pushed, and
    where operators open them: `grafana_url` is the one Grafana address, for
    `gwmon dashboards push` and for the links in alert mails."""

    grafana_url: str = "http://127.0.0.1:3000"
    token_env: str = "GRAFANA_TOKEN"  # noqa: S105 - the name of an env variable, not a secret
    folder_title: str = "Grundwasser (gwmon)"
    folder_uid: Annotated[str, Field(pattern=_UID)] = "gwmon"
    datasource_name: str = "gwmon InfluxDB"
    datasource_uid: Annotated[str, Field(pattern=_UID)] = "gwmon-influxdb"
    influxdb_url: str | None = None
    language: Literal["de", "en"] = "de"
    timezone: str = "Europe/Berlin"
    refresh: str = "1m"
    backfill_lag_s: Annotated[float, Field(gt=0, le=30 * 86400)] = 900.0
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0

    @field_validator("grafana_url", "influxdb_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            msg = "must be an http(s):// URL (e.g. https://grafana.example.org)"
            raise ValueError(msg)
        return value.rstrip("/") if value else value

    def probe_dashboard_url(self, probe: str) -> str:
        """Where an operator opens one probe's dashboard (used in alert mails)."""
        return f"{self.grafana_url}/d/{PROBE_DASHBOARD_UID}?var-probe={quote(probe, safe='')}"

    @field_validator("token_env")
    @classmethod
    def _check_env_name(cls, value: str) -> str:
        if not value.replace("_", "").isalnum():
            msg = "must be an environment variable name such as GRAFANA_TOKEN"
            raise ValueError(msg)
        return value


EXAMPLE_TOML = """\
[dashboards]
# The Grafana operators use: `gwmon dashboards push` goes there (or --grafana-url), and
# alert mails link to its dashboards ({grafana_url}/d/gwmon-probe?var-probe=LE-07).
# The API token is read from the environment variable named by token_env, never from
# this file.
grafana_url = "http://127.0.0.1:3000"
token_env = "GRAFANA_TOKEN"
folder_title = "Grundwasser (gwmon)"
folder_uid = "gwmon"
# The InfluxDB data source the dashboards use (created by push or by provisioning).
datasource_name = "gwmon InfluxDB"
datasource_uid = "gwmon-influxdb"
# URL under which Grafana reaches InfluxDB; default: [influxdb] url.
# influxdb_url = "http://influxdb.internal:8086"
# Titles and labels: "de" (default, operators read de-DE) or "en".
language = "de"
timezone = "Europe/Berlin"
refresh = "1m"
# A reading that arrives more than this many seconds after its measurement time
# counts as backfill in the data-quality dashboard.
backfill_lag_s = 900.0
timeout_s = 10.0
"""


CONFIG_SECTION = ConfigSection("dashboards", DashboardsSettings, EXAMPLE_TOML)


def check_config(config: GwmonConfig, registry: Registry) -> list[str]:
    """Problems of [dashboards] relative to the registry (each names file, key and fix)."""
    try:
        settings = config.section(CONFIG_SECTION)
    except ConfigError as exc:
        return [str(exc)]
    problems: list[str] = []
    no_coordinates = [probe.probe_id for probe in registry if probe.lat == 0 and probe.lon == 0]
    if no_coordinates:
        problems.append(
            f"{registry.path}: probes {', '.join(no_coordinates)} have lat=0, lon=0; "
            "the overview map needs their real coordinates (columns lat, lon)"
        )
    if settings.folder_uid == settings.datasource_uid:
        problems.append(
            str(
                ConfigProblem(
                    config.source,
                    "dashboards.datasource_uid",
                    "equals folder_uid; give the data source its own uid (e.g. gwmon-influxdb)",
                )
            )
        )
    return problems
