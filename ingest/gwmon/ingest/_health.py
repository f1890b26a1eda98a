"""What the ingest knows about its own health, for /metrics and /healthz (`gwmon.ingest._ops`).

Written on the ingest's thread once per batch or per broker statistic (never per
reading), read by the ops endpoint's threads under one lock. No HTTP, no Prometheus
here: the service stays free of the endpoint's dependencies.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from dataclasses import dataclass, field

logger = logging.getLogger("gwmon.ingest.health")

# Upper bounds of the write-latency histogram (seconds): a healthy write takes
# milliseconds; the long tail is InfluxDB compacting or the retries of an outage.
WRITE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Mosquitto's statistics topics ($SYS, every `sys_interval` seconds): all messages the
# broker holds (queued for sessions, in flight, retained) and the count it dropped
# because a queue was full (max_queued_messages / max_queued_bytes).
BROKER_STORED_TOPIC = "$SYS/broker/store/messages/count"
BROKER_DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
BROKER_STAT_TOPICS = (BROKER_STORED_TOPIC, BROKER_DROPPED_TOPIC)
_MAX_STAT_BYTES = 32
DROP_NEWS_S = 900.0  # /healthz reports a drop for this long (the log keeps it for good)


@dataclass
class WriteLatency:
    """A cumulative histogram of batch write durations (Prometheus semantics)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(WRITE_BUCKETS_S) + 1))
    total_s: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(WRITE_BUCKETS_S, seconds)] += 1
        self.total_s += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, count of writes up to it) per bucket, ending with +Inf."""
        running = 0
        buckets: list[tuple[str, int]] = []
        for bound, count in zip((*WRITE_BUCKETS_S, float("inf")), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return buckets


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """A consistent copy of `IngestHealth` for one scrape."""

    store_problem: str | None
    last_write_s: float | None
    latency: WriteLatency
    broker_stored: int | None
    broker_dropped: int | None
    queue_problem: str | None


class IngestHealth:
    """Store writability, write latency and the broker's queue, as the ingest saw them.

    `queue_limit` is the broker's `max_queued_messages` ([ops] broker_queue_limit, 0 =
    not watched); the queue counts as about to overflow at `warn_fraction` of it.
    """

    def __init__(self, *, queue_limit: int = 0, warn_fraction: float = 0.8) -> None:
        self._lock = threading.Lock()
        self._queue_limit = queue_limit
        self._warn_at = int(queue_limit * warn_fraction)
        self._store_problem: str | None = "no write yet"
        self._failing_since: float | None = None
        self._last_write_s: float | None = None
        self._latency = WriteLatency()
        self._broker_stored: int | None = None
        self._broker_dropped: int | None = None
        self._dropped_seen: int | None = None
        self._queue_warned = False
        self._drop_problem: str | None = None
        self._drop_problem_until = 0.0
        self._dropped_since_start = 0

    # -- written by the ingest thread ---------------------------------------------------------
    def store_reachable(self) -> None:
        """InfluxDB answered at start-up (no write yet, but nothing wrong either)."""
        with self._lock:
            if self._last_write_s is None:
                self._store_problem = None

    def write_failing(self, now_s: float) -> None:
        """A write failed and will be retried (called between the tries)."""
        with self._lock:
            if self._failing_since is None:
                self._failing_since = now_s
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._failing_since))
            self._store_problem = f"InfluxDB is not accepting writes since {since} (retrying)"

    def write_succeeded(self, seconds: float, now_s: float) -> None:
        with self._lock:
            self._latency.observe(seconds)
            self._last_write_s = now_s
            self._store_problem = None
            self._failing_since = None

    def broker_statistic(self, topic: str, payload: bytes) -> None:
        """One $SYS message of the broker (QoS 0, every sys_interval)."""
        text = payload[:_MAX_STAT_BYTES].decode("ascii", "replace").strip()
        if not text.isdigit():
            return
        value = int(text)
        with self._lock:
            if topic == BROKER_STORED_TOPIC:
                self._broker_stored = value
            elif topic == BROKER_DROPPED_TOPIC:
                self._broker_dropped = value
        self._warn_about_queue(topic, value)

    def _warn_about_queue(self, topic: str, value: int) -> None:
        if topic == BROKER_DROPPED_TOPIC:
            dropped = 0 if self._dropped_seen is None else value - self._dropped_seen
            self._dropped_seen = value
            if dropped > 0:
                with self._lock:
                    self._dropped_since_start += dropped
                    self._drop_problem = (
                        f"the broker dropped {self._dropped_since_start} message(s) since gwmon "
                        "started: a queue was full"
                    )
                    self._drop_problem_until = time.monotonic() + DROP_NEWS_S
                logger.error(
                    "the broker DROPPED %d message(s) since its last report: a queue is full "
                    "(max_queued_messages / max_queued_bytes in mosquitto.conf); they are lost",
                    dropped,
                )
            return
        if not self._queue_limit:
            return
        if value >= self._warn_at and not self._queue_warned:
            self._queue_warned = True
            logger.error(
                "the broker holds %d messages, %.0f %% of its queue limit of %d "
                "([ops] broker_queue_limit = max_queued_messages): it will drop messages "
                "when the queue is full; is InfluxDB down? see docs/reliability.md",
                value,
                100 * value / self._queue_limit,
                self._queue_limit,
            )
        elif value < self._warn_at and self._queue_warned:
            self._queue_warned = False
            logger.warning("the broker's queue is back to %d messages", value)

    # -- read by the endpoint -----------------------------------------------------------------
    def snapshot(self) -> HealthSnapshot:
        with self._lock:
            latency = WriteLatency(list(self._latency.counts), self._latency.total_s)
            return HealthSnapshot(
                store_problem=self._store_problem,
                last_write_s=self._last_write_s,
                latency=latency,
                broker_stored=self._broker_stored,
                broker_dropped=self._broker_dropped,
                queue_problem=self._queue_problem(),
            )

    def _queue_problem(self) -> str | None:
        if self._drop_problem is not None and time.monotonic() < self._drop_problem_until:
            return self._drop_problem
        stored = self._broker_stored
        if not self._queue_limit or stored is None or stored < self._warn_at:
            return None
        return (
            f"broker queue about to overflow: {stored} of {self._queue_limit} messages "
            "(max_queued_messages)"
        )
