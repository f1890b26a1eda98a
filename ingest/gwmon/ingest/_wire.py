"""Two per-packet costs of paho's network I/O that the ingest removes.

paho 2.x reads every MQTT packet with at least three `recv()` system calls (the fixed
header byte, the remaining-length byte(s), the rest) and sends every acknowledgement as
its own packet, each one a `send()` plus a wake-up byte on its socket pair. For a
message of one reading those calls cost more than decoding it (docs/performance.md).

- `ReadBuffer` wraps the client's socket: one `recv()` fetches whatever the kernel
  holds (up to 64 KiB) and paho's small reads are served from it. It reports the bytes
  it holds through `pending()`, the method paho already asks of a TLS socket before it
  waits in `select()`, so paho never waits while a whole packet sits in the buffer.
- `queue_pubacks` puts the PUBACKs of a whole batch into paho's outgoing queue as one
  chunk of bytes: the same packets on the wire, in the same order, in one `send()`.
- `deliver_publishes` hands an incoming QoS 0/1 PUBLISH to the ingest as topic, payload,
  QoS and packet id, read straight from the packet. paho's own handler builds a
  `Properties` object (the packet's MQTT 5 properties, which the ingest does not use), an
  `MQTTMessage` with an `MQTTMessageInfo` and its `threading.Condition`, matches the
  topic against per-topic callbacks (the ingest has none) and formats a debug log line,
  for every message. The properties are skipped, not read: the ingest's CONNECT sets no
  Topic Alias Maximum, so the broker may not replace topics by aliases (MQTT 5.0,
  3.1.2.11.5). Anything else (QoS 2, an empty or non-UTF-8 topic, a malformed packet)
  goes to paho's handler as before.

They use paho internals (`Client._sock`, `Client._packet_queue`, `Client._in_packet`,
`Client._handle_publish`); `supported()` checks they are there and the source falls
back to paho's public API when they are not.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

_CHUNK = 65_536
_PUBACK = 0x40  # MQTT control packet type 4, flags 0
_PUBACK_PACKET = struct.Struct("!BBH")  # type, remaining length 2, packet id


class ReadBuffer:
    """A socket whose `recv(n)` is served from one larger read (see module doc); the
    rest of what paho asks of a socket (its `SocketLike`) goes to the wrapped one."""

    __slots__ = ("_data", "_position", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._data = b""
        self._position = 0

    def recv(self, size: int) -> bytes:
        """Up to `size` bytes: buffered ones first, else one read of the socket. Raises
        what the socket raises (`BlockingIOError`, `ssl.SSLWantReadError`); b"" at EOF."""
        position = self._position
        if position < len(self._data):
            chunk = self._data[position : position + size]
            self._position = position + len(chunk)
            return chunk
        data: bytes = self.sock.recv(max(size, _CHUNK))
        if len(data) <= size:
            self._data, self._position = b"", 0
            return data
        self._data, self._position = data, size
        return data[:size]

    def pending(self) -> int:
        """Bytes readable without waiting: ours plus those of a TLS socket's own buffer."""
        buffered = len(self._data) - self._position
        pending = getattr(self.sock, "pending", None)
        return buffered + (pending() if pending is not None else 0)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes | bytearray) -> int:
        return self.sock.send(data)

    def setblocking(self, flag: bool) -> None:
        self.sock.setblocking(flag)

    def close(self) -> None:
        self.sock.close()


def supported(client: mqtt.Client) -> bool:
    """Whether this paho has the internals used here (paho-mqtt 2.x)."""
    return (
        hasattr(client, "_sock")
        and isinstance(getattr(client, "_in_packet", None), dict)
        and all(
            callable(getattr(client, name, None)) for name in ("_packet_queue", "_handle_publish")
        )
    )


# topic, payload, QoS, packet id
Deliver = Callable[[str, bytes, int, int], None]


def deliver_publishes(client: mqtt.Client, deliver: Deliver) -> bool:
    """Let `deliver` receive the client's QoS 0 and 1 PUBLISH packets instead of paho's
    `on_message` (see module doc; the client must be MQTT 5 with manual acks)."""
    if not supported(client) or client.protocol != mqtt.MQTTv5 or not client._manual_ack:
        return False
    paho_handler = client._handle_publish

    def handle_publish() -> MQTTErrorCode:
        packet = client._in_packet
        qos = (packet["command"] & 0x06) >> 1
        try:
            parsed = _publish(packet["packet"], qos) if qos < 2 else None
        except (IndexError, UnicodeDecodeError):
            parsed = None  # malformed: paho says how
        if parsed is None:
            return paho_handler()
        deliver(parsed[0], parsed[1], qos, parsed[2])
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    client._handle_publish = handle_publish  # type: ignore[method-assign]
    return True


def _publish(data: bytearray, qos: int) -> tuple[str, bytes, int] | None:
    """Topic, payload and packet id of a PUBLISH's variable header and payload; None
    for an empty topic (a topic alias)."""
    end = 2 + ((data[0] << 8) | data[1])
    topic = data[2:end].decode("utf-8")
    if not topic or end > len(data):
        return None
    mid = 0
    if qos:
        mid = (data[end] << 8) | data[end + 1]
        end += 2
    # The properties' length, a variable byte integer of at most four bytes.
    length = shift = 0
    for _ in range(4):
        byte = data[end]
        end += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    else:
        return None
    end += length
    if end > len(data):
        return None
    return topic, bytes(data[end:]), mid


def buffer_reads(client: mqtt.Client) -> bool:
    """Wrap the client's connected socket in a `ReadBuffer` (once per connection);
    call right after the CONNACK, when paho has read nothing beyond it."""
    sock = getattr(client, "_sock", None)
    if not isinstance(sock, socket.socket) or not supported(client):
        return False  # not connected, or already a ReadBuffer
    client._sock = ReadBuffer(sock)
    return True


def queue_pubacks(client: mqtt.Client, packet_ids: Sequence[int]) -> None:
    """Queue the PUBACKs (MQTT 5 short form: reason Success, no properties) of
    `packet_ids` as one write, in order, behind whatever paho has queued already."""
    if not packet_ids:
        return
    data = b"".join([_PUBACK_PACKET.pack(_PUBACK, 2, mid) for mid in packet_ids])
    client._packet_queue(_PUBACK, data, 0, 0)
