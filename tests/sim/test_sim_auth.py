"""Per-probe credentials against a Mosquitto with password file and the ACL
`pattern write gw/v1/%u/#`: each probe publishes as itself only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import gwmon_sim
from sim.conftest import WATCHER, AuthBroker
from sim.simkit import REGISTRY, Collector, check_data

PROBES = ["LE-01", "TH-01", "WU-01"]
SECRET = "test-only-secret"


@pytest.fixture
def credentials() -> dict[str, str]:
    return gwmon_sim.demo_credentials(PROBES, SECRET)


@pytest.fixture
def auth_broker(tmp_path: Path, credentials: dict[str, str]) -> Iterator[AuthBroker]:
    broker = AuthBroker(tmp_path / "auth-mosquitto", credentials)
    broker.start()
    yield broker
    broker.stop()


def test_probes_log_in_with_their_own_credentials(
    tmp_path: Path, auth_broker: AuthBroker, credentials: dict[str, str]
) -> None:
    path = tmp_path / "creds.csv"
    gwmon_sim.write_credentials(credentials, path)
    watcher = Collector(auth_broker, *WATCHER)
    try:
        fleet = gwmon_sim.Fleet(
            gwmon_sim.load_scenario("smoke"),
            REGISTRY,
            auth_broker.url,
            credentials=gwmon_sim.load_credentials(path),
        )
        summary = fleet.run(drain_timeout_s=20)
        assert summary.done and summary.refused_logins == 0
        assert watcher.wait_for(lambda m: sum(x.topic.endswith("/data") for x in m) >= 144)
        for probe in PROBES:
            assert len(watcher.data(probe)) == 48
            for payload in watcher.data(probe):
                check_data(probe, payload)
    finally:
        watcher.close()


def test_wrong_password_is_refused_and_nothing_is_published(
    auth_broker: AuthBroker, credentials: dict[str, str]
) -> None:
    watcher = Collector(auth_broker, *WATCHER)
    try:
        wrong = {**credentials, "TH-01": "not-the-password"}
        fleet = gwmon_sim.Fleet(
            gwmon_sim.load_scenario("smoke"),
            REGISTRY,
            auth_broker.url,
            credentials=wrong,
            speed=0,
        )
        fleet.start()
        try:
            fleet.advance(3 * 3600)
            assert fleet.wait_idle(1.0) is False  # TH-01 can never deliver
            summary = fleet.summary()
        finally:
            fleet.stop()
        assert summary.refused_logins >= 1
        assert watcher.wait_for(lambda m: len(watcher.data("LE-01")) == 4)
        assert watcher.data("TH-01") == []
        th01 = [r for r in fleet.truth() if r.probe_id == "TH-01" and r.quantity == "seq"]
        assert [r.delivery for r in th01] == ["buffered"] * 4
    finally:
        watcher.close()


def test_a_probe_cannot_publish_as_another_probe(
    auth_broker: AuthBroker, credentials: dict[str, str]
) -> None:
    """The ACL the docs recommend: LE-01's account can write gw/v1/LE-01/# only."""
    watcher = Collector(auth_broker, *WATCHER)
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id="LE-01", protocol=mqtt.MQTTv5
    )
    client.username_pw_set("LE-01", credentials["LE-01"])
    client.connect("127.0.0.1", auth_broker.port)
    client.loop_start()
    try:
        forged = b'[{"bn":"TH-01:","bt":1788220800,"n":"nitrate","u":"mg/L","v":99.0}]'
        own = b'[{"bn":"LE-01:","bt":1788220800,"n":"nitrate","u":"mg/L","v":20.0}]'
        denied = client.publish("gw/v1/TH-01/data", forged, qos=1)
        allowed = client.publish("gw/v1/LE-01/data", own, qos=1)
        denied.wait_for_publish(5)
        allowed.wait_for_publish(5)
        assert watcher.wait_for(lambda _: watcher.data("LE-01") == [own])
        assert watcher.data("TH-01") == []
    finally:
        client.disconnect()
        client.loop_stop()
        watcher.close()


def test_logins_without_password_and_anonymous_clients_are_refused(
    auth_broker: AuthBroker,
) -> None:
    # `allow_anonymous false` after gwmon.ingest.devservers' `allow_anonymous true` wins:
    anonymous = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    reasons: list[str] = []
    anonymous.on_connect = lambda c, u, f, reason, p: reasons.append(str(reason))
    anonymous.connect("127.0.0.1", auth_broker.port)
    anonymous.loop(2)
    anonymous.loop(0.2)
    assert reasons == ["Not authorized"] or reasons == ["Bad user name or password"]
    fleet = gwmon_sim.Fleet(
        gwmon_sim.load_scenario("smoke"), REGISTRY, auth_broker.url, speed=0, probes=["LE-01"]
    )
    fleet.start()
    try:
        fleet.advance(3600)
        assert fleet.wait_idle(1.0) is False
        summary = fleet.summary()
    finally:
        fleet.stop()
    assert summary.refused_logins >= 1 and summary.connects == 0
