"""A local HTTP stub of the few Grafana API endpoints `gwmon dashboards push` uses.

This is the one stubbed part of the dashboard tests (no Grafana can be installed here):
it records every request and keeps folders, data sources and dashboards by uid the way
Grafana does, so that duplicates would be visible.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str
    body: Any


@dataclass
class GrafanaState:
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    token: str = "stub-token"
    fail_dashboards_with: int | None = None


Reply = tuple[int, object]
NOT_FOUND: Reply = (404, {"message": "not found"})


def _folders(state: GrafanaState, method: str, parts: list[str], body: Any) -> Reply:
    match (method, parts):
        case ("GET", ["api", "folders", uid]):
            if uid in state.folders:
                return 200, state.folders[uid]
            return 404, {"message": "folder not found"}
        case ("POST", ["api", "folders"]):
            if body["uid"] in state.folders:
                return 409, {"message": "a folder with the same uid exists"}
            state.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
            return 200, state.folders[body["uid"]]
        case ("PUT", ["api", "folders", uid]):
            state.folders[uid]["title"] = body["title"]
            return 200, state.folders[uid]
    return NOT_FOUND


def _datasources(state: GrafanaState, method: str, parts: list[str], body: Any) -> Reply:
    match (method, parts):
        case ("GET", ["api", "datasources", "uid", uid]):
            if uid in state.datasources:
                return 200, state.datasources[uid]
            return 404, {"message": "data source not found"}
        case ("POST", ["api", "datasources"]):
            names = {d["name"] for d in state.datasources.values()}
            if body["uid"] in state.datasources or body["name"] in names:
                return 409, {"message": "data source with the same name already exists"}
            state.datasources[body["uid"]] = body
            return 200, {"message": "Datasource added", "datasource": body}
        case ("PUT", ["api", "datasources", "uid", uid]):
            state.datasources[uid] = body
            return 200, {"message": "Datasource updated"}
    return NOT_FOUND


def _save_dashboard(state: GrafanaState, body: Any) -> Reply:
    if state.fail_dashboards_with:
        return state.fail_dashboards_with, {"message": "Dashboard title cannot be empty"}
    uid = body["dashboard"]["uid"]
    if uid in state.dashboards and not body.get("overwrite"):
        return 412, {"message": "version-mismatch", "status": "version-mismatch"}
    version = state.dashboards.get(uid, {}).get("version", 0) + 1
    state.dashboards[uid] = {**body, "version": version}
    return 200, {"status": "success", "uid": uid, "version": version}


def _route(state: GrafanaState, method: str, parts: list[str], body: Any) -> Reply:
    if parts[:2] == ["api", "folders"]:
        return _folders(state, method, parts, body)
    if parts[:2] == ["api", "datasources"]:
        return _datasources(state, method, parts, body)
    if (method, parts) == ("POST", ["api", "dashboards", "db"]):
        return _save_dashboard(state, body)
    return NOT_FOUND


def _handler(state: GrafanaState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            auth = self.headers.get("Authorization", "")
            state.requests.append(Recorded(method, self.path, auth, body))
            if auth != f"Bearer {state.token}":
                self._reply(401, {"message": "invalid API key"})
                return
            parts = self.path.split("?")[0].strip("/").split("/")
            self._reply(*_route(state, method, parts, body))

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

    return Handler


@contextmanager
def grafana_stub() -> Iterator[tuple[str, GrafanaState]]:
    state = GrafanaState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
