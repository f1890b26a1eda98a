"""From an MQTT message to lines in the batch: topic, registry, decoder, derivation, and
the record of every rejection (`rejected`, docs/storage.md). Never raises for a message's
content: whatever a message holds ends as points in the batch or as a counted rejection.
"""

from __future__ import annotations

import logging
import math
from collections import Counter

from gwmon.ingest._batch import Batch
from gwmon.ingest._bounded import PayloadRejected, Reason
from gwmon.ingest._config import GwmonConfig
from gwmon.ingest._derive import with_derived
from gwmon.ingest._pack import decode_columns
from gwmon.ingest._registry import Probe, Registry
from gwmon.ingest._status import decode_status
from gwmon.ingest._storage import (
    BULK_LINES,
    IngestCounters,
    SeriesLines,
    rejected_point,
    status_point,
)
from gwmon.ingest._topics import parse_topic

logger = logging.getLogger("gwmon.ingest.intake")

_NS = 1_000_000_000
INTERNAL_ERROR = "internal_error"  # rejected.reason of a message that hit a bug of ours
# Whoever may publish can send rejections as fast as the broker lets them: log at most
# this many per interval one by one and count the rest (all are in `rejected`).
REJECTION_LOG_LINES = 20
REJECTION_LOG_INTERVAL_S = 60.0


class RateLimitedLog:
    """INFO lines of one kind, at most `lines` per `interval_s`; the rest are counted and
    summed up in one line when the interval is over (or at `flush`)."""

    def __init__(self, target: logging.Logger, *, lines: int, interval_s: float) -> None:
        self._logger = target
        self._lines = lines
        self._interval_s = interval_s
        self._window_start = -math.inf
        self._logged = 0
        self._suppressed = 0

    def info(self, now: float, message: str, *args: object) -> None:
        if now - self._window_start >= self._interval_s:
            self.flush(now)
            self._window_start = now
            self._logged = 0
        if self._logged < self._lines:
            self._logged += 1
            self._logger.info(message, *args)
        else:
            self._suppressed += 1

    def flush(self, now: float) -> None:
        if self._suppressed:
            self._logger.info(
                "%d more rejected messages not logged in %.0f s (more than %d per %.0f s); "
                "each one is in the measurement `rejected`",
                self._suppressed,
                now - self._window_start,
                self._lines,
                self._interval_s,
            )
            self._suppressed = 0


class Intake:
    """Turns messages into lines of a batch and keeps the rejection counters."""

    def __init__(self, config: GwmonConfig, registry: Registry, counters: IngestCounters) -> None:
        self.config = config
        self.registry = registry
        self.counters = counters
        self.rejected_by_reason: Counter[str] = Counter()
        self._ingestor = config.mqtt.client_id
        self._prefix = config.mqtt.topic_prefix
        self._last_rejected_ns = 0
        self._series: dict[str, SeriesLines] = {}  # probe id -> its line formats
        self._topics: dict[str, tuple[Probe, bool]] = {}  # topic -> probe, is status
        self.rejection_log = RateLimitedLog(
            logger, lines=REJECTION_LOG_LINES, interval_s=REJECTION_LOG_INTERVAL_S
        )

    def take(self, topic: str, payload: bytes, now: float, batch: Batch) -> None:
        """Add what one message yields to `batch`; a bug of ours becomes a rejection."""
        self.counters.received += 1
        try:
            self._take(topic, payload, now, batch)
        except Exception:
            # A bug must not stall the stream either: record it as a rejection.
            logger.exception("unexpected error handling a message on %s", topic[:200])
            self.reject(batch, INTERNAL_ERROR, None, topic, payload, "see log", now)

    def _take(self, topic: str, payload: bytes, now: float, batch: Batch) -> None:
        known = self._topics.get(topic)
        if known is None:
            info = parse_topic(topic, self._prefix)
            if info is None:
                detail = "topic is not gw/v1/<probe_id>/data|status"
                self.reject(batch, Reason.BAD_TOPIC, None, topic, payload, detail, now)
                return
            probe = self.registry.get(info.probe_id)
            if probe is None:
                detail = f"probe {info.probe_id} is not in the registry"
                self.reject(batch, Reason.UNKNOWN_PROBE, info.probe_id, topic, payload, detail, now)
                return
            # At most two topics per registered probe are ever kept.
            known = self._topics[topic] = (probe, info.kind == "status")
        probe, is_status = known
        if is_status:
            self._take_status(probe, topic, payload, now, batch)
        else:
            self._take_data(probe, topic, payload, now, batch)

    def _take_data(
        self, probe: Probe, topic: str, payload: bytes, now: float, batch: Batch
    ) -> None:
        limits = self.config.ingest
        try:
            columns = decode_columns(
                probe.probe_id,
                payload,
                now_s=now,
                future_margin_s=limits.future_margin_s,
                max_bytes=limits.max_payload_bytes,
            )
        except PayloadRejected as exc:
            self.reject(batch, exc.reason, probe.probe_id, topic, payload, exc.detail, now)
            return
        columns = with_derived(probe, columns)
        series = self._series.get(probe.probe_id)
        if series is None:
            series = self._series[probe.probe_id] = SeriesLines(probe)
        if len(columns.times_ns) < BULK_LINES:
            batch.add_readings(columns, series.reading_lines(columns))
        else:  # one block of text for many lines (`LineBuffer`)
            batch.add_readings(columns, series.reading_block(columns))
        for mark in columns.sequence:
            batch.lines.append(series.sequence_line(mark))
        for rejection in columns.rejections:
            self.counters.rejected_records += 1
            self.rejected_by_reason[rejection.reason] += 1
            batch.lines.append(
                rejected_point(
                    reason=rejection.reason,
                    probe=probe.probe_id,
                    ingestor=self._ingestor,
                    topic=topic,
                    payload=rejection.record.encode(),
                    detail=rejection.detail,
                    record_index=rejection.index,
                    time_ns=self._unique_rejected_ns(now),
                    max_chars=limits.rejected_payload_max_chars,
                ).to_line()
            )

    def _take_status(
        self, probe: Probe, topic: str, payload: bytes, now: float, batch: Batch
    ) -> None:
        if not payload:
            return  # a cleared retained message
        limits = self.config.ingest
        try:
            status = decode_status(
                probe.probe_id,
                payload,
                now_s=now,
                future_margin_s=limits.future_margin_s,
                max_bytes=limits.max_payload_bytes,
            )
        except PayloadRejected as exc:
            self.reject(batch, exc.reason, probe.probe_id, topic, payload, exc.detail, now)
            return
        batch.lines.append(
            status_point(
                probe,
                online=status.online,
                firmware=status.firmware,
                battery=status.battery,
                time_ns=status.time_ns,
            ).to_line()
        )

    def reject(  # noqa: PLR0917 - one call per rejection site, all fields positional
        self,
        batch: Batch,
        reason: str,
        probe: str | None,
        topic: str,
        payload: bytes,
        detail: str,
        now: float,
    ) -> None:
        """Record a whole message as refused: counted, logged (rate-limited), stored."""
        self.counters.rejected_messages += 1
        self.rejected_by_reason[reason] += 1
        self.rejection_log.info(
            now, "rejected message on %s: %s (%s)", topic[:200], reason, detail[:200]
        )
        # Only registry ids become tag values; any other id is kept as a field.
        known = probe is not None and self.registry.get(probe) is not None
        batch.lines.append(
            rejected_point(
                reason=reason,
                probe=probe if known else None,
                unknown_probe=None if known else probe,
                ingestor=self._ingestor,
                topic=topic,
                payload=payload,
                detail=detail,
                record_index=-1,
                time_ns=self._unique_rejected_ns(now),
                max_chars=self.config.ingest.rejected_payload_max_chars,
            ).to_line()
        )

    def _unique_rejected_ns(self, now: float) -> int:
        # Two rejections in the same nanosecond would overwrite each other (same tags).
        stamp = max(int(now * _NS), self._last_rejected_ns + 1)
        self._last_rejected_ns = stamp
        return stamp
