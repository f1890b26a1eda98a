"""mqtts:// with a CA file: the probes verify the broker's certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import gwmon_sim
from gwmon.ingest.devservers import MosquittoServer
from sim.simkit import REGISTRY, Collector, check_data


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[MosquittoServer, Path]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certs = tmp_path / "certs"
    certs.mkdir()
    cert.private_key_and_cert_chain_pem.write_to_path(str(certs / "server.pem"))
    cert.private_key_pem.write_to_path(str(certs / "server.key"))
    ca.cert_pem.write_to_path(str(certs / "ca.pem"))
    broker = MosquittoServer(
        tmp_path / "mosquitto-tls",
        extra_config=[f"certfile {certs / 'server.pem'}", f"keyfile {certs / 'server.key'}"],
    )
    broker.start()
    yield broker, certs / "ca.pem"
    broker.stop()


def test_probes_publish_over_verified_tls(tls_broker: tuple[MosquittoServer, Path]) -> None:
    broker, ca_file = tls_broker
    watcher = Collector(broker, ca_file=ca_file)
    try:
        url = f"mqtts://127.0.0.1:{broker.port}"
        fleet = gwmon_sim.Fleet(gwmon_sim.load_scenario("smoke"), REGISTRY, url, ca_file=ca_file)
        summary = fleet.run(drain_timeout_s=20)
        assert summary.done and summary.acked_packs == 144
        assert watcher.wait_for(lambda m: sum(x.topic.endswith("/data") for x in m) >= 144)
        for probe in ("LE-01", "TH-01", "WU-01"):
            payloads = watcher.data(probe)
            assert len(payloads) == 48
            for payload in payloads:
                check_data(probe, payload)
    finally:
        watcher.close()


def test_an_unverifiable_broker_is_never_sent_data(
    tmp_path: Path, tls_broker: tuple[MosquittoServer, Path]
) -> None:
    broker, _ = tls_broker
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    fleet = gwmon_sim.Fleet(
        gwmon_sim.load_scenario("smoke"),
        REGISTRY,
        f"mqtts://127.0.0.1:{broker.port}",
        ca_file=other_ca,
        speed=0,
        probes=["LE-01"],
    )
    fleet.start()
    try:
        fleet.advance(2 * 3600)
        assert fleet.wait_idle(1.0) is False
        summary = fleet.summary()
    finally:
        fleet.stop()
    assert summary.connects == 0 and summary.connect_failures >= 1
    assert {r.delivery for r in fleet.truth()} == {"buffered"}
