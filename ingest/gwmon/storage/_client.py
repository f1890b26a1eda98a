"""InfluxDB through its v1-compatible HTTP API: line protocol to /write, InfluxQL to /query.

InfluxDB 1.x, 2.x (v1 compatibility + DBRP mapping) and 3.x all serve these endpoints,
so gwmon needs no version-specific client.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import requests

from gwmon.storage._errors import StoreConfigError, StoreError, StoreWriteError
from gwmon.storage._influxql import SHOW_DATABASES, Statement, create_database
from gwmon.storage._line import Point
from gwmon.storage._lines import body_of
from gwmon.storage._settings import InfluxSettings

logger = logging.getLogger("gwmon.storage.client")

_DROPPED = re.compile(r" dropped=(\d{1,12})$")


class InfluxClient:
    """Writes points and runs InfluxQL. Thread-compatible, not thread-safe (one session)."""

    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        self._session = requests.Session()
        token = settings.resolved_token()
        password = settings.resolved_password()
        if token is not None:
            self._session.headers["Authorization"] = f"Token {token.get_secret_value()}"
        elif settings.username and password is not None:
            self._session.auth = (settings.username, password.get_secret_value())
        if settings.ca_file is not None:
            self._session.verify = str(settings.ca_file)
        elif not settings.verify_tls:
            self._session.verify = False
        self.server_version: str | None = None
        self._compress = settings.compress

    def close(self) -> None:
        self._session.close()

    # -- database -------------------------------------------------------------------------
    def ping(self) -> str:
        """Return the server's version; raise StoreError if it does not answer."""
        try:
            response = self._session.get(
                f"{self.settings.url}/ping", timeout=self.settings.timeout_s
            )
        except requests.RequestException as exc:
            msg = f"InfluxDB at {self.settings.url} does not answer: {type(exc).__name__}"
            raise StoreWriteError(msg, retryable=True) from None
        self.server_version = response.headers.get("X-Influxdb-Version", "unknown")
        return self.server_version

    def ensure_database(self) -> None:
        """Create the database on InfluxDB 1.x; on 2.x/3.x check that it is mapped."""
        version = self.ping()
        database = self.settings.database
        if version.startswith("1."):
            try:
                self.query(create_database(database))
            except StoreWriteError:
                raise
            except StoreError as exc:
                # A user without admin rights may not create it; fine if it exists.
                if database in self._database_names():
                    return
                msg = (
                    f"InfluxDB {version} at {self.settings.url} has no database '{database}' "
                    f"and gwmon may not create it ({exc}); as an admin run "
                    f'`CREATE DATABASE "{database}"` and grant gwmon\'s user READ and WRITE'
                )
                raise StoreConfigError(msg) from None
            return
        if database not in self._database_names():
            msg = (
                f"InfluxDB {version} at {self.settings.url} has no database '{database}'. "
                "On InfluxDB 2.x create a bucket and a DBRP mapping: `influx bucket create "
                f"-n {database}` then `influx v1 dbrp create --db {database} --rp autogen "
                "--bucket-id <id> --default`. On 3.x create the database "
                f"`influxdb3 create database {database}`. See docs/storage.md."
            )
            raise StoreConfigError(msg)

    def _database_names(self) -> set[str]:
        return {row[0] for serie in self.query(SHOW_DATABASES) for row in serie.get("values", [])}

    # -- write ------------------------------------------------------------------------------
    def write_lines(self, lines: Sequence[str]) -> None:
        """Write line protocol in one request. Raises StoreWriteError."""
        if not lines:
            return
        # Each line and its newline in one join: no second copy of a large text for the
        # last newline (a batch is megabytes); a LineBuffer's blocks as they are.
        body = body_of(lines)
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._compress:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        params = {"db": self.settings.database, "precision": "ns"}
        if self.settings.retention_policy:
            params["rp"] = self.settings.retention_policy
        try:
            response = self._session.post(
                f"{self.settings.url}/write",
                params=params,
                data=body,
                headers=headers,
                timeout=self.settings.timeout_s,
            )
        except requests.RequestException as exc:
            msg = f"write to {self.settings.url} failed: {type(exc).__name__}"
            raise StoreWriteError(msg, retryable=True) from None
        if response.status_code == 204:
            return
        text = _error_text(response)
        if response.status_code == 400 and "partial write" in text:
            # The count ends the message, which lists every unparseable line: search it
            # in the whole text, not in the shortened one.
            dropped = _DROPPED.search(_error_text(response, limit=None))
            raise StoreWriteError(
                text,
                retryable=False,
                partial=True,
                status=400,
                dropped=int(dropped.group(1)) if dropped else None,
            )
        if response.status_code == 404 and "database not found" in text:
            msg = f"{text}; run `gwmon run` against InfluxDB 1.x to create it, see docs/storage.md"
            raise StoreWriteError(msg, retryable=False, status=404)
        retryable = response.status_code >= 500 or response.status_code in (408, 429)
        raise StoreWriteError(
            f"HTTP {response.status_code}: {text}", retryable=retryable, status=response.status_code
        )

    def write_points(self, points: Iterable[Point]) -> None:
        self.write_lines([point.to_line() for point in points])

    def write_with_retry(
        self,
        lines: Sequence[str],
        *,
        wait: Callable[[float], None] = time.sleep,
        give_up_after_s: float | None = None,
    ) -> None:
        """Write, retrying retryable failures with capped exponential backoff.

        `wait(seconds)` is called between tries (the ingest passes a function that keeps
        the MQTT connection alive). Non-retryable errors are raised at once.
        """
        delay = 0.2
        started = time.monotonic()
        while True:
            try:
                self.write_lines(lines)
            except StoreWriteError as exc:
                if not exc.retryable:
                    raise
                if give_up_after_s is not None and time.monotonic() - started > give_up_after_s:
                    raise
                logger.warning("InfluxDB write failed (%s); retrying in %.1f s", exc, delay)
                wait(delay)
                delay = min(delay * 2, self.settings.max_retry_interval_s)
            else:
                return

    # -- query ------------------------------------------------------------------------------
    def query(
        self,
        statement: Statement | str,
        *,
        epoch: str = "ns",
        params: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Run one InfluxQL statement and return its series. Raises StoreError."""
        influxql = statement if isinstance(statement, str) else statement.text
        data = {"q": influxql, "db": self.settings.database, "epoch": epoch}
        if params:
            data["params"] = json.dumps(dict(params))
        try:
            response = self._session.post(
                f"{self.settings.url}/query", data=data, timeout=self.settings.timeout_s
            )
        except requests.RequestException as exc:
            msg = f"query to {self.settings.url} failed: {type(exc).__name__}"
            raise StoreWriteError(msg, retryable=True) from None
        if response.status_code != 200:
            raise StoreError(f"HTTP {response.status_code}: {_error_text(response)}")
        results = response.json().get("results", [{}])
        first = results[0] if results else {}
        if "error" in first:
            raise StoreError(f"InfluxQL error: {first['error']} in {influxql[:200]}")
        series: list[dict[str, Any]] = first.get("series", [])
        return series

    def query_rows(
        self,
        statement: Statement | str,
        *,
        epoch: str = "ns",
        params: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of all series as dicts, with the series' tags merged in."""
        rows: list[dict[str, Any]] = []
        for serie in self.query(statement, epoch=epoch, params=params):
            tags = serie.get("tags") or {}
            columns = serie["columns"]
            rows.extend(
                {**tags, **dict(zip(columns, values, strict=True))} for values in serie["values"]
            )
        return rows


def _error_text(response: requests.Response, limit: int | None = 500) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:limit]
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])[:limit]
    return response.text[:limit]
