"""InfluxDB 1.x with authentication: gwmon's user need not be an admin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gwmon.ingest.devservers import InfluxServer
from gwmon.storage import InfluxClient, InfluxSettings, StoreConfigError


@pytest.fixture(scope="module")
def auth_influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    server = InfluxServer(tmp_path_factory.mktemp("influx-auth"), auth_enabled=True)
    server.start()

    def admin(query: str) -> None:
        response = requests.post(
            f"{server.url}/query", data={"q": query}, auth=("admin", "admin-pw"), timeout=10
        )
        response.raise_for_status()
        assert "error" not in response.json()["results"][0], response.text

    # The first admin may be created without credentials while no user exists.
    requests.post(
        f"{server.url}/query",
        data={"q": "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES"},
        timeout=10,
    ).raise_for_status()
    admin("CREATE DATABASE existing")
    admin("CREATE USER gwmon WITH PASSWORD 'gwmon-pw'")
    admin('GRANT ALL ON "existing" TO gwmon')
    yield server
    server.stop()


def client(server: InfluxServer, database: str, password_file: Path) -> InfluxClient:
    return InfluxClient(
        InfluxSettings(
            url=server.url, database=database, username="gwmon", password_file=password_file
        )
    )


def test_non_admin_user_writes_to_an_existing_database(
    auth_influx: InfluxServer, tmp_path: Path
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("gwmon-pw\n")
    store = client(auth_influx, "existing", secret)
    store.ensure_database()
    store.write_lines(["m value=1.5 1"])
    assert store.query_rows("SELECT value FROM m") == [{"time": 1, "value": 1.5}]


def test_missing_database_without_admin_rights_says_what_an_admin_must_do(
    auth_influx: InfluxServer, tmp_path: Path
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("gwmon-pw\n")
    with pytest.raises(StoreConfigError) as caught:
        client(auth_influx, "missing", secret).ensure_database()
    message = str(caught.value)
    assert 'CREATE DATABASE "missing"' in message and "grant" in message
    assert "gwmon-pw" not in message
