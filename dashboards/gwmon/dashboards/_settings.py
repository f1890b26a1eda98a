"""The [dashboards] configuration section."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gwmon.config import ConfigError
from gwmon.ingest import GwmonConfig, Registry

_UID = r"^[A-Za-z0-9_-]{1,40}$"


class DashboardsSettings(BaseModel):
    """How gwmon's dashboards, provisioning files and reports are built and pushed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grafana_url: str | None = None
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
            msg = "must start with http:// or https:// (e.g. http://127.0.0.1:3000)"
            raise ValueError(msg)
        return value.rstrip("/") if value else value

    @field_validator("token_env")
    @classmethod
    def _check_env_name(cls, value: str) -> str:
        if not value.replace("_", "").isalnum():
            msg = "must be an environment variable name such as GRAFANA_TOKEN"
            raise ValueError(msg)
        return value


EXAMPLE_TOML = """\
[dashboards]
# Grafana for `gwmon dashboards push` (also --grafana-url). The API token is read from
# the environment variable named by token_env, never from this file.
# grafana_url = "http://127.0.0.1:3000"
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


def check_config(config: GwmonConfig, registry: Registry) -> list[str]:
    """Problems of [dashboards] relative to the registry (each names file, key and fix)."""
    from gwmon.ingest import section  # noqa: PLC0415 - avoid import cycle at load

    try:
        settings = section(config, "dashboards", DashboardsSettings)
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
            f"{config.source}: key 'dashboards.datasource_uid' equals folder_uid; "
            "give the data source its own uid (e.g. gwmon-influxdb)"
        )
    return problems
