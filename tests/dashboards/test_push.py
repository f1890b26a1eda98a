"""`gwmon dashboards push` against a local HTTP stub of Grafana's API (the one stub)."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from dashboards.grafana_stub import grafana_stub
from gwmon.dashboards import DashboardsSettings, build_dashboards
from gwmon.dashboards._push import PushError, connect, datasource_payload, push
from gwmon.ingest import Registry
from gwmon.ingest.devservers import free_port
from gwmon.storage import InfluxSettings


def test_push_twice_creates_once_and_updates_in_place(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    settings = DashboardsSettings()
    influx = InfluxSettings(
        url="http://influx:8086", database="gw", username="grafana", password=SecretStr("influx-pw")
    )
    dashboards = build_dashboards(settings, registry)
    caplog.set_level(logging.DEBUG)
    with grafana_stub() as (url, state):
        api = connect(url, SecretStr(state.token), timeout_s=5)
        first = push(api, settings, influx, dashboards)
        first_calls = [(r.method, r.path) for r in state.requests]
        state.requests.clear()
        second = push(api, settings, influx, dashboards)
        second_calls = [(r.method, r.path) for r in state.requests]
    assert (first.folder, first.datasource) == ("created", "created")
    assert (second.folder, second.datasource) == ("unchanged", "updated")
    assert first_calls == [
        ("GET", "/api/folders/gwmon"),
        ("POST", "/api/folders"),
        ("GET", "/api/datasources/uid/gwmon-influxdb"),
        ("POST", "/api/datasources"),
        ("POST", "/api/dashboards/db"),
        ("POST", "/api/dashboards/db"),
        ("POST", "/api/dashboards/db"),
    ]
    assert second_calls == [
        ("GET", "/api/folders/gwmon"),
        ("GET", "/api/datasources/uid/gwmon-influxdb"),
        ("PUT", "/api/datasources/uid/gwmon-influxdb"),
        ("POST", "/api/dashboards/db"),
        ("POST", "/api/dashboards/db"),
        ("POST", "/api/dashboards/db"),
    ]
    # No duplicates: one folder, one data source, three dashboards, each saved twice.
    assert list(state.folders) == ["gwmon"]
    assert list(state.datasources) == ["gwmon-influxdb"]
    assert sorted(state.dashboards) == ["gwmon-overview", "gwmon-probe", "gwmon-quality"]
    assert {d["version"] for d in state.dashboards.values()} == {2}
    saved = state.dashboards["gwmon-probe"]
    assert saved["folderUid"] == "gwmon" and saved["overwrite"] is True
    assert saved["dashboard"]["id"] is None
    assert saved["dashboard"]["panels"] == dashboards["gwmon-probe.json"]["panels"]
    datasource = state.datasources["gwmon-influxdb"]
    assert datasource["jsonData"] == {
        "version": "InfluxQL",
        "dbName": "gw",
        "httpMode": "POST",
        "timeInterval": "1m",
    }
    assert (datasource["url"], datasource["user"]) == ("http://influx:8086", "grafana")
    assert datasource["secureJsonData"] == {"password": "influx-pw"}
    assert {r.authorization for r in state.requests} == {f"Bearer {state.token}"}
    assert "influx-pw" not in caplog.text and state.token not in caplog.text


def test_push_reports_refusals_with_the_step(registry: Registry) -> None:
    settings = DashboardsSettings()
    dashboards = build_dashboards(settings, registry)
    with grafana_stub() as (url, state):
        wrong = connect(url, SecretStr("wrong-token"), timeout_s=5)
        with pytest.raises(PushError, match=r"folder 'gwmon': HTTP 401: Unauthorized"):
            push(wrong, settings, InfluxSettings(), dashboards)
        state.fail_dashboards_with = 400
        api = connect(url, SecretStr(state.token), timeout_s=5)
        with pytest.raises(PushError, match=r"save dashboard gwmon-overview.json: HTTP 400"):
            push(api, settings, InfluxSettings(), dashboards)
        assert state.dashboards == {}


def test_push_to_nothing_listening_is_a_clear_error(registry: Registry) -> None:
    api = connect(f"http://127.0.0.1:{free_port()}", SecretStr("t"), timeout_s=2)
    with pytest.raises(PushError, match="cannot reach Grafana: ConnectionError"):
        push(
            api,
            DashboardsSettings(),
            InfluxSettings(),
            build_dashboards(DashboardsSettings(), registry),
        )


def test_token_datasource_puts_the_token_in_a_secure_header(registry: Registry) -> None:
    payload = datasource_payload(
        DashboardsSettings(influxdb_url="https://i:8086"), InfluxSettings(token=SecretStr("tok"))
    )
    assert payload["url"] == "https://i:8086"
    assert payload["jsonData"]["httpHeaderName1"] == "Authorization"
    assert payload["secureJsonData"] == {"httpHeaderValue1": "Token tok"}
    assert "user" not in payload
