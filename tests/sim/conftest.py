"""Fixtures of the firmware-sim tests: a recording subscriber, a broker with per-probe auth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gwmon.ingest.devservers import MosquittoServer, mosquitto_password_file
from sim.simkit import Collector

WATCHER = ("watcher", "watcher-secret")


@pytest.fixture
def collector(mosquitto: MosquittoServer) -> Iterator[Collector]:
    sub = Collector(mosquitto)
    yield sub
    sub.close()


@pytest.fixture
def persistent_mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    """A broker that saves sessions and queued messages when it stops (persistence)."""
    store = tmp_path / "mosquitto-store"
    store.mkdir()
    server = MosquittoServer(
        tmp_path / "mosquitto-persistent",
        extra_config=["persistence true", f"persistence_location {store}/"],
    )
    server.start()
    yield server
    server.stop()


class AuthBroker(MosquittoServer):
    """Mosquitto with a password file and the ACL of docs/wire-format.md."""

    def __init__(self, workdir: Path, credentials: dict[str, str]) -> None:
        passwords = mosquitto_password_file(
            workdir.parent / f"{workdir.name}.passwd", {**credentials, WATCHER[0]: WATCHER[1]}
        )
        acl = workdir.parent / f"{workdir.name}.acl"
        acl.write_text("pattern write gw/v1/%u/#\n\nuser watcher\ntopic read #\n", encoding="utf-8")
        super().__init__(
            workdir,
            extra_config=[
                "allow_anonymous false",
                f"password_file {passwords}",
                f"acl_file {acl}",
            ],
        )
