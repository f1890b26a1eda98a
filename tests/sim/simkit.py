"""Helpers of the firmware-sim tests: a recording subscriber and an independent checker of
the wire contract (written from docs/wire-format.md, not from gwmon's decoder)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gwmon.ingest.devservers import MosquittoServer

REPO_ROOT = Path(__file__).resolve().parents[2]
REGISTRY = REPO_ROOT / "examples" / "registry-wertvoll.csv"
MAX_PAYLOAD = 65_536
ABSOLUTE_MIN = 2**28
ACCEPTED_UNITS: dict[str, set[str | None]] = {
    "nitrate": {"mg/L", "kg/m3"},
    "nitrate_n": {"mg/L", "kg/m3"},
    "level": {"m"},
    "depth": {"m"},
    "temperature": {"Cel", "K"},
    "conductivity": {"uS/cm", "S/m"},
    "battery": {"%EL"},
    "seq": {None},
}


@dataclass(frozen=True)
class Record:
    name: str
    unit: str | None
    value: float
    time: float


def _no_constants(name: str) -> float:
    raise AssertionError(f"JSON constant {name} is not allowed in a pack")


def check_data(probe_id: str, payload: bytes) -> list[Record]:
    """Assert that `payload` is a valid v1 data message of `probe_id`; return its records."""
    assert 0 < len(payload) <= MAX_PAYLOAD
    document = json.loads(payload.decode("utf-8"), parse_constant=_no_constants)
    assert isinstance(document, list) and document, "a pack is a non-empty JSON array"
    base_time: float | None = None
    out: list[Record] = []
    for record in document:
        assert isinstance(record, dict)
        assert not any(key.endswith("_") for key in record), "must-understand fields"
        if "bn" in record:
            assert record["bn"] == f"{probe_id}:", "base name must name the topic's probe"
        if "bt" in record:
            base_time = record["bt"]
        assert "bu" not in record and "bv" not in record
        assert base_time is not None, "the first record must carry bt"
        offset = record.get("t", 0)
        assert isinstance(offset, int | float) and not isinstance(offset, bool)
        moment = base_time + offset
        assert moment >= ABSOLUTE_MIN, "absolute UNIX time"
        name = record["n"]
        assert name in ACCEPTED_UNITS, f"unknown record name {name}"
        unit = record.get("u")
        assert unit in ACCEPTED_UNITS[name], f"{name}: unit {unit}"
        value = record["v"]
        assert isinstance(value, int | float) and not isinstance(value, bool)
        assert math.isfinite(value)
        if name == "seq":
            assert isinstance(value, int) and 0 <= value < 2**32
        out.append(Record(name, unit, float(value), float(moment)))
    times = sorted({r.time for r in out})
    for moment in times:
        seqs = [r for r in out if r.time == moment and r.name == "seq"]
        assert len(seqs) == 1, f"exactly one seq per sampling cycle (t={moment})"
    return out


def check_status(payload: bytes) -> dict[str, Any]:
    body = json.loads(payload)
    assert isinstance(body, dict)
    assert isinstance(body["online"], bool)
    assert set(body) <= {"online", "firmware", "battery", "t"}
    if "firmware" in body:
        assert isinstance(body["firmware"], str)
    if "battery" in body:
        assert 0 <= body["battery"] <= 100
    if "t" in body:
        assert body["t"] >= ABSOLUTE_MIN
    return body


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


class Collector:
    """Subscribes to everything on a broker and records messages in arrival order."""

    def __init__(
        self,
        broker: MosquittoServer,
        username: str | None = None,
        password: str | None = None,
        *,
        persistent_id: str | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=persistent_id or f"collector-{time.monotonic_ns()}",
            protocol=mqtt.MQTTv5,
        )
        self.client.reconnect_delay_set(1, 1)
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file))
        self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        properties = None
        if persistent_id is not None:  # the broker keeps our queue across its restarts
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 3600
        self.client.connect(
            "127.0.0.1",
            broker.port,
            clean_start=persistent_id is None,
            properties=properties,
        )
        self.client.loop_start()
        assert self._subscribed.wait(10), "collector could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(
                Message(message.topic, bytes(message.payload), bool(message.retain))
            )

    def snapshot(self) -> list[Message]:
        with self._lock:
            return list(self.messages)

    def data(self, probe_id: str, prefix: str = "") -> list[bytes]:
        topic = f"{prefix}/gw/v1/{probe_id}/data" if prefix else f"gw/v1/{probe_id}/data"
        return [m.payload for m in self.snapshot() if m.topic == topic]

    def status(self, probe_id: str) -> list[dict[str, Any]]:
        topic = f"gw/v1/{probe_id}/status"
        return [check_status(m.payload) for m in self.snapshot() if m.topic == topic]

    def wait_for(self, predicate: Callable[[list[Message]], bool], timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            time.sleep(0.02)
        return predicate(self.snapshot())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def seqs_of(payloads: list[bytes], probe_id: str) -> list[int]:
    """The seq values in arrival order (packs in order, records in order)."""
    return [int(r.value) for p in payloads for r in check_data(probe_id, p) if r.name == "seq"]
