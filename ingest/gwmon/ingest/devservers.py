"""Private Mosquitto and InfluxDB processes for the demo and the tests (not production).

Each server runs on a free loopback port with its own directory and generated config.
A missing binary raises `MissingServerBinary` naming the Debian package to install.
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from gwmon.config import GwmonError
from gwmon.storage import MEASUREMENTS, Measurement, influxql

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class MissingServerBinary(GwmonError):
    """A server program is not installed; the message names the Debian package."""


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
    if path is None:
        msg = (
            f"'{name}' not found: install the Debian package '{package}' "
            f"(apt-get install {package}); `make test` and `bash .ci/run` do this"
        )
        raise MissingServerBinary(msg)
    return path


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s:\n{log.read_text()}")


class MosquittoServer:
    """A private Mosquitto broker. `extra_config` lines are appended to the listener."""

    def __init__(
        self, workdir: Path, extra_config: Sequence[str] = (), port: int | None = None
    ) -> None:
        self.binary = require_binary("mosquitto", "mosquitto")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra_config = list(extra_config)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://{LOOPBACK}:{self.port}"

    def write_config(self) -> Path:
        config = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} {LOOPBACK}",
            "allow_anonymous true",
            # Generous queues: tests publish bursts to offline persistent sessions.
            "max_queued_messages 1000000",
            "max_inflight_messages 0",
            # Run as whoever started us: as root, Mosquitto would otherwise switch to the
            # `mosquitto` user and could not read certificates in private temp dirs.
            f"user {getpass.getuser()}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            *self.extra_config,
        ]
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> None:
        config = self.write_config()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, self.process, self.log, 10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def mosquitto_password_file(path: Path, credentials: dict[str, str]) -> Path:
    """Write a Mosquitto password file with hashed passwords (mosquitto_passwd -b)."""
    tool = require_binary("mosquitto_passwd", "mosquitto")
    path.write_text("")
    for user, password in credentials.items():
        subprocess.run([tool, "-b", str(path), user, password], check=True, capture_output=True)
    return path


@dataclass
class InfluxDatabase:
    """One database on a private InfluxDB (a test's own, or the demo's)."""

    url: str
    name: str

    def query(self, influxql: str, epoch: str = "ns") -> list[dict[str, Any]]:
        """Run InfluxQL and return the series of the first statement (raises on error)."""
        response = requests.get(
            f"{self.url}/query",
            params={"db": self.name, "q": influxql, "epoch": epoch},
            timeout=30,
        )
        response.raise_for_status()
        result = response.json()["results"][0]
        if "error" in result:
            raise RuntimeError(f"{influxql}: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def rows(self, influxql: str, epoch: str = "ns") -> list[dict[str, Any]]:
        """Rows of all series as dicts, tags merged in."""
        out: list[dict[str, Any]] = []
        for serie in self.query(influxql, epoch):
            tags = serie.get("tags", {})
            for values in serie["values"]:
                out.append({**tags, **dict(zip(serie["columns"], values, strict=True))})
        return out

    def count(self, measurement: str, where: str = "", field: str = "value") -> int:
        """count(field) of a measurement; `where` is raw InfluxQL from the tests."""
        statement = influxql.select(_measurement(measurement), influxql.count(field))
        text = statement.text if not where else f"{statement.text} WHERE {where}"
        series = self.query(text)
        return int(series[0]["values"][0][1]) if series else 0


def _measurement(name: str) -> Measurement:
    for measurement in MEASUREMENTS:
        if measurement.name == name:
            return measurement
    msg = f"no measurement {name!r} in the storage contract"
    raise ValueError(msg)


class InfluxServer:
    """A private InfluxDB 1.x (Debian package `influxdb`)."""

    def __init__(self, workdir: Path, *, auth_enabled: bool = False) -> None:
        self.binary = require_binary("influxd", "influxdb")
        self.auth_enabled = auth_enabled
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.rpc_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "influxd.log"
        self._counter = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def write_config(self) -> Path:
        default = subprocess.run(
            [self.binary, "config"], check=True, capture_output=True, text=True
        ).stdout
        text = default.replace("/var/lib/influxdb", str(self.workdir))
        text = text.replace(
            'bind-address = "127.0.0.1:8088"', f'bind-address = "{LOOPBACK}:{self.rpc_port}"'
        )
        text = text.replace('bind-address = ":8086"', f'bind-address = "{LOOPBACK}:{self.port}"')
        text = text.replace("reporting-disabled = false", "reporting-disabled = true")
        text = text.replace("store-enabled = true", "store-enabled = false")
        text = text.replace("query-log-enabled = true", "query-log-enabled = false")
        text = text.replace("log-enabled = true", "log-enabled = false")
        if self.auth_enabled:
            text = text.replace("auth-enabled = false", "auth-enabled = true", 1)
        config = self.workdir / "influxdb.conf"
        config.write_text(text)
        return config

    def start(self) -> None:
        config = self.write_config()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-config", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, self.process, self.log, 30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/ping", timeout=1).status_code == 204:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"influxd did not answer /ping:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def new_database(self, prefix: str = "t") -> InfluxDatabase:
        """A fresh, empty, uniquely named database (created)."""
        self._counter += 1
        name = f"{prefix}_{self._counter}_{int(time.time() * 1000) % 10**8}"
        response = requests.post(
            f"{self.url}/query", data={"q": influxql.create_database(name).text}, timeout=10
        )
        response.raise_for_status()
        return InfluxDatabase(self.url, name)

    def unique_name(self, prefix: str = "t") -> str:
        """A database name not yet created (for tests of gwmon creating it)."""
        self._counter += 1
        return f"{prefix}_{self._counter}_{int(time.time() * 1000) % 10**8}"
