"""`gwmon dashboards push`: create or update folder, data source and dashboards in a
running Grafana through its HTTP API (grafana-client), idempotently.

Everything is addressed by uid (folder, data source, dashboards), so a second push
updates in place instead of creating duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException
from pydantic import SecretStr

from gwmon.config import GwmonError
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.storage import InfluxSettings

logger = logging.getLogger("gwmon.dashboards.push")

_NOT_FOUND = 404


class PushError(GwmonError):
    """Grafana refused or could not be reached; the message says which step and why."""


@dataclass
class PushResult:
    folder: str = ""  # "created" | "updated" | "unchanged"
    datasource: str = ""
    dashboards: dict[str, str] = field(default_factory=dict)  # uid -> Grafana's status


def datasource_payload(settings: DashboardsSettings, influx: InfluxSettings) -> dict[str, Any]:
    """The data source as Grafana's API takes it; the secret goes to secureJsonData."""
    payload: dict[str, Any] = {
        "name": settings.datasource_name,
        "uid": settings.datasource_uid,
        "type": "influxdb",
        "access": "proxy",
        "url": settings.influxdb_url or influx.url,
        "jsonData": {
            "version": "InfluxQL",
            "dbName": influx.database,
            "httpMode": "POST",
            "timeInterval": "1m",
        },
        "secureJsonData": {},
        "isDefault": False,
    }
    token = influx.resolved_token()
    password = influx.resolved_password()
    if token is not None:
        payload["jsonData"]["httpHeaderName1"] = "Authorization"
        payload["secureJsonData"]["httpHeaderValue1"] = f"Token {token.get_secret_value()}"
    elif influx.username:
        payload["user"] = influx.username
        if password is not None:
            payload["secureJsonData"]["password"] = password.get_secret_value()
    return payload


def _step(what: str, exc: GrafanaException) -> PushError:
    # Grafana's error bodies never contain our secrets; the token is not in the message.
    return PushError(f"Grafana refused to {what}: HTTP {exc.status_code}: {exc.message}")


def connect(url: str, token: SecretStr, *, timeout_s: float) -> GrafanaApi:
    return GrafanaApi.from_url(url=url, credential=token.get_secret_value(), timeout=timeout_s)


def push(
    api: GrafanaApi,
    settings: DashboardsSettings,
    influx: InfluxSettings,
    dashboards: Mapping[str, Mapping[str, Any]],
) -> PushResult:
    """Folder, then data source, then dashboards (overwrite by uid)."""
    try:
        return _push(api, settings, influx, dashboards)
    except OSError as exc:  # requests' connection errors are OSErrors
        msg = f"cannot reach Grafana: {type(exc).__name__}"
        raise PushError(msg) from None


def _push(
    api: GrafanaApi,
    settings: DashboardsSettings,
    influx: InfluxSettings,
    dashboards: Mapping[str, Mapping[str, Any]],
) -> PushResult:
    result = PushResult()
    try:
        try:
            folder = api.folder.get_folder(settings.folder_uid)
        except GrafanaClientError as exc:
            if exc.status_code != _NOT_FOUND:
                raise
            api.folder.create_folder(settings.folder_title, uid=settings.folder_uid)
            result.folder = "created"
        else:
            if folder.get("title") != settings.folder_title:
                api.folder.update_folder(
                    settings.folder_uid, title=settings.folder_title, overwrite=True
                )
                result.folder = "updated"
            else:
                result.folder = "unchanged"
    except GrafanaException as exc:
        raise _step(f"create or update folder {settings.folder_uid!r}", exc) from None

    payload = datasource_payload(settings, influx)
    try:
        try:
            api.datasource.get_datasource_by_uid(settings.datasource_uid)
        except GrafanaClientError as exc:
            if exc.status_code != _NOT_FOUND:
                raise
            api.datasource.create_datasource(payload)
            result.datasource = "created"
        else:
            api.datasource.update_datasource_by_uid(settings.datasource_uid, payload)
            result.datasource = "updated"
    except GrafanaException as exc:
        raise _step(f"create or update data source {settings.datasource_uid!r}", exc) from None

    for name, dashboard in sorted(dashboards.items()):
        body = {
            "dashboard": {**dashboard, "id": None},
            "folderUid": settings.folder_uid,
            "overwrite": True,
            "message": "gwmon dashboards push",
        }
        try:
            answer = api.dashboard.update_dashboard(body)
        except GrafanaException as exc:
            raise _step(f"save dashboard {name}", exc) from None
        result.dashboards[str(dashboard.get("uid"))] = str(answer.get("status", "success"))
        logger.info("pushed dashboard %s (%s)", dashboard.get("uid"), answer.get("status"))
    return result
