"""The operations endpoint of `gwmon run`: Prometheus `/metrics` and `/healthz`.

A small HTTP server in its own threads, on loopback by default ([ops]). It reads the
ingest's counters and health at scrape time, so the hot path pays nothing per reading;
the write-latency histogram is fed once per batch. Other stages add their gauges
through `GaugeSource` (alerts open by kind, mails queued), wired by the CLI.

`/healthz`: 200 `{"status": "ok"}` when the broker is connected and InfluxDB accepts
writes (the last write succeeded and /ping answers); 503 with the reasons otherwise,
also when the broker's queue is about to overflow (see `IngestHealth`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from gwmon.ingest._config import OpsSettings
from gwmon.ingest._health import IngestHealth
from gwmon.ingest._storage import IngestCounters

logger = logging.getLogger("gwmon.ingest.ops")

_PING_TIMEOUT_S = 2.0
_PING_CACHE_S = 2.0
_MAX_REQUEST_LINE = 2048


class IngestView(Protocol):
    """What the endpoint reads from the ingest service (`IngestService` is one)."""

    @property
    def counters(self) -> IngestCounters: ...
    @property
    def health(self) -> IngestHealth: ...
    @property
    def connected(self) -> bool: ...
    @property
    def rejected_by_reason(self) -> dict[str, int]: ...
    @property
    def unacknowledged(self) -> int: ...


@dataclass(frozen=True, slots=True)
class GaugeSource:
    """A gauge another stage provides: `read()` maps label values (in the order of
    `labels`) to the current value; it is called at every scrape, on the endpoint's
    thread, so it must be thread-safe and cheap."""

    name: str
    help: str
    labels: tuple[str, ...]
    read: Callable[[], Mapping[tuple[str, ...], float]]


class _IngestCollector(Collector):
    def __init__(
        self,
        view: IngestView,
        sources: list[GaugeSource],
        store_problem: Callable[[], str | None],
    ) -> None:
        self._view = view
        self._sources = sources
        self._store_problem = store_problem

    def collect(self) -> Iterable[Metric]:
        view = self._view
        counters = view.counters
        health = view.health.snapshot()
        yield _counter("gwmon_messages_received", "MQTT messages received", counters.received)
        yield _counter("gwmon_readings_stored", "Readings InfluxDB stored", counters.readings)
        rejected = CounterMetricFamily(
            "gwmon_rejected", "Rejected messages, records and refused points", labels=["reason"]
        )
        for reason, count in sorted(view.rejected_by_reason.items()):
            rejected.add_metric([reason], count)
        yield rejected
        yield _counter(
            "gwmon_write_errors", "Failed InfluxDB write requests", counters.write_errors
        )
        yield HistogramMetricFamily(
            "gwmon_batch_write_seconds",
            "Duration of successful batch writes to InfluxDB (retries included)",
            buckets=health.latency.cumulative(),
            sum_value=health.latency.total_s,
        )
        yield _gauge(
            "gwmon_unacknowledged_messages",
            "Messages received and not yet acknowledged to the broker",
            view.unacknowledged,
        )
        if health.last_write_s is not None:
            yield _gauge(
                "gwmon_last_successful_write_timestamp_seconds",
                "When InfluxDB last stored a batch (UNIX time)",
                health.last_write_s,
            )
        yield _gauge("gwmon_broker_connected", "1 while connected to the broker", view.connected)
        yield _gauge(
            "gwmon_store_writable", "1 while InfluxDB accepts writes", self._store_problem() is None
        )
        if health.broker_stored is not None:
            yield _gauge(
                "gwmon_broker_stored_messages",
                "Messages the broker holds ($SYS/broker/store/messages/count)",
                health.broker_stored,
            )
        if health.broker_dropped is not None:
            yield _counter(
                "gwmon_broker_dropped_messages",
                "Messages the broker dropped, queue full ($SYS/broker/publish/messages/dropped)",
                health.broker_dropped,
            )
        yield from self._stage_gauges()

    def _stage_gauges(self) -> Iterator[Metric]:
        for source in self._sources:
            try:
                values = source.read()
            except Exception:  # a stage's bug must not break the scrape of the others
                logger.exception("metrics source %s failed", source.name)
                continue
            family = GaugeMetricFamily(source.name, source.help, labels=list(source.labels))
            for labels, value in sorted(values.items()):
                family.add_metric(list(labels), value)
            yield family


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


class StorePing:
    """Asks InfluxDB's /ping, at most every `_PING_CACHE_S` (its own HTTP session)."""

    def __init__(self, url: str, *, verify: bool | str = True) -> None:
        self._url = url.rstrip("/") + "/ping"
        self._session = requests.Session()
        self._session.verify = verify
        self._lock = threading.Lock()
        self._checked_at = -_PING_CACHE_S
        self._problem: str | None = None

    def problem(self) -> str | None:
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at >= _PING_CACHE_S:
                self._checked_at = now
                self._problem = self._ask()
            return self._problem

    def _ask(self) -> str | None:
        try:
            response = self._session.get(self._url, timeout=_PING_TIMEOUT_S)
        except requests.RequestException as exc:
            return f"InfluxDB does not answer /ping ({type(exc).__name__})"
        if response.status_code != HTTPStatus.NO_CONTENT:
            return f"InfluxDB /ping answered HTTP {response.status_code}"
        return None

    def close(self) -> None:
        self._session.close()


class OpsServer:
    """/metrics and /healthz for one ingest service; `start()` serves, `stop()` closes."""

    def __init__(
        self,
        settings: OpsSettings,
        view: IngestView,
        *,
        store_ping: StorePing,
        sources: Iterable[GaugeSource] = (),
    ) -> None:
        self.settings = settings
        self._view = view
        self._ping = store_ping
        self._sources = list(sources)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_IngestCollector(view, self._sources, self._store_problem))
        self._server = ThreadingHTTPServer((settings.host, settings.port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def add_source(self, source: GaugeSource) -> None:
        self._sources.append(source)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="gwmon-ops"
        )
        self._thread.daemon = True
        self._thread.start()
        logger.info(
            "metrics at http://%s:%d/metrics, health at /healthz", self.settings.host, self.port
        )

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()
        self._ping.close()

    def _store_problem(self) -> str | None:
        """Why InfluxDB does not count as writable: the last write failed, or /ping."""
        return self._view.health.snapshot().store_problem or self._ping.problem()

    def health(self) -> tuple[HTTPStatus, dict[str, object]]:
        """(status, body) of /healthz."""
        problems: list[str] = []
        if not self._view.connected:
            problems.append("not connected to the MQTT broker")
        store_problem = self._store_problem()
        if store_problem is not None:
            problems.append(store_problem)
        snapshot = self._view.health.snapshot()
        if snapshot.queue_problem is not None:
            problems.append(snapshot.queue_problem)
        if problems:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "unavailable", "problems": problems}
        return HTTPStatus.OK, {"status": "ok"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "gwmon-ops"
            sys_version = ""

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(HTTPStatus.OK, generate_latest(server.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    status, body = server.health()
                    self._send(status, json.dumps(body).encode(), "application/json")
                else:
                    self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

            def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                logger.debug("ops endpoint: %s", (format % args)[:_MAX_REQUEST_LINE])

        return Handler
