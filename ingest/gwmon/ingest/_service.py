"""The ingest service: MQTT (paho, v5, QoS 1, persistent session) -> InfluxDB.

At-least-once end to end: a message is acknowledged to the broker only after the batch
holding it (its readings, or the record of its rejection) was written to InfluxDB and
the observers have seen what was stored. Redelivery is harmless because a point is
identified by measurement + tags + time. A bad message never stalls the stream: it is
recorded in `rejected`, acknowledged and counted.

The parts: `MqttSource` (connection, messages with `ack()`), `Intake` (message -> lines),
`Batch`/`FlushPolicy`, and `gwmon.storage.StoreWriter` (the write policy) behind
`WriteBehind`. paho's network loop, decoding, batching, the observers and the
acknowledgements run on one thread (hand-offs under the GIL cost more than they save);
only the write, which mostly waits for InfluxDB, runs on a worker thread, one batch at a
time, while the next batch fills. A full batch (`batch_size` lines) reads no more
messages in a poll: while the write in flight lasts, the rest wait unread at the broker
(one a second at most is read with the keep-alive), which bounds the memory a slow
write costs; the broker's flow control (MQTT 5 Receive Maximum) bounds how many
unacknowledged messages it sends meanwhile.

When every observer allows it (`overlaps_next_write`, the analytics), the next batch's
write starts as soon as a write ends, before the observers see the batch just written:
InfluxDB stores batch N+1 while the analytics evaluate batch N. Acknowledgements do not
move: batch N is acknowledged after its observers returned, N+1 after its own, and the
observers still see the batches one at a time, in order (docs/performance.md, "The
analytics beside the next write").

An observer that finishes batches in the background (`DefersAcks`: the analytics of a
scaled-out group) gives a check per batch; the batch's messages wait, in arrival order,
until every check of theirs is true, while the ingest goes on with the next batches.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from enum import StrEnum

from gwmon.backoff import Backoff
from gwmon.ingest._batch import Batch, FlushPolicy, StoredReadings
from gwmon.ingest._config import GwmonConfig
from gwmon.ingest._health import BROKER_STAT_TOPICS, IngestHealth
from gwmon.ingest._intake import Intake
from gwmon.ingest._observer import BatchObserver
from gwmon.ingest._registry import Registry
from gwmon.ingest._source import InboundMessage, IngestError, MqttSource
from gwmon.ingest._storage import IngestCounters, stats_point
from gwmon.ingest._writes import WriteBehind
from gwmon.storage import (
    STORE_REFUSED,
    InfluxClient,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
    StoreWriteError,
    StoreWriter,
    WriteResult,
)

logger = logging.getLogger("gwmon.ingest.service")

_NS = 1_000_000_000
_OBSERVER_TICK_S = 1.0
_POLL_S = 0.05
_POLL_WRITING_S = 0.005  # while a write is in flight: notice its end soon
_FULL_WAIT_S = 1.0  # longest wait for a write in flight while the next batch is full
# A batch is written once no message came for this share of flush_interval_s (20 ms
# by default): the end of a burst is stored without waiting out the interval.
_QUIET_SHARE = 0.1
_WRITE_CONNECTIONS = 2  # InfluxDB connections a large batch is written over at once


# Young-generation collections every this many allocations (CPython's default: 700).
_GC_YOUNG_THRESHOLD = 20_000


def settle_heap_for_streaming() -> None:
    """For the process that runs the ingest, once start-up is done: what exists now
    (modules, config, registry, restored analytics state) is moved out of the cyclic
    garbage collector's sight (`gc.freeze`), and young collections run less often.

    Every message allocates a few tracked objects (parsed records, columns, its
    `InboundMessage`) that live until the batch is acknowledged; with CPython's default
    threshold they trigger a collection every few dozen messages, each one looking at
    the whole heap: a third of the CPU per single-reading message in the ingest bench
    (docs/performance.md). Nearly all garbage is freed by reference counting anyway;
    the collector is still there for cycles."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, older, oldest)


class StopOutcome(StrEnum):
    """How `IngestService.run()` ended after `stop()` (the CLI's exit code says it)."""

    CLEAN = "clean"  # everything received is stored and acknowledged
    STORE_UNAVAILABLE = "store_unavailable"  # InfluxDB refused the last batch: not acked
    BROKER_UNREACHABLE = "broker_unreachable"  # stored, but acks could not go out


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
        self.health = IngestHealth(
            queue_limit=config.ops.broker_queue_limit,
            warn_fraction=config.ops.queue_warning_fraction,
        )
        self._stop = threading.Event()
        self._writing_messages = 0
        # Batches stored and seen by the observers, waiting for a `DefersAcks` observer:
        # their messages and the checks that say when they may be acknowledged.
        self._unacked: deque[tuple[list[InboundMessage], list[Callable[[], bool]]]] = deque()
        self._write_started = 0.0
        self._store_unavailable = False
        self._connected_at_stop = False
        self._batch = Batch()
        self._policy = FlushPolicy(
            max_lines=config.influxdb.batch_size,
            max_messages=config.mqtt.receive_maximum,
            max_age_s=config.influxdb.flush_interval_s,
            quiet_s=config.influxdb.flush_interval_s * _QUIET_SHARE,
        )
        self._intake = Intake(config, registry, self.counters)
        self._source = MqttSource(
            config.mqtt,
            on_message=self._on_message,
            stop=self._stop,
            clock=clock,
            broker_statistic=self.health.broker_statistic,
            statistic_topics=BROKER_STAT_TOPICS,
        )
        # The writers run on the write-behind threads: they wait between retries without
        # MQTT, which the ingest thread keeps serving meanwhile. A large batch is split
        # by probe over _WRITE_CONNECTIONS connections (`WriteBehind`), each with its own
        # client (a session is not thread-safe); a store handed in that is not an
        # InfluxClient (a test's fake) gets one writer.
        self._pipelined = all(getattr(o, "overlaps_next_write", False) for o in self.observers)
        # Pipelined, the observers (on this thread) may use `store` while a write is in
        # flight: then every writer has a client of its own.
        real = isinstance(self.store, InfluxClient)
        own = real and self._pipelined and bool(self.observers)
        self._part_stores = (
            [InfluxClient(self.store.settings) for _ in range(_WRITE_CONNECTIONS - 1 + own)]
            if real
            else []
        )
        write_stores = self._part_stores if own else [self.store, *self._part_stores]
        writers = [self._store_writer(store) for store in write_stores]
        self._writes = WriteBehind(
            writers[0], max_lines=config.influxdb.batch_size, more_writers=writers[1:]
        )
        self._last_stats = 0.0

    def _store_writer(self, store: InfluxClient) -> StoreWriter:
        config = self.config
        return StoreWriter(
            store,
            writer=config.mqtt.client_id,
            max_retry_interval_s=config.influxdb.max_retry_interval_s,
            wait=self._pause_between_write_tries,
            should_stop=self._stop.is_set,
            rejected_payload_max_chars=config.ingest.rejected_payload_max_chars,
            clock=self.clock,
        )

    # -- lifecycle --------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the service to flush, acknowledge, disconnect and return from run()."""
        self._stop.set()

    def _pause_between_write_tries(self, seconds: float) -> None:
        # On the write-behind thread; stop() cuts the wait short (a bounded stop).
        self.health.write_failing(self.clock())
        self._stop.wait(seconds)

    @property
    def connected(self) -> bool:
        return self._source.connected

    @property
    def connections(self) -> int:
        """How many times the broker confirmed our subscriptions (1 + reconnects)."""
        return self._source.connections

    @property
    def unacknowledged(self) -> int:
        """Messages received and not yet acknowledged (the batch being written, the one
        filling and those waiting for a `DefersAcks` observer); read by the ops
        endpoint from another thread."""
        return self._writing_messages + len(self._batch.messages)

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        """Rejections since start, by reason (messages, records and refused points)."""
        return dict(self._intake.rejected_by_reason)

    def run(self) -> StopOutcome:
        """Connect and process until stop(); say how it ended. Raises IngestError or
        StoreConfigError on fatal configuration problems found at start-up."""
        self._wait_for_store()
        if self._stop.is_set():
            self._store_unavailable = True
            self._shutdown()
            return StopOutcome.STORE_UNAVAILABLE
        self._source.connect()
        logger.info(
            "ingest running: broker=%s:%d database=%s client_id=%s filters=%s",
            self.config.mqtt.host,
            self.config.mqtt.port,
            self.config.influxdb.database,
            self.config.mqtt.client_id,
            self._source.filters,
        )
        try:
            self._loop()
        except StoreUnavailable as exc:  # stop() came while InfluxDB was down
            self._store_unavailable = True
            logger.error("%s; unacknowledged messages will be redelivered", exc)
        finally:
            self._shutdown()
        if self._store_unavailable:
            return StopOutcome.STORE_UNAVAILABLE
        if not self._connected_at_stop:
            return StopOutcome.BROKER_UNREACHABLE
        return StopOutcome.CLEAN

    def _loop(self) -> None:
        last_tick = 0.0
        while not self._stop.is_set():
            if self._writes.busy and self._policy.full(self._batch):
                # The next batch is full while the last write is still in flight:
                # give InfluxDB time before reading more (bounds batch and memory);
                # a poll a second keeps the connection alive during a long outage.
                self._writes.wait_until_done(_FULL_WAIT_S)
            self._source.poll(self._poll_timeout(), room=self._room_in_batch)
            now = self.clock()
            self._finish_write()
            if self._unacked:
                self._ack_finished()
            if not self._writes.busy and self._policy.due(self._batch, now):
                self._start_write()
            if now - self._last_stats >= self.config.ingest.stats_interval_s:
                self._append_stats(now)
            if now - last_tick >= _OBSERVER_TICK_S:
                last_tick = now
                self._tick_observers(now)

    def _room_in_batch(self) -> bool:
        # A full batch takes no more messages in this poll: it is written next, or,
        # while a write is in flight, it waits for it with the rest unread (a batch
        # bounded near max_lines instead of growing by a drain per wait; memory).
        return not self._policy.full(self._batch)

    def _poll_timeout(self) -> float:
        # While a write is in flight: notice its end soon; while a batch waits: notice
        # the stream going quiet (FlushPolicy.quiet_s) soon.
        if self._writes.busy or self._unacked:
            return _POLL_WRITING_S
        if self._batch.messages and self._policy.quiet_s:
            return min(_POLL_S, self._policy.quiet_s)
        return _POLL_S

    def _wait_for_store(self) -> None:
        backoff = Backoff(0.5, 30.0)
        while not self._stop.is_set():
            try:
                self.store.ensure_database()
            except StoreConfigError:
                raise
            except StoreWriteError as exc:
                self.health.write_failing(self.clock())
                delay = backoff.next_delay()
                logger.warning("InfluxDB not reachable (%s); retrying in %.0f s", exc, delay)
                self._stop.wait(delay)
            except StoreError as exc:
                msg = (
                    f"InfluxDB refused to set up database '{self.config.influxdb.database}': {exc}"
                )
                raise IngestError(msg) from None
            else:
                self.health.store_reachable()
                return

    def _shutdown(self) -> None:
        # Finish the write in flight, flush what we have; acks go out only if the
        # connection is still the same. Once InfluxDB is known to be down, do not wait
        # for it again (a bounded stop).
        self._connected_at_stop = self._source.connected
        try:
            if not self._store_unavailable:
                self._flush()
                self._append_stats(self.clock())
                self._flush()
        except StoreError as exc:
            self._store_unavailable = isinstance(exc, StoreUnavailable)
            logger.error(
                "final flush failed (%s); unacknowledged messages will be redelivered", exc
            )
        self._writes.close()
        for observer in self.observers:
            try:
                observer.close()
            except Exception:
                logger.exception("observer %r failed to close", observer)
        # Closed, a `DefersAcks` observer has finished what it could: acknowledge that;
        # the rest is redelivered.
        self._ack_finished()
        self._source.close()
        self.store.close()
        for store in self._part_stores:
            store.close()
        logger.info("ingest stopped")

    # -- messages and batches -----------------------------------------------------------------
    def _on_message(self, message: InboundMessage) -> None:
        self._intake.take(message.topic, message.payload, message.received_at, self._batch)
        self._batch.add_message(message)

    def _append_stats(self, now: float) -> None:
        self._last_stats = now
        self._intake.rejection_log.flush(now)
        counters = self.counters
        logger.info(
            "stats: received=%d readings=%d rejected_messages=%d rejected_records=%d "
            "batches=%d write_errors=%d observer_errors=%d rejected_by_reason=%s",
            counters.received,
            counters.readings,
            counters.rejected_messages,
            counters.rejected_records,
            counters.batches,
            counters.write_errors,
            counters.observer_errors,
            json.dumps(self.rejected_by_reason, sort_keys=True),
        )
        self._batch.lines.append(
            stats_point(self.config.mqtt.client_id, counters, int(now * _NS)).to_line()
        )
        if self._batch.first_at is None:
            self._batch.first_at = now

    def _flush(self) -> None:
        """Wait for the write in flight (serving MQTT meanwhile), then write the batch if
        it holds anything and wait for that too."""
        for start in (False, True):
            if start and self._batch.lines:
                self._start_write()
            while self._writes.busy:
                self._source.keep_alive(_POLL_WRITING_S)
                self._finish_write()

    def _start_write(self) -> None:
        batch, self._batch = self._batch, Batch()
        self._writing_messages += len(batch.messages)
        self._write_started = time.monotonic()
        self._writes.start(batch)

    def _finish_write(self) -> None:
        done = self._writes.finished()
        if done is None:
            return
        started = self._write_started
        if self._pipelined and self._policy.due(self._batch, self.clock()):
            # InfluxDB takes the next batch while the observers see this one; this
            # batch is still acknowledged only after them (module docstring).
            self._start_write()
        self._after_write(*done, started=started)

    def _after_write(self, batch: Batch, result: WriteResult, *, started: float) -> None:
        self.health.write_succeeded(time.monotonic() - started, self.clock())
        self.counters.write_errors += result.failed_requests
        self.counters.batches += 1
        if result.refused:
            self.counters.store_refused += len(result.refused)
            self._intake.rejected_by_reason[STORE_REFUSED] += len(result.refused)
        # Counters and observers see only what InfluxDB stored.
        readings = StoredReadings(batch, result.refused)
        self.counters.readings += len(readings)
        checks: list[Callable[[], bool]] = []
        if readings:
            for observer in self.observers:
                try:
                    observer.batch_stored(readings)
                except Exception:
                    self.counters.observer_errors += 1
                    logger.exception("observer %r failed on a batch", observer)
                done = getattr(observer, "batch_done", None)
                try:
                    check = done() if done is not None else None
                except Exception:
                    self.counters.observer_errors += 1
                    logger.exception("observer %r failed on a batch", observer)
                    check = None
                if check is not None:
                    checks.append(check)
        self._unacked.append((batch.messages, checks))
        acked = self._ack_finished()
        logger.debug(
            "batch written: lines=%d readings=%d refused=%d acked=%d",
            len(batch.lines),
            len(readings),
            len(result.refused),
            acked,
        )

    def _ack_finished(self) -> int:
        """Acknowledge the stored batches whose observers are done, oldest first, up to
        the first one still waiting; how many messages went out."""
        acked = 0
        while self._unacked and all(check() for check in self._unacked[0][1]):
            messages, _ = self._unacked.popleft()
            acked += self._source.ack_all(messages)
            self._writing_messages -= len(messages)
        return acked

    def _tick_observers(self, now: float) -> None:
        for observer in self.observers:
            try:
                observer.tick(now)
            except Exception:
                self.counters.observer_errors += 1
                logger.exception("observer %r failed on tick", observer)
