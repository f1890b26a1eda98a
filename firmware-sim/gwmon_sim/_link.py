"""One probe's MQTT session: its own paho client (client id, login, TLS, last will), the
connection state, reconnecting with backoff, and the retained status messages.

The link only moves messages; what to send and when is the fleet's business. It tells
its `LinkListener` when the connection is up, when it will retry, and which data message
the broker acknowledged. Its socket is driven by the shared `SocketLoop`.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, Protocol
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gwmon_sim._backoff import Backoff
from gwmon_sim._errors import SimError
from gwmon_sim._netloop import SocketLoop
from gwmon_sim._senml import data_topic, status_payload, status_topic
from gwmon_sim._summary import RunSummary

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

log = logging.getLogger("gwmon.sim.fleet")

LinkState = Literal["idle", "connecting", "connected", "waiting", "offline", "dead", "stopped"]
_WILL_REASON: Final = ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
_LOGIN_REFUSED: Final = (0x86, 0x87, 0x8C)  # bad user name or password, not authorized
_MAX_INFLIGHT: Final = 20


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """What every probe's link shares: the broker, TLS, topics, timing."""

    host: str
    port: int
    tls: bool
    ca_file: Path | None
    topic_prefix: str
    keepalive_s: int
    connect_timeout_s: float

    @staticmethod
    def parse_broker(url: str) -> tuple[str, int, bool]:
        """(host, port, tls) of an mqtt:// or mqtts:// URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            msg = f"broker url {url!r} must be mqtt://host:port or mqtts://host:port"
            raise SimError(msg)
        tls = parts.scheme == "mqtts"
        return parts.hostname, parts.port or (8883 if tls else 1883), tls


def login_for(
    probe_id: str,
    credentials: Mapping[str, str] | None,
    shared_login: tuple[str, str | None] | None,
) -> tuple[str, str | None]:
    """The probe's (username, password): the shared login, else its own row, else no password."""
    if shared_login is not None:
        return shared_login
    if credentials is None:
        return probe_id, None
    if probe_id not in credentials:
        msg = f"no password for probe {probe_id!r} in the credentials; add a row for it"
        raise SimError(msg)
    return probe_id, credentials[probe_id]


class LinkListener(Protocol):
    """What a link reports to the one that drives the probe."""

    def link_up(self, link: Link) -> None:
        """The broker accepted the connection."""

    def link_retry(self, link: Link) -> None:
        """An attempt failed or the connection was lost; the next one follows the backoff."""

    def link_acked(self, link: Link, mid: int, reason: ReasonCode) -> None:
        """PUBACK of data message `mid` (status messages are handled by the link)."""


class Link:
    """The network side of probe number `index` (see the module docstring)."""

    def __init__(
        self,
        index: int,
        probe_id: str,
        login: tuple[str, str | None],
        settings: LinkSettings,
        *,
        backoff: Backoff,
        sockets: SocketLoop,
        listener: LinkListener,
        summary: RunSummary,
    ) -> None:
        self.index = index
        self.probe_id = probe_id
        self.state: LinkState = "idle"
        self.sock: SocketLike | None = None
        self.write_interest = False
        self.next_attempt = 0.0
        self._connecting_since = 0.0
        self._status_mids: set[int] = set()
        self._settings = settings
        self._backoff = backoff
        self._sockets = sockets
        self._listener = listener
        self._summary = summary
        self._data_topic = data_topic(settings.topic_prefix, probe_id)
        self._status_topic = status_topic(settings.topic_prefix, probe_id)
        self.client = self._make_client(login)

    def _make_client(self, login: tuple[str, str | None]) -> mqtt.Client:
        settings = self._settings
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.probe_id,
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(*login)
        if settings.tls or settings.ca_file is not None:
            client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None)
        # The probe vanishing makes the broker publish this ({"online": false}, retained).
        client.will_set(self._status_topic, status_payload(online=False), qos=1, retain=True)
        client.connect_timeout = settings.connect_timeout_s
        client.max_inflight_messages_set(_MAX_INFLIGHT)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.connect_async(
            settings.host, settings.port, keepalive=settings.keepalive_s, clean_start=True
        )
        return client

    # ------------------------------------------------------------ actions
    def connect(self) -> None:
        """Start a connection attempt (the result comes as `link_up` or `link_retry`)."""
        self._sockets.touch(self)
        self.state = "connecting"
        self._connecting_since = time.monotonic()
        try:
            self.client.reconnect()
        except (OSError, ssl.SSLError) as exc:
            self._summary.connect_failures += 1
            # A certificate problem will not go away by waiting: say it loudly.
            level = logging.WARNING if isinstance(exc, ssl.SSLError) else logging.INFO
            settings = self._settings
            log.log(
                level,
                "probe %s: cannot connect to %s:%d: %s",
                self.probe_id,
                settings.host,
                settings.port,
                exc,
            )
            self.retry_later()

    def retry_later(self) -> None:
        self.state = "waiting"
        self.next_attempt = time.monotonic() + self._backoff.next_delay()
        self._listener.link_retry(self)

    def poll(self, now: float) -> bool:
        """Retry when the backoff ran out, or give up an attempt without CONNACK in time.
        True if it did one of these."""
        if self.state == "waiting" and now >= self.next_attempt:
            self.connect()
        elif (
            self.state == "connecting"
            and now - self._connecting_since > self._settings.connect_timeout_s
        ):
            self._summary.connect_failures += 1
            log.info(
                "probe %s: no CONNACK within %.1f s",
                self.probe_id,
                self._settings.connect_timeout_s,
            )
            self.retry_later()
        else:
            return False
        return True

    def go_offline(self) -> None:
        """The probe loses its network: no DISCONNECT, so the broker sends the last will."""
        was = self.state
        self.state = "offline"
        if was in ("connected", "connecting"):
            self._sockets.touch(self)
            self.client.disconnect(reasoncode=_WILL_REASON)

    def die(self) -> None:
        self.go_offline()
        self.state = "dead"

    def stop(self) -> None:
        """End of the run: disconnect cleanly (the retained status stays `online`)."""
        if self.state in ("connected", "connecting"):
            self.state = "stopped"
            self.client.disconnect()
        elif self.state not in ("dead", "offline"):
            self.state = "stopped"

    def publish_status(self, *, firmware: str, battery: float, t: int) -> None:
        payload = status_payload(online=True, firmware=firmware, battery=battery, t=t)
        self._sockets.touch(self)
        info = self.client.publish(self._status_topic, payload, qos=1, retain=True)
        self._status_mids.add(info.mid)

    def publish_data(self, payload: bytes) -> int:
        """Publish one pack (QoS 1); returns its message id."""
        self._sockets.touch(self)
        return self.client.publish(self._data_topic, payload, qos=1).mid

    # ------------------------------------------------------- paho callbacks
    def _on_socket_open(self, client: mqtt.Client, userdata: object, sock: SocketLike) -> None:
        self._sockets.add(self, sock)

    def _on_socket_close(self, client: mqtt.Client, userdata: object, sock: SocketLike) -> None:
        self._sockets.remove(self, sock)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._summary.connect_failures += 1
            if reason.value in _LOGIN_REFUSED:
                self._summary.refused_logins += 1
            log.warning("probe %s: broker refused the connection: %s", self.probe_id, reason)
            return  # the connection closes: `_on_disconnect` schedules the retry
        self._summary.connects += 1
        self.state = "connected"
        self._backoff.reset()
        self._listener.link_up(self)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self.state in ("offline", "dead", "stopped"):
            return
        if self.state == "connected":
            log.info("probe %s: connection lost (%s), will reconnect", self.probe_id, reason)
        self.retry_later()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: Properties,
    ) -> None:
        if mid in self._status_mids:
            self._status_mids.discard(mid)
            return
        self._listener.link_acked(self, mid, reason)
