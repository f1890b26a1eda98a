"""Observers that finish a batch in the background (`DefersAcks`, the analytics of a
scaled-out group, issue 11 "Scale-out"): the ingest goes on with the next batches while
they work, and acknowledges a batch's messages only once the observer's check for it is
true, oldest batch first: at-least-once without a wait per batch."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from gwmon.ingest import (
    BarometricSettings,
    CompensatingObserver,
    Compensator,
    Reading,
    load_config,
    load_configured_registry,
)
from gwmon.ingest._source import InboundMessage
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from gwmon.storage import InfluxClient
from ingest_helpers import data_topic, pack, publish, running_service, wait_until, write_config


class Background:
    """An observer whose batches finish when the test says so (one event per batch)."""

    overlaps_next_write = True

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.finished: list[threading.Event] = []
        self._last: threading.Event | None = None

    def batch_stored(self, readings: Sequence[Reading]) -> None:
        self.batches.append(len(readings))
        self._last = threading.Event()
        self.finished.append(self._last)

    def batch_done(self) -> Callable[[], bool] | None:
        last, self._last = self._last, None
        return None if last is None else last.is_set

    def tick(self, now_s: float) -> None:
        del now_s

    def close(self) -> None:
        pass


def nitrate(first: int, count: int) -> list[tuple[str, bytes]]:
    return [
        (data_topic("LE-01"), pack("LE-01", [{"n": "nitrate", "u": "mg/L", "v": 20.0, "t": i}]))
        for i in range(first, first + count)
    ]


def test_batches_are_acknowledged_when_their_observer_finished_them_oldest_first(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx_db: InfluxDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    observer = Background()
    acks: list[int] = []
    config = write_config(tmp_path, mosquitto, influx_db)
    with running_service(config, observers=[observer]) as service:
        source = service._source
        ack_all = source.ack_all

        def noted(messages: Sequence[InboundMessage]) -> int:
            acks.append(len(messages))
            return ack_all(messages)

        monkeypatch.setattr(source, "ack_all", noted)
        publish(mosquitto, nitrate(0, 3))
        wait_until(lambda: observer.batches == [3], what="first batch seen")
        # The ingest does not wait for the first batch to finish: the next one is
        # stored and seen meanwhile.
        publish(mosquitto, nitrate(3, 2))
        wait_until(lambda: observer.batches == [3, 2], what="second batch seen")
        assert acks == []
        assert service.unacknowledged == 5
        observer.finished[1].set()  # the second is done, the first not yet: no ack
        wait_until(lambda: service.counters.batches == 2, what="batches counted")
        threading.Event().wait(0.3)
        assert acks == []
        observer.finished[0].set()
        wait_until(lambda: acks == [3, 2], what="both acknowledged, in order")
        assert service.unacknowledged == 0
        # A batch the observer never finishes is not acknowledged, even at shutdown.
        publish(mosquitto, nitrate(5, 1))
        wait_until(lambda: observer.batches == [3, 2, 1], what="third batch seen")
    assert acks == [3, 2]


def test_the_barometric_compensation_in_front_passes_the_check_on(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = load_config(write_config(tmp_path, mosquitto, influx_db))
    inner = Background()
    compensated = CompensatingObserver(
        Compensator(
            load_configured_registry(config), InfluxClient(config.influxdb), BarometricSettings()
        ),
        inner,
    )
    assert compensated.batch_done() is None  # nothing seen yet
    inner.batch_stored([])
    check = compensated.batch_done()
    assert check is not None and not check()
    inner.finished[0].set()
    assert check()
