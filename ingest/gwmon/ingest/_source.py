"""The MQTT side of the ingest: one paho client, MQTT 5, persistent session, manual acks.

`MqttSource` connects, subscribes, reconnects with backoff, and hands every message to
the ingest as an `InboundMessage` whose `ack()` acknowledges it to the broker, but only
on the connection it arrived on: packet ids are valid within one connection, and after a
reconnect the broker redelivers what was not acknowledged (its points are rewritten
idempotently). Single-threaded: every method runs on the ingest's thread.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from gwmon.backoff import Backoff
from gwmon.config import GwmonError
from gwmon.ingest._config import MqttSettings
from gwmon.ingest._topics import subscription_filters
from gwmon.ingest._wire import buffer_reads, deliver_publishes, queue_pubacks, supported

logger = logging.getLogger("gwmon.ingest.source")

_CONNACK_TIMEOUT_S = 10.0
_DRAIN_PACKETS = 100  # at most this many read without a select() in between


class IngestError(GwmonError):
    """The ingest cannot start or go on (e.g. the broker refuses our credentials)."""


@dataclass(slots=True)
class InboundMessage:
    """One message from the broker. `ack()` is safe to call more than once and does
    nothing when the connection it came on is gone (the broker will redeliver it)."""

    topic: str
    payload: bytes
    qos: int
    received_at: float
    _source: MqttSource
    _mid: int
    _generation: int

    def ack(self) -> bool:
        """Acknowledge to the broker; True if it went out on the message's connection."""
        if self.qos == 0:
            return True
        return self._source.ack(self._mid, self.qos, self._generation)


class MqttSource:
    """Connection, subscription and acknowledgements of the ingest (see module doc)."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        on_message: Callable[[InboundMessage], None],
        stop: threading.Event,
        clock: Callable[[], float] = time.time,
        broker_statistic: Callable[[str, bytes], None] | None = None,
        statistic_topics: tuple[str, ...] = (),
    ) -> None:
        self.settings = settings
        self._on_message_cb = on_message
        # The broker's $SYS statistics (QoS 0: outside Receive Maximum), asked for in a
        # SUBSCRIBE of their own so that an ACL refusing them costs only a warning.
        self._on_statistic = broker_statistic
        self._statistic_topics = statistic_topics if broker_statistic else ()
        self._statistics_mid: int | None = None
        self._stop = stop
        self._clock = clock
        self._generation = 0
        self._connected = False
        self._connections = 0
        self._connect_error: ReasonCode | None = None
        self._delivered = 0  # messages handed on since start
        self._reconnect_backoff = Backoff(1.0, 30.0)
        self._filters = subscription_filters(settings.topic_prefix, settings.shared_group)
        self._client = self._make_client()
        # paho's per-packet reads and acks, in bulk (`_wire.py`), where paho allows it.
        self._bulk_io = supported(self._client)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def connections(self) -> int:
        """How many times the broker confirmed our subscriptions (1 + reconnects)."""
        return self._connections

    @property
    def filters(self) -> list[str]:
        return list(self._filters)

    # -- connecting ---------------------------------------------------------------------------
    def connect(self) -> None:
        """First connection: retried while the broker is unreachable; raises IngestError
        when it refuses us or TLS fails (retrying does not heal those)."""
        settings = self.settings
        backoff = Backoff(0.5, 30.0)
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
                msg = (
                    f"TLS to broker {settings.host}:{settings.port} failed: {exc.reason or exc}; "
                    "check [mqtt] ca_file (the CA that signed the broker's certificate) and "
                    "that the URL's host name matches the certificate"
                )
                raise IngestError(msg) from None
            except OSError as exc:
                delay = backoff.next_delay()
                logger.warning(
                    "broker %s:%d not reachable (%s); retrying in %.0f s",
                    settings.host,
                    settings.port,
                    exc,
                    delay,
                )
                self._stop.wait(delay)
                continue
            self._await_connack()
            return

    def _await_connack(self) -> None:
        settings = self.settings
        deadline = time.monotonic() + _CONNACK_TIMEOUT_S
        while not self._connected and self._connect_error is None and not self._stop.is_set():
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

    def poll(self, timeout_s: float, *, room: Callable[[], bool] | None = None) -> None:
        """Serve the connection for up to `timeout_s` (messages arrive through the
        callback); while disconnected, try to reconnect with backoff instead. Messages
        already waiting are read on only while `room()` says so: the rest stay with the
        broker and the socket until the next poll (backpressure, nothing is dropped)."""
        if self._connected:
            self._client.loop(timeout=timeout_s)
            self._drain(room)
            return
        if self._try_reconnect():
            self._reconnect_backoff.reset()
        else:
            self._stop.wait(self._reconnect_backoff.next_delay())

    def _drain(self, room: Callable[[], bool] | None) -> None:
        """Read the messages already waiting in the socket: paho's loop() reads one
        packet per select(), which costs more than a small message itself."""
        for _ in range(_DRAIN_PACKETS):
            if room is not None and not room():
                return
            before = self._delivered
            if self._client.loop_read() != mqtt.MQTT_ERR_SUCCESS or self._delivered == before:
                return

    def keep_alive(self, seconds: float) -> None:
        """Wait `seconds` while serving the connection (keepalive); used while a write is
        in flight. New messages go into the next batch; Receive Maximum bounds them."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._connected:
                self._client.loop(timeout=min(0.1, seconds))
            else:
                time.sleep(min(0.1, seconds))

    def close(self) -> None:
        if self._connected:
            self._client.disconnect()
            self._client.loop(timeout=0.2)

    def ack(self, mid: int, qos: int, generation: int) -> bool:
        if generation != self._generation or not self._connected:
            return False
        self._client.ack(mid, qos)
        return True

    def ack_all(self, messages: Sequence[InboundMessage]) -> int:
        """Acknowledge `messages` (in arrival order) as `InboundMessage.ack()` does one
        by one, the PUBACKs of QoS 1 in one write; how many went out (QoS 0 counts)."""
        if not self._bulk_io or any(message.qos == 2 for message in messages):
            return sum(message.ack() for message in messages)  # PUBRECs keep their order
        generation = self._generation
        packet_ids = [
            message._mid
            for message in messages
            if message.qos == 1 and message._generation == generation
        ]
        if packet_ids and self._connected:
            queue_pubacks(self._client, packet_ids)
        else:
            packet_ids = []
        return len(packet_ids) + sum(message.qos == 0 for message in messages)

    def _try_reconnect(self) -> bool:
        try:
            self._client.reconnect()
        except OSError as exc:
            logger.warning("reconnect failed: %s", exc)
            return False
        deadline = time.monotonic() + _CONNACK_TIMEOUT_S
        while not self._connected and time.monotonic() < deadline and not self._stop.is_set():
            self._client.loop(timeout=0.1)
            if self._connect_error is not None:
                logger.error("broker refused reconnect: %s", self._connect_error)
                self._connect_error = None
                return False
        return self._connected

    # -- paho -----------------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        settings = self.settings
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
            client.tls_set_context(settings.tls_context())
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        deliver_publishes(client, self._take)  # paho's on_message for what it leaves
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.settings.session_expiry_s
        properties.ReceiveMaximum = self.settings.receive_maximum
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
            self._connect_error = reason_code
            return
        self._generation += 1
        self._connected = True
        if self._bulk_io:
            buffer_reads(client)  # a new socket per connection
        options = SubscribeOptions(qos=self.settings.qos)
        client.subscribe([(topic, options) for topic in self._filters])
        if self._statistic_topics:
            qos0 = SubscribeOptions(qos=0)
            _, self._statistics_mid = client.subscribe(
                [(topic, qos0) for topic in self._statistic_topics]
            )
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
        if mid == self._statistics_mid:
            if refused:
                logger.warning(
                    "the broker refused us its statistics %s (%s): the broker queue is not "
                    "watched; let the ingest user read them (examples/mosquitto.acl)",
                    list(self._statistic_topics),
                    refused,
                )
            return
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
        # Packet ids are only valid within a connection: acks of older messages are void.
        self._connected = False
        self._generation += 1
        if not self._stop.is_set():
            logger.warning("disconnected from broker: %s", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self._take(message.topic, bytes(message.payload), message.qos, message.mid)

    def _take(self, topic: str, payload: bytes, qos: int, mid: int) -> None:
        self._delivered += 1
        if self._on_statistic is not None and topic.startswith("$SYS/"):
            self._on_statistic(topic, payload)
            return
        self._on_message_cb(
            InboundMessage(topic, payload, qos, self._clock(), self, mid, self._generation)
        )
