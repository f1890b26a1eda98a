"""Shared fixtures: real servers on loopback (gwmon.ingest.devservers)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from gwmon.ingest.devservers import (
    InfluxDatabase,
    InfluxServer,
    MissingServerBinary,
    MosquittoServer,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_REGISTRY = REPO_ROOT / "examples" / "registry-wertvoll.csv"


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """One InfluxDB for the session; tests isolate through their own database."""
    server = InfluxServer(tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def influx_db(influxdb: InfluxServer) -> InfluxDatabase:
    """A fresh database on the session's InfluxDB."""
    return influxdb.new_database()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    """A private anonymous Mosquitto per test (starts in ~50 ms): no cross-test leaks."""
    server = MosquittoServer(tmp_path / "mosquitto")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def demo_registry() -> Path:
    return DEMO_REGISTRY


def _fail_loudly_on_missing_binary() -> Generator[None, object, object]:
    try:
        return (yield)
    except MissingServerBinary as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    """A missing server binary fails the test loudly with the package to install."""
    return (yield from _fail_loudly_on_missing_binary())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _fail_loudly_on_missing_binary())
