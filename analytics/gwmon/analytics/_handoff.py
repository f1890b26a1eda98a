"""Stored readings handed from the process that stored them to the one that evaluates them.

The message (`encode_handoff` / `decode_handoff`) is JSON: `{"v": 1, "partitions": N,
"partition": p, "from": client_id, "readings": [[probe, quantity, time_ns, value,
record_name, arrival_ns, censored], ...]}`. It comes from the broker, so it is outside
input: size, count, string lengths and types are bounded before anything is built.

`HandoffLink` is the MQTT side: its own paho client (MQTT 5, persistent session, its own
network thread), subscribed without a shared group to the owned partitions' topics at
QoS 1 with manual acknowledgements, and publishing hand-offs at QoS 1. Received
hand-offs go to `on_message(topic, payload, done)` on a worker thread of their own and
are acknowledged when `done()` is called (at once or later, from any thread; the
acknowledgements go out in the order the messages came): the network thread only
queues them, so the PUBACKs of our own hand-offs are read at once and never wait behind
the evaluation of other processes' (which, with two busy processes waiting for each
other's PUBACKs, stalled both). Receive Maximum bounds the queue. A hand-off counts as
delivered only on a PUBACK with a success code: MQTT 5 brokers answer "no matching
subscribers" (0x10) when no session holds the partition's topic (its owner never
started, or its session expired), and then the link publishes again with backoff
instead of letting the readings fall through. `wait_delivered` waits for that on the
caller's thread; `track` on the link's delivery thread, returning a check to poll.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import SecretStr

from gwmon.backoff import Backoff
from gwmon.config import GwmonError
from gwmon.ingest import MqttSettings, Reading, ReadingColumns

logger = logging.getLogger("gwmon.analytics.handoff")

HANDOFF_VERSION = 1
MAX_HANDOFF_BYTES = 16 * 1024 * 1024
MAX_HANDOFF_READINGS = 50_000
MAX_NAME_CHARS = 128
_NO_MATCHING_SUBSCRIBERS = 0x10
_WARN_EVERY_S = 10.0
STOP_GRACE_S = 10.0


class HandoffRejected(GwmonError, ValueError):
    """A hand-off message that is not one gwmon wrote (the reason says what is wrong)."""


@dataclass(frozen=True, slots=True)
class Handoff:
    """One decoded hand-off message."""

    partitions: int
    partition: int
    sender: str
    readings: list[Reading]


HandoffRow = tuple[str, str, int, float, str, int, bool]


def encode_handoff(
    readings: Sequence[Reading], *, partitions: int, partition: int, sender: str
) -> bytes:
    rows = [
        (r.probe, r.quantity, r.time_ns, r.value, r.record_name, r.arrival_ns, r.censored)
        for r in readings
    ]
    return encode_handoff_rows(rows, partitions=partitions, partition=partition, sender=sender)


def handoff_rows(packs: Sequence[ReadingColumns]) -> list[HandoffRow]:
    """The rows of a hand-off for the readings of `packs` (columns, in order)."""
    rows: list[HandoffRow] = []
    for pack in packs:
        count = len(pack.times_ns)
        rows += zip(
            repeat(pack.probe, count),
            pack.quantities,
            pack.times_ns,
            pack.values,
            pack.record_names,
            repeat(pack.arrival_ns, count),
            pack.censored,
            strict=True,
        )
    return rows


def encode_handoff_rows(
    rows: Sequence[HandoffRow], *, partitions: int, partition: int, sender: str
) -> bytes:
    body = {
        "v": HANDOFF_VERSION,
        "partitions": partitions,
        "partition": partition,
        "from": sender,
        "readings": rows,
    }
    return orjson.dumps(body)


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME_CHARS:
        msg = f"{what} must be a string of 1-{MAX_NAME_CHARS} characters"
        raise HandoffRejected(msg)
    return value


def _integer(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        msg = f"{what} must be an integer in [{low}, {high}]"
        raise HandoffRejected(msg)
    return value


def _row(row: object) -> HandoffRow:
    if not isinstance(row, list) or len(row) != 7:
        msg = "a reading must be a list of 7 values"
        raise HandoffRejected(msg)
    probe, quantity, time_ns, value, record_name, arrival_ns, censored = row
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        msg = "a reading's value must be a finite number"
        raise HandoffRejected(msg)
    if not isinstance(censored, bool):
        msg = "a reading's censored flag must be true or false"
        raise HandoffRejected(msg)
    return (
        _name(probe, "probe"),
        _name(quantity, "quantity"),
        _integer(time_ns, "time_ns", -(2**63), 2**63 - 1),
        float(value),
        _name(record_name, "record_name"),
        _integer(arrival_ns, "arrival_ns", 0, 2**63 - 1),
        censored,
    )


def _checked(payload: bytes) -> tuple[int, int, str, list[HandoffRow]]:
    """Partitions, partition, sender and rows of a hand-off; HandoffRejected (constant
    work before the size check)."""
    if len(payload) > MAX_HANDOFF_BYTES:
        msg = f"larger than {MAX_HANDOFF_BYTES} bytes"
        raise HandoffRejected(msg)
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        msg = f"not JSON: {exc}"
        raise HandoffRejected(msg) from None
    if not isinstance(body, dict) or body.get("v") != HANDOFF_VERSION:
        msg = f"not a hand-off of version {HANDOFF_VERSION}"
        raise HandoffRejected(msg)
    partitions = _integer(body.get("partitions"), "partitions", 1, 4096)
    partition = _integer(body.get("partition"), "partition", 0, partitions - 1)
    rows = body.get("readings")
    if not isinstance(rows, list) or len(rows) > MAX_HANDOFF_READINGS:
        msg = f"readings must be a list of at most {MAX_HANDOFF_READINGS}"
        raise HandoffRejected(msg)
    sender = _name(body.get("from"), "from")
    return partitions, partition, sender, [_row(row) for row in rows]


def decode_handoff(payload: bytes) -> Handoff:
    """The hand-off in `payload`; HandoffRejected (constant work before the size check)."""
    partitions, partition, sender, rows = _checked(payload)
    readings = [
        Reading(probe, quantity, time_ns, value, name, arrival_ns, censored=censored)
        for probe, quantity, time_ns, value, name, arrival_ns, censored in rows
    ]
    return Handoff(partitions, partition, sender, readings)


@dataclass(slots=True)
class ProbeColumns:
    """Readings of one probe and one arrival as columns (`ReadingColumns`)."""

    probe: str
    arrival_ns: int
    quantities: list[str] = field(default_factory=list)
    times_ns: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    record_names: list[str] = field(default_factory=list)
    censored: list[bool] = field(default_factory=list)

    def add(self, quantity: str, time_ns: int, value: float, name: str, censored: bool) -> None:
        self.quantities.append(quantity)
        self.times_ns.append(time_ns)
        self.values.append(value)
        self.record_names.append(name)
        self.censored.append(censored)


@dataclass(frozen=True, slots=True)
class HandoffColumns:
    """One decoded hand-off message, its readings as columns per probe and arrival
    (the messages they came in; in the order their first reading came)."""

    partitions: int
    partition: int
    sender: str
    packs: list[ProbeColumns]

    @property
    def count(self) -> int:
        return sum(len(pack.times_ns) for pack in self.packs)


def decode_handoff_columns(payload: bytes) -> HandoffColumns:
    """`decode_handoff` without a `Reading` per reading: the same readings, as columns."""
    partitions, partition, sender, rows = _checked(payload)
    packs: dict[tuple[str, int], ProbeColumns] = {}
    for probe, quantity, time_ns, value, name, arrival_ns, censored in rows:
        pack = packs.get((probe, arrival_ns))
        if pack is None:
            pack = packs[(probe, arrival_ns)] = ProbeColumns(probe, arrival_ns)
        pack.add(quantity, time_ns, value, name, censored)
    return HandoffColumns(partitions, partition, sender, list(packs.values()))


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Where and as whom the link connects, and what it subscribes."""

    mqtt: MqttSettings
    client_id: str
    username: str | None
    password: SecretStr | None
    topics: tuple[str, ...]


Sent = tuple[str, bytes, int]  # topic, payload, packet id
Done = Callable[[], None]
OnMessage = Callable[[str, bytes, Done], None]


class _Tracked:
    """Hand-offs the delivery thread waits for."""

    __slots__ = ("finished", "ok", "sent")

    def __init__(self, sent: list[Sent]) -> None:
        self.sent = sent
        self.ok = False
        self.finished = threading.Event()

    def delivered(self) -> bool:
        return self.finished.is_set() and self.ok


class HandoffLink:
    """The hand-off connection (see module docstring). `publish`, `track` and
    `wait_delivered` are for the sender's threads; `on_message(topic, payload, done)`
    runs on the link's worker thread and the message is acknowledged once `done()` was
    called (if it raises: at once)."""

    def __init__(self, settings: LinkSettings, on_message: OnMessage) -> None:
        self.settings = settings
        self._on_message_cb = on_message
        self._stop = threading.Event()
        self._closing = threading.Event()
        self._give_up_at = float("inf")
        self._done = threading.Condition()
        self._results: dict[int, int] = {}  # mid -> PUBACK reason code
        self.subscribed = threading.Event()
        self._inbox: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        self._worker = threading.Thread(
            target=self._work, name="gwmon-analytics-handoff", daemon=True
        )
        # Received messages in arrival order, each with "done" once its callback said so:
        # the acknowledgements go out in that order.
        self._acks: deque[list[object]] = deque()
        self._ack_lock = threading.Lock()
        self._tracked: queue.Queue[_Tracked | None] = queue.Queue()
        self._deliverer = threading.Thread(
            target=self._deliver, name="gwmon-analytics-handoff-delivery", daemon=True
        )
        self._client = self._make_client()

    def start(self) -> None:
        """Connect in the background (paho retries while the broker is unreachable)."""
        mqtt_settings = self.settings.mqtt
        self._client.connect_async(
            mqtt_settings.host,
            mqtt_settings.port,
            keepalive=mqtt_settings.keepalive_s,
            clean_start=False,
            properties=self._connect_properties(),
        )
        self._worker.start()
        self._deliverer.start()
        self._client.loop_start()

    def stop(self) -> None:
        """Shutdown begins: hand-offs still wait up to `STOP_GRACE_S` for the broker's
        PUBACK (the final flush), but no longer for a partition without an owner."""
        with self._done:
            self._give_up_at = time.monotonic() + STOP_GRACE_S
            self._stop.set()
            self._done.notify_all()

    def stop_receiving(self) -> None:
        """Hand no more received messages to `on_message` (after the one it is in);
        those queued stay unacknowledged in the session and come again. `done()` of the
        ones handed over still acknowledges them until `close()`."""
        self._closing.set()
        self._inbox.put(None)
        if self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(60)

    def close(self) -> None:
        """Stop receiving, let the tracked hand-offs finish (within the shutdown grace),
        disconnect."""
        self.stop()
        self.stop_receiving()
        self._tracked.put(None)
        if self._deliverer.is_alive():
            self._deliverer.join(STOP_GRACE_S + 5)
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: bytes) -> Sent:
        info = self._client.publish(topic, payload, qos=1)
        return topic, payload, info.mid

    def track(self, sent: list[Sent]) -> Callable[[], bool]:
        """Let the delivery thread see `sent` through (`wait_delivered`); the check says
        True once the broker took every one for a subscriber (never if shutdown came
        first)."""
        tracked = _Tracked(sent)
        self._tracked.put(tracked)
        return tracked.delivered

    def _deliver(self) -> None:
        # One at a time, oldest first: the PUBACKs of the later ones are collected
        # meanwhile, and their senders acknowledge in this order anyway.
        while (tracked := self._tracked.get()) is not None:
            tracked.ok = self.wait_delivered(tracked.sent)
            if not tracked.ok:
                logger.error(
                    "stopped before the broker took %d hand-off(s) (%s); the messages they "
                    "came from are not acknowledged and come again",
                    len(tracked.sent),
                    ", ".join(sorted({topic for topic, *_ in tracked.sent})),
                )
            tracked.finished.set()

    def _await_pubacks(self, pending: list[tuple[str, bytes, int]]) -> dict[int, int] | None:
        """The PUBACK reason code of each pending message, or None when shutdown's
        grace ran out first."""
        warn_at = time.monotonic() + _WARN_EVERY_S
        with self._done:
            while any(mid not in self._results for *_, mid in pending):
                now = time.monotonic()
                if self._stop.is_set() and now >= self._give_up_at:
                    return None
                if now >= warn_at:
                    warn_at = now + _WARN_EVERY_S
                    logger.warning("waiting for the broker to take %d hand-off(s)", len(pending))
                self._done.wait(0.5)
            return {mid: self._results.pop(mid) for *_, mid in pending}

    def wait_delivered(self, sent: list[tuple[str, bytes, int]]) -> bool:
        """Wait until the broker took every message for a subscriber; republish those it
        had no subscriber for, with backoff. False if shutdown came first."""
        backoff = Backoff(0.5, 30.0)
        pending = list(sent)
        while pending:
            codes = self._await_pubacks(pending)
            if codes is None:
                return False
            for topic, _, mid in pending:
                if codes[mid] >= 0x80:
                    logger.error("broker refused hand-off to %s: reason %#x", topic, codes[mid])
            unmatched = [item for item in pending if codes[item[2]] == _NO_MATCHING_SUBSCRIBERS]
            if not unmatched:
                return True
            delay = backoff.next_delay()
            logger.warning(
                "no session subscribes %s (its owner never started, or its session expired); "
                "publishing again in %.1f s",
                ", ".join(sorted({topic for topic, *_ in unmatched})),
                delay,
            )
            if self._stop.wait(delay):
                return False
            pending = [self.publish(topic, payload) for topic, payload, _ in unmatched]
        return True

    # -- paho -----------------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        settings = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 30)
        if settings.username:
            secret = settings.password.get_secret_value() if settings.password else None
            client.username_pw_set(settings.username, secret)
        if settings.mqtt.tls:
            client.tls_set_context(settings.mqtt.tls_context())
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.settings.mqtt.session_expiry_s
        properties.ReceiveMaximum = 100
        return properties

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            logger.error(
                "broker refused the hand-off connection: %s; check "
                "[analytics.scale_out] username/password_file and the ACL",
                reason_code,
            )
            return
        options = SubscribeOptions(qos=1)
        if self.settings.topics:
            client.subscribe([(topic, options) for topic in self.settings.topics])
        else:
            self.subscribed.set()
        logger.info("hand-off link connected (session present: %s)", flags.session_present)

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
            logger.error("broker refused the hand-off subscription: %s; check the ACL", refused)
            return
        self.subscribed.set()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._done:
            self._results[mid] = int(reason_code.value)
            self._done.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(message)

    def _work(self) -> None:
        while (message := self._inbox.get()) is not None:
            if self._closing.is_set():
                return  # not acknowledged: the broker sends it again
            slot: list[object] = [message, False]
            with self._ack_lock:
                self._acks.append(slot)
            # An exception is logged and the message acknowledged anyway (the readings
            # are in InfluxDB; a message that fails once fails again).
            try:
                self._on_message_cb(
                    message.topic, bytes(message.payload), partial(self._mark_done, slot)
                )
            except Exception:
                logger.exception("hand-off on %s failed", message.topic)
                self._mark_done(slot)

    def _mark_done(self, slot: list[object]) -> None:
        """`slot`'s message may be acknowledged: acknowledge the done ones in order."""
        with self._ack_lock:
            slot[1] = True
            while self._acks and self._acks[0][1]:
                message = self._acks.popleft()[0]
                assert isinstance(message, mqtt.MQTTMessage)
                self._client.ack(message.mid, message.qos)
