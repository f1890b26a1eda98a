"""The ingest service: MQTT (paho, v5, QoS 1, persistent session) -> InfluxDB.

At-least-once end to end: a message is acknowledged to the broker only after the batch
holding it (its readings, or the record of its rejection) was written to InfluxDB and
the observers have seen it. Redelivery is harmless because a point is identified by
measurement + tags + time. A bad message never stalls the stream: it is recorded in
`rejected`, acknowledged and counted.

Single-threaded on purpose: paho's network loop, decoding, batching and writing run on
one thread (thread hand-offs under the GIL cost more than they save here). The broker's
flow control (MQTT 5 Receive Maximum) bounds how many unacknowledged messages can pile up
while a write is retried.
"""

from __future__ import annotations

import json
import logging
import math
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from gwmon.config import GwmonError
from gwmon.ingest._config import GwmonConfig
from gwmon.ingest._observer import BatchObserver
from gwmon.ingest._registry import Probe, Registry
from gwmon.ingest._senml import PayloadRejected, Reading, Reason, decode_pack
from gwmon.ingest._status import decode_status
from gwmon.ingest._storage import (
    IngestCounters,
    reading_point,
    rejected_point,
    sequence_point,
    stats_point,
    status_point,
)
from gwmon.ingest._topics import parse_topic, subscription_filters
from gwmon.storage import (
    STORE_REFUSED,
    InfluxClient,
    StoreConfigError,
    StoreError,
    StoreWriteError,
    StoreWriter,
)

logger = logging.getLogger("gwmon.ingest.service")

_NS = 1_000_000_000
# Whoever may publish can send rejections as fast as the broker lets them: log at most
# this many per interval one by one and count the rest (all are in `rejected`).
REJECTION_LOG_LINES = 20
REJECTION_LOG_INTERVAL_S = 60.0


class IngestError(GwmonError):
    """The ingest cannot start or go on (e.g. the broker refuses our credentials)."""


@dataclass
class _Batch:
    lines: list[str] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    reading_lines: list[int] = field(default_factory=list)  # index in `lines` per reading
    acks: list[tuple[int, int, int]] = field(default_factory=list)  # (mid, qos, generation)
    first_at: float | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def add_reading(self, line: str, reading: Reading) -> None:
        self.reading_lines.append(len(self.lines))
        self.lines.append(line)
        self.readings.append(reading)


class _RateLimitedLog:
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


class IngestService:
    """Runs until `stop()` (thread-safe) or a fatal error; see module docstring."""

    def __init__(
        self,
        config: GwmonConfig,
        registry: Registry,
        *,
        observers: Sequence[BatchObserver] = (),
        store: InfluxClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.registry = registry
        self.observers = list(observers)
        self.store = store or InfluxClient(config.influxdb)
        self.clock = clock
        self.counters = IngestCounters()
        self.rejected_by_reason: dict[str, int] = {}
        self._stop = threading.Event()
        self._batch = _Batch()
        self._generation = 0
        self._connected = False
        self._connections = 0
        self._connect_error: ReasonCode | None = None
        self._last_rejected_ns = 0
        self._writer = StoreWriter(
            self.store,
            writer=config.mqtt.client_id,
            max_retry_interval_s=config.influxdb.max_retry_interval_s,
            wait=self._keep_alive_wait,
            should_stop=self._stop.is_set,
            rejected_payload_max_chars=config.ingest.rejected_payload_max_chars,
            clock=clock,
        )
        self._rejection_log = _RateLimitedLog(
            logger, lines=REJECTION_LOG_LINES, interval_s=REJECTION_LOG_INTERVAL_S
        )
        self._last_stats = 0.0
        self._prefix = config.mqtt.topic_prefix
        self._client = self._make_client()

    # -- lifecycle --------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the service to flush, acknowledge, disconnect and return from run()."""
        self._stop.set()

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def connections(self) -> int:
        """How many times the broker confirmed our subscriptions (1 + reconnects)."""
        return self._connections

    def run(self) -> None:
        """Connect and process until stop(). Raises IngestError/StoreConfigError on fatal
        configuration problems found at start-up."""
        self._wait_for_store()
        if self._stop.is_set():
            return
        self._connect_first()
        logger.info(
            "ingest running: broker=%s:%d database=%s client_id=%s filters=%s",
            self.config.mqtt.host,
            self.config.mqtt.port,
            self.config.influxdb.database,
            self.config.mqtt.client_id,
            subscription_filters(self._prefix, self.config.mqtt.shared_group),
        )
        reconnect_delay = 1.0
        last_tick = 0.0
        try:
            while not self._stop.is_set():
                if not self._connected:
                    if self._try_reconnect():
                        reconnect_delay = 1.0
                    else:
                        self._stop.wait(reconnect_delay)
                        reconnect_delay = min(reconnect_delay * 2, 30.0)
                        continue
                self._client.loop(timeout=0.05)
                now = self.clock()
                if self._flush_due(now):
                    self._flush()
                if now - self._last_stats >= self.config.ingest.stats_interval_s:
                    self._append_stats(now)
                if now - last_tick >= 1.0:
                    last_tick = now
                    self._tick_observers(now)
        finally:
            self._shutdown()

    def _wait_for_store(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self.store.ensure_database()
            except StoreConfigError:
                raise
            except StoreWriteError as exc:
                logger.warning("InfluxDB not reachable (%s); retrying in %.0f s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
            except StoreError as exc:
                msg = (
                    f"InfluxDB refused to set up database '{self.config.influxdb.database}': {exc}"
                )
                raise IngestError(msg) from None
            else:
                return

    def _shutdown(self) -> None:
        # Flush what we have; acks go out only if the connection is still the same.
        try:
            if self._batch.lines:
                self._flush()
            self._append_stats(self.clock())
            if self._batch.lines:
                self._flush()
        except StoreError as exc:
            logger.error(
                "final flush failed (%s); unacknowledged messages will be redelivered", exc
            )
        for observer in self.observers:
            try:
                observer.close()
            except Exception:
                logger.exception("observer %r failed to close", observer)
        if self._connected:
            self._client.disconnect()
            self._client.loop(timeout=0.2)
        self.store.close()
        logger.info("ingest stopped")

    # -- MQTT -------------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        settings = self.config.mqtt
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if settings.username:
            password = settings.resolved_password()
            client.username_pw_set(
                settings.username, password.get_secret_value() if password else None
            )
        if settings.tls:
            context = ssl.create_default_context(
                cafile=str(settings.ca_file) if settings.ca_file else None
            )
            if settings.cert_file and settings.key_file:
                context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
            client.tls_set_context(context)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.config.mqtt.session_expiry_s
        properties.ReceiveMaximum = self.config.mqtt.receive_maximum
        return properties

    def _connect_first(self) -> None:
        settings = self.config.mqtt
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._client.connect(
                    settings.host,
                    settings.port,
                    keepalive=settings.keepalive_s,
                    clean_start=False,
                    properties=self._connect_properties(),
                )
            except ssl.SSLError as exc:
                # A certificate problem does not heal by retrying: stop with the fix.
                msg = (
                    f"TLS to broker {settings.host}:{settings.port} failed: {exc.reason or exc}; "
                    "check [mqtt] ca_file (the CA that signed the broker's certificate) and "
                    "that the URL's host name matches the certificate"
                )
                raise IngestError(msg) from None
            except OSError as exc:
                logger.warning(
                    "broker %s:%d not reachable (%s); retrying in %.0f s",
                    settings.host,
                    settings.port,
                    exc,
                    delay,
                )
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            deadline = time.monotonic() + 10
            while not self._connected and self._connect_error is None:
                self._client.loop(timeout=0.1)
                if time.monotonic() > deadline:
                    msg = f"broker {settings.host}:{settings.port} did not answer CONNECT"
                    raise IngestError(msg)
            if self._connect_error is not None:
                msg = (
                    f"broker {settings.host}:{settings.port} refused the connection: "
                    f"{self._connect_error}; check [mqtt] username/password and the ACL"
                )
                raise IngestError(msg)
            return

    def _try_reconnect(self) -> bool:
        try:
            self._client.reconnect()
        except OSError as exc:
            logger.warning("reconnect failed: %s", exc)
            return False
        deadline = time.monotonic() + 10
        while not self._connected and time.monotonic() < deadline and not self._stop.is_set():
            self._client.loop(timeout=0.1)
            if self._connect_error is not None:
                logger.error("broker refused reconnect: %s", self._connect_error)
                self._connect_error = None
                return False
        return self._connected

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._connect_error = reason_code
            return
        self._generation += 1
        self._connected = True
        options = SubscribeOptions(qos=self.config.mqtt.qos)
        filters = subscription_filters(self._prefix, self.config.mqtt.shared_group)
        client.subscribe([(topic, options) for topic in filters])
        logger.info("connected (session present: %s)", flags.session_present)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            # E.g. the broker's ACL does not let our user read gw/v1/#: say so loudly.
            logger.error("broker refused our subscription: %s; check the broker ACL", refused)
            return
        self._connections += 1

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        # Packet ids are only valid within a connection: forget the pending acks. The
        # broker redelivers those messages; their points are rewritten idempotently.
        self._connected = False
        self._generation += 1
        if not self._stop.is_set():
            logger.warning("disconnected from broker: %s", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        now = self.clock()
        payload = bytes(message.payload)
        self.counters.received += 1
        try:
            self._handle(message.topic, payload, now)
        except Exception:
            # A bug must not stall the stream either: record it as a rejection.
            logger.exception("unexpected error handling a message on %s", message.topic)
            self._reject(
                reason="internal_error",
                probe=None,
                topic=message.topic,
                payload=payload,
                detail="see log",
                record_index=-1,
                now=now,
            )
        batch = self._batch
        if batch.first_at is None:
            batch.first_at = now
        if message.qos > 0:
            batch.acks.append((message.mid, message.qos, self._generation))

    # -- decoding ---------------------------------------------------------------------------
    def _handle(self, topic: str, payload: bytes, now: float) -> None:
        info = parse_topic(topic, self._prefix)
        if info is None:
            self._reject(
                reason=Reason.BAD_TOPIC,
                probe=None,
                topic=topic,
                payload=payload,
                detail="topic is not gw/v1/<probe_id>/data|status",
                record_index=-1,
                now=now,
            )
            return
        probe = self.registry.get(info.probe_id)
        if probe is None:
            self._reject(
                reason=Reason.UNKNOWN_PROBE,
                probe=info.probe_id,
                topic=topic,
                payload=payload,
                detail=f"probe {info.probe_id} is not in the registry",
                record_index=-1,
                now=now,
            )
            return
        if info.kind == "status":
            self._handle_status(probe, topic, payload, now)
            return
        limits = self.config.ingest
        try:
            pack = decode_pack(
                probe.probe_id,
                payload,
                now_s=now,
                future_margin_s=limits.future_margin_s,
                max_bytes=limits.max_payload_bytes,
            )
        except PayloadRejected as exc:
            self._reject(
                reason=exc.reason,
                probe=probe.probe_id,
                topic=topic,
                payload=payload,
                detail=exc.detail,
                record_index=-1,
                now=now,
            )
            return
        batch = self._batch
        for reading in pack.readings:
            batch.add_reading(reading_point(probe, reading).to_line(), reading)
            if reading.quantity == "depth":
                level = _level_from_depth(probe, reading)
                batch.add_reading(reading_point(probe, level).to_line(), level)
        for mark in pack.sequence:
            batch.lines.append(sequence_point(probe, mark).to_line())
        for rejection in pack.rejections:
            self.counters.rejected_records += 1
            self.rejected_by_reason[rejection.reason] = (
                self.rejected_by_reason.get(rejection.reason, 0) + 1
            )
            batch.lines.append(
                rejected_point(
                    reason=rejection.reason,
                    probe=probe.probe_id,
                    ingestor=self.config.mqtt.client_id,
                    topic=topic,
                    payload=rejection.record.encode(),
                    detail=rejection.detail,
                    record_index=rejection.index,
                    time_ns=self._unique_rejected_ns(now),
                    max_chars=limits.rejected_payload_max_chars,
                ).to_line()
            )

    def _handle_status(self, probe: Probe, topic: str, payload: bytes, now: float) -> None:
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
            self._reject(
                reason=exc.reason,
                probe=probe.probe_id,
                topic=topic,
                payload=payload,
                detail=exc.detail,
                record_index=-1,
                now=now,
            )
            return
        self._batch.lines.append(
            status_point(
                probe,
                online=status.online,
                firmware=status.firmware,
                battery=status.battery,
                time_ns=status.time_ns,
            ).to_line()
        )

    def _unique_rejected_ns(self, now: float) -> int:
        # Two rejections in the same nanosecond would overwrite each other (same tags).
        stamp = max(int(now * _NS), self._last_rejected_ns + 1)
        self._last_rejected_ns = stamp
        return stamp

    def _reject(
        self,
        *,
        reason: str,
        probe: str | None,
        topic: str,
        payload: bytes,
        detail: str,
        record_index: int,
        now: float,
    ) -> None:
        self.counters.rejected_messages += 1
        self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + 1
        self._rejection_log.info(
            now, "rejected message on %s: %s (%s)", topic[:200], reason, detail[:200]
        )
        # Only registry ids become tag values; any other id is kept as a field.
        known = probe is not None and self.registry.get(probe) is not None
        self._batch.lines.append(
            rejected_point(
                reason=reason,
                probe=probe if known else None,
                unknown_probe=None if known else probe,
                ingestor=self.config.mqtt.client_id,
                topic=topic,
                payload=payload,
                detail=detail,
                record_index=record_index,
                time_ns=self._unique_rejected_ns(now),
                max_chars=self.config.ingest.rejected_payload_max_chars,
            ).to_line()
        )

    # -- batching ---------------------------------------------------------------------------
    def _flush_due(self, now: float) -> bool:
        batch = self._batch
        if not batch.lines and not batch.acks:
            return False
        if len(batch.lines) >= self.config.influxdb.batch_size:
            return True
        # The broker stops sending at Receive Maximum unacknowledged messages.
        if len(batch.acks) >= self.config.mqtt.receive_maximum:
            return True
        return (
            batch.first_at is not None
            and now - batch.first_at >= self.config.influxdb.flush_interval_s
        )

    def _append_stats(self, now: float) -> None:
        self._last_stats = now
        self._rejection_log.flush(now)
        logger.info(
            "stats: received=%d readings=%d rejected_messages=%d rejected_records=%d "
            "batches=%d write_errors=%d observer_errors=%d rejected_by_reason=%s",
            self.counters.received,
            self.counters.readings,
            self.counters.rejected_messages,
            self.counters.rejected_records,
            self.counters.batches,
            self.counters.write_errors,
            self.counters.observer_errors,
            json.dumps(self.rejected_by_reason, sort_keys=True),
        )
        self._batch.lines.append(
            stats_point(self.config.mqtt.client_id, self.counters, int(now * _NS)).to_line()
        )
        if self._batch.first_at is None:
            self._batch.first_at = now

    def _flush(self) -> None:
        batch, self._batch = self._batch, _Batch()
        result = self._writer.write(batch.lines)
        refused = result.refused
        self.counters.write_errors += result.failed_requests
        self.counters.batches += 1
        readings = batch.readings
        if refused:
            self.counters.store_refused += len(refused)
            self.rejected_by_reason[STORE_REFUSED] = self.rejected_by_reason.get(
                STORE_REFUSED, 0
            ) + len(refused)
            # Counters and observers see only what InfluxDB stored.
            readings = [
                reading
                for reading, line in zip(batch.readings, batch.reading_lines, strict=True)
                if line not in refused
            ]
        self.counters.readings += len(readings)
        if readings:
            for observer in self.observers:
                try:
                    observer.batch_stored(readings)
                except Exception:
                    self.counters.observer_errors += 1
                    logger.exception("observer %r failed on a batch", observer)
        acked = 0
        for mid, qos, generation in batch.acks:
            if generation == self._generation and self._connected:
                self._client.ack(mid, qos)
                acked += 1
        logger.debug(
            "batch written: lines=%d readings=%d refused=%d acked=%d",
            len(batch.lines),
            len(readings),
            len(refused),
            acked,
        )

    def _keep_alive_wait(self, seconds: float) -> None:
        # While a write is retried, keep serving the MQTT connection (keepalive). New
        # messages go into the next batch; Receive Maximum bounds them.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._connected:
                self._client.loop(timeout=min(0.1, seconds))
            else:
                time.sleep(min(0.1, seconds))

    def _tick_observers(self, now: float) -> None:
        for observer in self.observers:
            try:
                observer.tick(now)
            except Exception:
                self.counters.observer_errors += 1
                logger.exception("observer %r failed on tick", observer)


def _level_from_depth(probe: Probe, depth: Reading) -> Reading:
    # Decimal keeps 143.4 - 8.13 = 135.27 exact instead of 135.26999999999998.
    level = float(Decimal(repr(probe.ground_level_m_nhn)) - Decimal(repr(depth.value)))
    return Reading(
        probe=depth.probe,
        quantity="level",
        time_ns=depth.time_ns,
        value=level,
        record_name=depth.record_name,
        arrival_ns=depth.arrival_ns,
    )
