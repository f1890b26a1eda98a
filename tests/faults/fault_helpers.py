"""Helpers of the fault tests: probes that publish like firmware, the real `gwmon run`
process with its /metrics, and the figures every fault test prints."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import requests
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from gwmon.ingest.devservers import LOOPBACK, InfluxDatabase
from ingest_helpers import T0, data_topic, pack, wait_until

NS = 1_000_000_000


@contextlib.contextmanager
def held_ports(*ports: int) -> Iterator[None]:
    """Keep a stopped server's ports bound, not listening, until it starts again: clients
    are refused as by the stopped server, and no other process on this shared machine
    takes a port meanwhile (a 3-minute outage lost its port to one). SO_REUSEADDR gets
    past the server's TIME_WAIT connections; free_port() and outgoing connections skip
    bound ports."""
    with contextlib.ExitStack() as stack:
        for port in ports:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((LOOPBACK, port))
        yield


def reading_value(probe_index: int, i: int) -> float:
    """The nitrate value of message `i` of probe number `probe_index`: unique, exact."""
    return round(10 + probe_index + i / 1000, 3)


class FirmwarePublisher:
    """One probe publishing like its firmware: QoS 1, one reading per message, every
    message kept until the broker's PUBACK (paho resends what is unacknowledged after a
    reconnect, and queues what is published while the broker is away)."""

    def __init__(
        self,
        port: int,
        probe: str,
        probe_index: int,
        *,
        password: str | None = None,
        count: int,
        interval_s: float,
        first: int = 0,
    ) -> None:
        self.probe = probe
        self.probe_index = probe_index
        self.count = count
        self.first = first
        self.interval_s = interval_s
        self.acked = 0
        self._infos: list[mqtt.MQTTMessageInfo] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=probe, protocol=mqtt.MQTTv5
        )
        if password is not None:
            self.client.username_pw_set(probe, password)
        self.client.reconnect_delay_set(1, 2)
        self.client.max_inflight_messages_set(20)
        self.client.on_publish = self._on_publish
        self.client.connect(LOOPBACK, port)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._publish_all, name=f"pub-{probe}")

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, *args: object) -> None:
        with self._lock:
            self.acked += 1

    def _publish_all(self) -> None:
        for i in range(self.first, self.first + self.count):
            payload = pack(
                self.probe,
                [{"n": "nitrate", "u": "mg/L", "v": reading_value(self.probe_index, i), "t": i}],
            )
            self._infos.append(self.client.publish(data_topic(self.probe), payload, qos=1))
            time.sleep(self.interval_s)

    def start(self) -> FirmwarePublisher:
        self.thread.start()
        return self

    def published(self) -> int:
        return len(self._infos)

    def finish(self, timeout: float = 60) -> None:
        """Wait until every message was acknowledged by the broker, then disconnect."""
        self.thread.join(timeout)
        wait_until(lambda: self.acked >= self.count, timeout=timeout, what=f"{self.probe} PUBACKs")
        self.client.disconnect()
        self.client.loop_stop()

    def expected(self) -> dict[tuple[str, int], float]:
        return {
            (self.probe, T0 + i): reading_value(self.probe_index, i)
            for i in range(self.first, self.first + self.count)
        }


def stored_readings(database: InfluxDatabase) -> dict[tuple[str, int], float]:
    rows = database.rows("SELECT value FROM reading GROUP BY probe")
    return {(row["probe"], row["time"] // NS): row["value"] for row in rows}


@dataclass
class Figure:
    """What a fault scenario did to the readings (docs/reliability.md)."""

    scenario: str
    injected: str
    sent: int
    stored: int
    lost: int
    duplicated: int
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        extra = " ".join(f"{key}={value:g}" for key, value in self.extra.items())
        return (
            f"{self.scenario}: injected={self.injected!r} sent={self.sent} stored={self.stored} "
            f"lost={self.lost} duplicated={self.duplicated} {extra} {self.note}".rstrip()
        )


def figure_of(
    scenario: str,
    injected: str,
    expected: dict[tuple[str, int], float],
    database: InfluxDatabase,
    *,
    note: str = "",
    **extra: float,
) -> Figure:
    """Compare what was sent with what InfluxDB holds. A point is measurement + tags +
    time, so "duplicated" counts stored points that were not sent (a reading stored
    twice would have to differ in time or tags to be two points)."""
    stored = stored_readings(database)
    lost = sum(1 for key in expected if key not in stored)
    wrong = {key for key, value in stored.items() if expected.get(key) != value}
    figure = Figure(scenario, injected, len(expected), len(stored), lost, len(wrong), note, extra)
    print(f"FAULT FIGURE {figure.line()}")
    return figure


# -- the real service process ---------------------------------------------------------------
class GwmonRun:
    """`gwmon run --config FILE` as a process, its log, /metrics and /healthz."""

    def __init__(
        self,
        config: Path,
        log: Path,
        ops_port: int,
        *,
        extra_env: dict[str, str] | None = None,
        log_level: str = "INFO",
    ) -> None:
        self.config = config
        self.log = log
        self.ops_port = ops_port
        env = {k: v for k, v in os.environ.items() if not k.startswith("GWMON_")}
        env.update({"PYTHONUNBUFFERED": "1", **(extra_env or {})})
        with log.open("ab") as handle:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gwmon.cli",
                    "--log-level",
                    log_level,
                    "run",
                    "--config",
                    str(config),
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, text: str, occurrences: int = 1, timeout: float = 30) -> None:
        def seen() -> bool:
            assert self.process.poll() is None, self.log_text()
            return self.log_text().count(text) >= occurrences

        wait_until(seen, timeout=timeout, what=f"{text!r} in the gwmon log")

    def get(self, path: str) -> requests.Response:
        return requests.get(f"http://{LOOPBACK}:{self.ops_port}{path}", timeout=10)

    def metrics(self) -> dict[str, float]:
        """Every sample as `name{label="v",...}` -> value."""
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(self.get("/metrics").text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return samples

    def healthz(self) -> tuple[int, dict[str, Any]]:
        response = self.get("/healthz")
        body: dict[str, Any] = json.loads(response.text)
        return response.status_code, body

    def stop(self, timeout: float = 60) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took to exit)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
