"""Fault 2: Mosquitto restarted under load, with persistence as docs/deployment.md says.

The broker runs examples/mosquitto.conf as shipped (persistence, autosave_interval,
max_queued_messages, max_inflight_messages; see docs/reliability.md), probes publish
like firmware (QoS 1, kept until PUBACK, resent after a reconnect), the ingest keeps a
persistent session. Each test prints readings sent, stored, lost and duplicated.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.fault_helpers import FirmwarePublisher, figure_of, stored_readings
from gwmon.ingest.devservers import InfluxDatabase
from ingest_helpers import running_service, wait_for_count, wait_until, write_config
from shipped_broker import ShippedMosquitto

PROBES = ["LE-01", "LE-02", "TH-01"]
PASSWORDS = {probe: f"pw-{probe}" for probe in PROBES} | {"gwmon-ingest": "pw-ingest"}
PER_PROBE = 300


def ingest_config(tmp_path: Path, broker: ShippedMosquitto, database: InfluxDatabase) -> Path:
    return write_config(
        tmp_path,
        broker,
        database,
        mqtt_extra='username = "gwmon-ingest"\npassword = "pw-ingest"',
    )


def start_probes(
    broker: ShippedMosquitto, *, interval_s: float, first: int = 0
) -> list[FirmwarePublisher]:
    return [
        FirmwarePublisher(
            broker.port,
            probe,
            index,
            password=PASSWORDS[probe],
            count=PER_PROBE,
            interval_s=interval_s,
            first=first,
        ).start()
        for index, probe in enumerate(PROBES)
    ]


def expected_of(publishers: list[FirmwarePublisher]) -> dict[tuple[str, int], float]:
    expected: dict[tuple[str, int], float] = {}
    for publisher in publishers:
        expected |= publisher.expected()
    return expected


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[list[ShippedMosquitto]]:
    started: list[ShippedMosquitto] = []
    yield started
    for broker in started:
        broker.stop()


def make_broker(
    tmp_path: Path, started: list[ShippedMosquitto], **overrides: str
) -> ShippedMosquitto:
    broker = ShippedMosquitto(tmp_path / "mosquitto", PASSWORDS, overrides=overrides)
    broker.start()
    started.append(broker)
    return broker


@pytest.mark.parametrize(
    "persistence",
    [True, False],
    ids=["shipped-config-persistence-on", "persistence-off-loses-the-backlog"],
)
def test_broker_restarted_with_sigterm_under_load_keeps_the_backlog_of_the_ingest(
    tmp_path: Path,
    influx_db: InfluxDatabase,
    broker_factory: list[ShippedMosquitto],
    persistence: bool,
) -> None:
    overrides = {} if persistence else {"persistence true": "persistence false"}
    broker = make_broker(tmp_path, broker_factory, **overrides)
    config = ingest_config(tmp_path, broker, influx_db)
    with running_service(config):
        pass  # the ingest's persistent session: the broker queues for it from now on
    publishers = start_probes(broker, interval_s=0.004)
    wait_until(lambda: sum(p.acked for p in publishers) >= len(PROBES) * PER_PROBE // 3)
    broker.stop()  # SIGTERM: Mosquitto writes its persistence file on the way out
    accepted_before_restart = sum(p.acked for p in publishers)
    time.sleep(0.5)  # the probes keep publishing into paho's queue meanwhile
    broker.start()
    for publisher in publishers:
        publisher.finish()
    expected = expected_of(publishers)
    with running_service(config):
        if persistence:
            wait_for_count(influx_db, "reading", len(expected), timeout=60)
        time.sleep(2.0)  # nothing more arrives
    figure = figure_of(
        "broker SIGTERM restart under load" + ("" if persistence else ", persistence off"),
        "mosquitto SIGTERM + start, ingest session queued",
        expected,
        influx_db,
        backlog_at_restart=accepted_before_restart,
    )
    assert figure.duplicated == 0
    if persistence:
        assert figure.lost == 0
        assert stored_readings(influx_db) == expected
    else:
        # Without persistence the restart forgets the ingest's session: its queue, and
        # everything published until the ingest connects again (no one to queue it for).
        assert accepted_before_restart > 0
        assert figure.lost == figure.sent


def test_broker_killed_under_load_while_the_ingest_keeps_up_loses_nothing(
    tmp_path: Path, influx_db: InfluxDatabase, broker_factory: list[ShippedMosquitto]
) -> None:
    broker = make_broker(tmp_path, broker_factory)
    config = ingest_config(tmp_path, broker, influx_db)
    with running_service(config):
        pass
    # In service the broker has saved the ingest's session long ago (every
    # autosave_interval); a clean restart does that here. A broker killed before its
    # first save forgets the session, and with it what is published until the ingest
    # has subscribed again (docs/reliability.md).
    broker.restart()
    with running_service(config) as service:
        publishers = start_probes(broker, interval_s=0.004)
        wait_until(lambda: sum(p.acked for p in publishers) >= len(PROBES) * PER_PROBE // 3)
        broker.kill()  # SIGKILL: nothing saved, nothing said
        killed_at = sum(p.acked for p in publishers)
        time.sleep(0.5)
        broker.start()
        for publisher in publishers:
            publisher.finish()
        expected = expected_of(publishers)
        wait_for_count(influx_db, "reading", len(expected), timeout=60)
        wait_until(lambda: service.connections >= 2, what="ingest reconnected")
    figure = figure_of(
        "broker SIGKILL under load, ingest keeping up",
        "mosquitto SIGKILL + start",
        expected,
        influx_db,
        acked_before_kill=killed_at,
    )
    # The broker forwards a message to the ingest before it acknowledges it to the
    # probe, and the ingest stores what it received even when the ack cannot go out;
    # what the broker had not acknowledged, the probes resend.
    assert (figure.lost, figure.duplicated) == (0, 0)
    assert stored_readings(influx_db) == expected


def test_broker_killed_with_a_backlog_loses_what_it_accepted_after_its_last_save(
    tmp_path: Path, influx_db: InfluxDatabase, broker_factory: list[ShippedMosquitto]
) -> None:
    # A 3 s autosave instead of the shipped 60 s, so that the test sees a save happen.
    broker = make_broker(
        tmp_path, broker_factory, **{"autosave_interval 60": "autosave_interval 3"}
    )
    config = ingest_config(tmp_path, broker, influx_db)
    with running_service(config):
        pass
    saved = start_probes(broker, interval_s=0.0)
    for publisher in saved:
        publisher.finish()
    accepted_at = time.time()
    wait_until(
        lambda: (
            broker.persistence_file.exists()
            and broker.persistence_file.stat().st_mtime > accepted_at
        ),
        timeout=10,
        what="an autosave after the first messages",
    )
    unsaved = start_probes(broker, interval_s=0.0, first=PER_PROBE)
    for publisher in unsaved:
        publisher.finish()
    broker.kill()  # before the next autosave
    broker.start()
    with running_service(config):
        wait_for_count(influx_db, "reading", len(PROBES) * PER_PROBE, timeout=60)
        time.sleep(1.0)
    expected = expected_of(saved) | expected_of(unsaved)
    figure = figure_of(
        "broker SIGKILL with a backlog queued",
        "mosquitto SIGKILL within autosave_interval of its last save",
        expected,
        influx_db,
    )
    # What the broker held at its last save survives; what it accepted after that
    # (and acknowledged to the probes, which then forgot it) is gone: the bound
    # docs/reliability.md states.
    assert stored_readings(influx_db) == expected_of(saved)
    assert figure.lost == len(PROBES) * PER_PROBE
