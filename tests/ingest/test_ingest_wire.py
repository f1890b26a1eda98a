"""The ingest's bulk network I/O around paho (`_wire.py`), its flush policy for the end
of a burst, and its garbage-collector settings: unit tests with a socket pair and a real
paho client; the behaviour against a real broker is in test_ingest_service.py."""

from __future__ import annotations

import contextlib
import gc
import socket
import struct
import subprocess
import sys
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt._packet import decode_publish
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gwmon.ingest._batch import Batch, FlushPolicy
from gwmon.ingest._wire import (
    ReadBuffer,
    _publish,
    buffer_reads,
    deliver_publishes,
    queue_pubacks,
    supported,
)


def test_a_read_buffer_serves_small_reads_from_one_socket_read() -> None:
    left, right = socket.socketpair()
    try:
        left.sendall(b"0123456789")
        right.setblocking(False)
        reader = ReadBuffer(right)
        assert reader.recv(1) == b"0"
        assert reader.pending() == 9  # fetched in one read, held for the next calls
        assert reader.recv(3) == b"123"
        assert reader.recv(100) == b"456789"  # what is buffered, not more
        assert reader.pending() == 0
        with pytest.raises(BlockingIOError):  # as the socket says: nothing to read
            reader.recv(1)
        left.sendall(b"ab")
        assert reader.recv(5) == b"ab"
        left.close()
        assert reader.recv(1) == b""  # end of stream, as the socket reports it
        assert reader.fileno() == right.fileno()  # select() waits on the socket itself
    finally:
        right.close()


@given(st.binary(min_size=1, max_size=200_000), st.lists(st.integers(1, 70_000), min_size=1))
def test_a_read_buffer_returns_the_stream_unchanged_whatever_the_read_sizes(
    data: bytes, sizes: list[int]
) -> None:
    left, right = socket.socketpair()
    try:
        left.setblocking(False)
        right.setblocking(False)
        reader = ReadBuffer(right)
        sent, received = 0, bytearray()
        step = 0
        while len(received) < len(data):
            if sent < len(data):
                with contextlib.suppress(BlockingIOError):
                    sent += left.send(data[sent : sent + 65_536])
            try:
                chunk = reader.recv(sizes[step % len(sizes)])
            except BlockingIOError:
                continue
            step += 1
            assert 0 < len(chunk) <= sizes[(step - 1) % len(sizes)]
            received += chunk
        assert bytes(received) == data
    finally:
        left.close()
        right.close()


def _client() -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)


def test_pubacks_of_a_batch_leave_in_one_write_as_paho_would_send_them_one_by_one() -> None:
    packet_ids = [1, 2, 300, 65_535]
    wire: dict[str, bytes] = {}
    sends: dict[str, int] = {}
    for name in ("bulk", "single"):
        client = _client()
        assert supported(client)
        ours, broker = socket.socketpair()
        sends[name] = 0
        real_send = client._sock_send

        def counting_send(
            data: bytes | bytearray, name: str = name, real: Callable[..., int] = real_send
        ) -> int:
            sends[name] += 1
            return real(data)

        client._sock_send = counting_send  # type: ignore[assignment,method-assign]
        client._sock = ours  # "connected": paho writes at once
        try:
            if name == "bulk":
                queue_pubacks(client, packet_ids)
            else:
                for mid in packet_ids:
                    client.ack(mid, 1)
            broker.settimeout(5)
            wire[name] = broker.recv(1000)
        finally:
            client._sock = None
            ours.close()
            broker.close()
    assert sends == {"bulk": 1, "single": len(packet_ids)}  # one send() for the batch
    assert wire["bulk"] == wire["single"]  # the same bytes, in the same order
    assert wire["bulk"][:4] == struct.pack("!BBH", 0x40, 2, 1)


def test_reads_are_buffered_once_per_connection() -> None:
    client = _client()
    assert not buffer_reads(client)  # not connected: nothing to wrap
    left, right = socket.socketpair()
    try:
        client._sock = right
        assert buffer_reads(client)
        wrapped: object = client._sock
        assert isinstance(wrapped, ReadBuffer)
        assert wrapped.sock is right
        assert not buffer_reads(client)  # never a buffer around a buffer
    finally:
        client._sock = None
        left.close()
        right.close()


def _batch_with_message_at(received_at: float) -> Batch:
    batch = Batch(lines=["m value=1 1"])
    batch.first_at = batch.last_at = received_at
    batch.messages.append(object())  # type: ignore[arg-type]
    return batch


def test_a_batch_is_written_once_the_stream_goes_quiet_not_only_when_old() -> None:
    # Times in powers of two: exact in binary, no rounding at the thresholds.
    policy = FlushPolicy(max_lines=5_000, max_messages=10_000, max_age_s=0.25, quiet_s=0.03125)
    batch = _batch_with_message_at(100.0)
    assert not policy.due(batch, 100.015625)  # messages may still be coming
    assert policy.due(batch, 100.03125)  # none for quiet_s: the end of a burst
    batch.last_at = 100.125  # a steady stream keeps the batch filling ...
    assert not policy.due(batch, 100.140625)
    assert policy.due(batch, 100.25)  # ... until it is max_age_s old, as before
    assert not FlushPolicy(5_000, 10_000, 0.25).due(_batch_with_message_at(100.0), 100.125)


def test_streaming_gc_settings_freeze_the_start_up_heap_and_collect_young_objects_less() -> None:
    # In a child process: the settings are for the process that runs `gwmon run`.
    code = (
        "import gc\n"
        "from gwmon.ingest._service import settle_heap_for_streaming\n"
        "settle_heap_for_streaming()\n"
        "print(gc.get_freeze_count() > 0, gc.get_threshold()[0], gc.isenabled())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["True", "20000", "True"]
    assert gc.get_threshold()[0] != 20_000 or gc.get_freeze_count() == 0  # this process: untouched


def _publish_packet(topic: bytes, qos: int, mid: int, properties: bytes, payload: bytes) -> bytes:
    """A PUBLISH's variable header and payload (what follows the fixed header)."""
    header = struct.pack("!H", len(topic)) + topic
    if qos:
        header += struct.pack("!H", mid)
    return header + properties + payload


# MQTT strings: UTF-8 without U+0000 (MQTT 5.0, 1.5.4).
_MQTT_CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
_TOPICS = st.text(alphabet=_MQTT_CHARACTERS, min_size=1, max_size=80)
_STRINGS = st.text(alphabet=_MQTT_CHARACTERS, max_size=100)


@given(
    topic=_TOPICS,
    qos=st.sampled_from([0, 1]),
    mid=st.integers(1, 65_535),
    payload=st.binary(max_size=300),
    expiry=st.none() | st.integers(0, 2**32 - 1),
    user=st.lists(st.tuples(_STRINGS, _STRINGS), max_size=20),
    content_type=st.none() | _STRINGS,
)
def test_the_lean_publish_reader_reads_what_paho_reads(
    topic: str,
    qos: int,
    mid: int,
    payload: bytes,
    expiry: int | None,
    user: list[tuple[str, str]],
    content_type: str | None,
) -> None:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if expiry is not None:
        properties.MessageExpiryInterval = expiry
    if user:
        properties.UserProperty = user
    if content_type is not None:
        properties.ContentType = content_type
    packet = bytearray(
        _publish_packet(topic.encode(), qos, mid, properties.pack(), payload)  # type: ignore[no-untyped-call]
    )
    paho = decode_publish(0x30 | qos << 1, packet, MQTTProtocolVersion.MQTTv5)
    assert _publish(packet, qos) == (paho.topic.decode(), bytes(paho.payload), paho.mid)


def test_publishes_paho_should_handle_go_to_paho() -> None:
    empty_topic = bytearray(_publish_packet(b"", 1, 7, b"\x00", b"x"))
    assert _publish(empty_topic, 1) is None  # a topic alias would be needed
    with pytest.raises(UnicodeDecodeError):
        _publish(bytearray(_publish_packet(b"gw/\xff", 1, 7, b"\x00", b"x")), 1)
    assert _publish(bytearray(b"\x00\x09gw"), 0) is None  # shorter than its topic
    with pytest.raises(IndexError):
        _publish(bytearray(b"\x00\x02gw"), 1)  # no packet id


def test_a_publish_read_from_the_socket_is_delivered_without_paho_s_message_objects() -> None:
    client = _client()
    delivered: list[tuple[str, bytes, int, int]] = []
    paho_messages: list[object] = []
    client.on_message = lambda *args: paho_messages.append(args)
    assert deliver_publishes(client, lambda *fields: delivered.append(fields))
    ours, broker = socket.socketpair()
    try:
        ours.setblocking(False)
        client._sock = ours
        assert buffer_reads(client)
        body = _publish_packet(b"gw/v1/LE-01/data", 1, 42, b"\x00", b'[{"v":1}]')
        qos2 = _publish_packet(b"gw/v1/LE-01/data", 2, 43, b"\x00", b"two")
        broker.sendall(bytes([0x32, len(body)]) + body + bytes([0x34, len(qos2)]) + qos2)
        for _ in range(2):
            assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
        assert delivered == [("gw/v1/LE-01/data", b'[{"v":1}]', 1, 42)]
        # QoS 2: paho's own handling (PUBREC now, on_message after the PUBREL).
        assert list(client._in_messages) == [43]
        assert paho_messages == []
    finally:
        client._sock = None
        ours.close()
        broker.close()
