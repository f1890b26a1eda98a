"""InfluxDB filled with a simulated month for the dashboard and report tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashboards.dash_scenario import DEMO_REGISTRY, Scenario
from gwmon.ingest import Registry, load_registry
from gwmon.ingest.devservers import InfluxDatabase, InfluxServer
from gwmon.storage import InfluxClient, InfluxSettings


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(DEMO_REGISTRY)


@pytest.fixture(scope="session")
def month_db(influxdb: InfluxServer, registry: Registry) -> Iterator[InfluxDatabase]:
    """One database per session holding the October 2026 scenario (read-only for tests)."""
    database = influxdb.new_database("dash")
    client = InfluxClient(InfluxSettings(url=database.url, database=database.name, gzip=True))
    points = Scenario(registry).build()
    for start in range(0, len(points), 5000):
        client.write_points(points[start : start + 5000])
    client.close()
    yield database


@pytest.fixture(scope="session")
def month_client(month_db: InfluxDatabase) -> Iterator[InfluxClient]:
    client = InfluxClient(InfluxSettings(url=month_db.url, database=month_db.name))
    yield client
    client.close()
