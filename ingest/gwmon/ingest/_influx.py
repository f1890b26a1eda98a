"""InfluxDB through its v1-compatible HTTP API: line protocol to /write, InfluxQL to /query.

InfluxDB 1.x, 2.x (v1 compatibility + DBRP mapping) and 3.x all serve these endpoints,
so gwmon needs no version-specific client. Line protocol is small enough to build here;
the escaping rules are tested against the real server (tests/test_influx.py).
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from gwmon.ingest._config import InfluxSettings

logger = logging.getLogger("gwmon.ingest.influx")

FieldValue = float | int | bool | str


class StoreError(Exception):
    """Base class of storage errors."""


class StoreConfigError(StoreError):
    """The database is missing or unreachable by configuration; retrying will not help."""


class StoreWriteError(StoreError):
    """A write failed. `retryable` says whether the same write may succeed later;
    `partial` that the server kept the good points and refused the others (HTTP 400
    "partial write"), with `detail` naming what it refused. `dropped` is InfluxDB's count
    of refused points of a partial write (its "dropped=N"; lines it could not parse are
    not in it), None when the answer does not say."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        partial: bool = False,
        status: int | None = None,
        dropped: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.partial = partial
        self.status = status
        self.dropped = dropped
        self.detail = message


_DROPPED = re.compile(r" dropped=(\d{1,12})$")


def _escape_key(text: str) -> str:
    # Tag keys/values and field keys: escape comma, equals, space. InfluxDB 1.x keeps a
    # backslash literally (it does not unescape a doubled one), so backslashes stay as they are;
    # a trailing one would escape the separator and is dropped (tests/test_influx.py).
    text = text.rstrip("\\")
    return text.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_measurement(text: str) -> str:
    return text.rstrip("\\").replace(",", "\\,").replace(" ", "\\ ")


def _escape_string_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _format_field(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = "InfluxDB cannot store NaN or infinity"
            raise ValueError(msg)
        return repr(value)  # shortest text that reads back to the same float
    return f'"{_escape_string_field(value)}"'


def _clean_tag_value(text: str) -> str:
    # Newlines would end the line; tag values cannot hold them.
    return text.replace("\n", " ").replace("\r", " ")


_escape_field_key = functools.lru_cache(maxsize=1024)(_escape_key)


@functools.lru_cache(maxsize=65_536)
def series_prefix(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """`measurement,tag=value,...` escaped, tags sorted; cached because a fleet writes the
    same few thousand series over and over (half the ingest's CPU time without it)."""
    parts = [_escape_measurement(measurement)]
    for key, value in sorted(tags):
        if value:
            parts.append(f"{_escape_key(key)}={_escape_key(_clean_tag_value(value))}")
    return ",".join(parts)


_LINE_TIME = re.compile(r"-?\d{1,19}")
_TAG_UNESCAPE = re.compile(r"\\([,= ])")


def line_time_ns(line: str) -> int | None:
    """The timestamp ending a line of line protocol, None if it has none."""
    last = line.rpartition(" ")[2]
    return int(last) if _LINE_TIME.fullmatch(last) else None


def _unescaped_index(text: str, chars: str, start: int = 0) -> int:
    """Index of the first of `chars` not escaped by a backslash, or len(text)."""
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
        elif char in chars:
            return index
        else:
            index += 1
    return len(text)


def line_tags(line: str) -> dict[str, str]:
    """The tags of a line of line protocol, read as InfluxDB reads them (a backslash
    escapes the next character). Best effort: for naming the probe of a refused line."""
    series = line[: _unescaped_index(line, " ")]
    tags: dict[str, str] = {}
    cut = _unescaped_index(series, ",")  # the measurement ends here
    while cut < len(series):
        end = _unescaped_index(series, ",", cut + 1)
        part = series[cut + 1 : end]
        equals = _unescaped_index(part, "=")
        if equals < len(part):
            key, value = part[:equals], part[equals + 1 :]
            tags[_TAG_UNESCAPE.sub(r"\1", key)] = _TAG_UNESCAPE.sub(r"\1", value)
        cut = end
    return tags


@dataclass(frozen=True, slots=True)
class Point:
    """One line of line protocol. Empty tag values are left out (InfluxDB refuses them)."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int

    def to_line(self) -> str:
        prefix = series_prefix(self.measurement, tuple(self.tags.items()))
        fields = ",".join(
            f"{_escape_field_key(key)}={_format_field(value)}" for key, value in self.fields.items()
        )
        if not fields:
            msg = f"point of {self.measurement} has no fields"
            raise ValueError(msg)
        return f"{prefix} {fields} {self.time_ns}"


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
                self.query(f'CREATE DATABASE "{database}"')
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
        return {row[0] for serie in self.query("SHOW DATABASES") for row in serie.get("values", [])}

    # -- write ------------------------------------------------------------------------------
    def write_lines(self, lines: Sequence[str]) -> None:
        """Write line protocol in one request. Raises StoreWriteError."""
        if not lines:
            return
        body = ("\n".join(lines) + "\n").encode()
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.settings.gzip:
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
        self, influxql: str, *, epoch: str = "ns", params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Run InfluxQL (one statement) and return its series. Raises StoreError."""
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
        self, influxql: str, *, epoch: str = "ns", params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Rows of all series as dicts, with the series' tags merged in."""
        rows: list[dict[str, Any]] = []
        for serie in self.query(influxql, epoch=epoch, params=params):
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
