"""Helpers for tests that run the ingest against the real servers."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gwmon.ingest import IngestService, load_config, load_configured_registry
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_REGISTRY = REPO_ROOT / "examples" / "registry-wertvoll.csv"
T0 = 1_764_140_400  # 2025-11-26T07:00:00Z, a fixed measurement time base


def write_config(
    directory: Path,
    mosquitto: MosquittoServer,
    database: InfluxDatabase,
    *,
    client_id: str = "gwmon-test",
    extra: str = "",
    mqtt_extra: str = "",
    influx_extra: str = "",
    ops_extra: str = "port = 0",
    registry: Path = DEMO_REGISTRY,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(registry, directory / "registry.csv")
    path = directory / "gwmon.toml"
    path.write_text(
        f"""
[mqtt]
url = "{mosquitto.url}"
client_id = "{client_id}"
session_expiry_s = 600
{mqtt_extra}

[influxdb]
url = "{database.url}"
database = "{database.name}"
flush_interval_s = 0.2
{influx_extra}

[registry]
path = "registry.csv"

[ingest]
stats_interval_s = 3600
{extra}

[ops]
{ops_extra}
"""
    )
    return path


@contextmanager
def running_service(config_path: Path, **kwargs: Any) -> Iterator[IngestService]:
    """An IngestService in a thread; stopped (flushed) on exit."""
    config = load_config(config_path)
    service = IngestService(config, load_configured_registry(config), **kwargs)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            service.run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="ingest", daemon=True)
    thread.start()
    wait_until(
        lambda: service.connections > 0 or bool(errors), timeout=15, what="ingest subscribed"
    )
    if errors:
        raise errors[0]
    try:
        yield service
    finally:
        service.stop()
        thread.join(30)
        assert not thread.is_alive(), "ingest did not stop"
    if errors:
        raise errors[0]


def wait_until(condition: Callable[[], bool], *, timeout: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


def wait_for_count(
    database: InfluxDatabase,
    measurement: str,
    expected: int,
    *,
    where: str = "",
    field: str = "value",
    timeout: float = 30,
) -> None:
    last = [-1]

    def reached() -> bool:
        last[0] = database.count(measurement, where, field)
        return last[0] >= expected

    try:
        wait_until(reached, timeout=timeout, what=f"{expected} points in {measurement}")
    except AssertionError:
        raise AssertionError(f"{measurement}: {last[0]} points, expected {expected}") from None


def publish(
    mosquitto: MosquittoServer,
    messages: Sequence[tuple[str, bytes | str]],
    *,
    qos: int = 1,
    retain: bool = False,
    client_id: str = "test-publisher",
) -> None:
    """Publish and wait until the broker acknowledged every message."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        infos = [
            client.publish(topic, payload, qos=qos, retain=retain) for topic, payload in messages
        ]
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def pack(probe: str, records: list[dict[str, Any]], *, base_time: float | None = T0) -> bytes:
    first: dict[str, Any] = {"bn": f"{probe}:"}
    if base_time is not None:
        first["bt"] = base_time
    return json.dumps([{**first, **records[0]}, *records[1:]]).encode()


def data_topic(probe: str) -> str:
    return f"gw/v1/{probe}/data"
