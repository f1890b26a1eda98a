"""Real Mosquitto and InfluxDB as private processes for the tests.

The server classes live in gwmon.ingest.devservers (the demo uses them too). Here a
missing binary fails the run with the Debian package to install: these tests never skip
what they claim to test.
"""

from __future__ import annotations

import json

import pytest

from gwmon.ingest import devservers
from gwmon.ingest.devservers import (
    LOOPBACK,
    InfluxDatabase,
    InfluxServer,
    MissingServerBinary,
    MosquittoServer,
    free_port,
    mosquitto_password_file,
    running,
    wait_for_port,
)

__all__ = [
    "LOOPBACK",
    "InfluxDatabase",
    "InfluxServer",
    "MosquittoServer",
    "dump_json",
    "free_port",
    "mosquitto_password_file",
    "require_binary",
    "running",
    "wait_for_port",
]


def require_binary(name: str, package: str) -> str:
    try:
        return devservers.require_binary(name, package)
    except MissingServerBinary as exc:
        pytest.fail(str(exc), pytrace=False)


def dump_json(obj: object) -> bytes:
    return json.dumps(obj).encode()
