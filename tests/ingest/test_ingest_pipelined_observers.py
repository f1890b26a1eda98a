"""The next batch's write beside the observers (issue 11, target 1): when every observer
allows it (`overlaps_next_write`), InfluxDB takes batch N+1 while the observers see
batch N, and at-least-once stays exact: batch N is acknowledged to the broker only after
its observers returned, N+1 only after its own, and the observers see the batches one at
a time, in order. A real Mosquitto; the store is a fake that holds the first write."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from gwmon.ingest import Reading
from gwmon.ingest._source import InboundMessage
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from ingest_helpers import data_topic, pack, publish, running_service, wait_until, write_config

Log = list[tuple[str, int]]


class HeldStore:
    """Holds the first write until `release`; notes when each write starts."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.release = threading.Event()
        self.second_write = threading.Event()
        self.writes = 0

    def ensure_database(self) -> None:
        pass

    def write_lines(self, lines: Sequence[str]) -> None:
        self.writes += 1
        self.log.append(("write", self.writes))
        if self.writes == 1:
            self.release.wait(30)
        elif self.writes == 2:
            self.second_write.set()

    def close(self) -> None:
        pass


class Watcher:
    """Waits, on the first batch, for the second write to start (10 s at most)."""

    def __init__(self, log: Log, store: HeldStore, *, overlaps: bool) -> None:
        self.log = log
        self.store = store
        self.overlaps_next_write = overlaps
        self.batches: list[int] = []

    def batch_stored(self, readings: Sequence[Reading]) -> None:
        self.batches.append(len(readings))
        number = len(self.batches)
        self.log.append(("observe start", number))
        if number == 1 and self.overlaps_next_write:
            self.store.second_write.wait(10)
        self.log.append(("observe end", number))

    def tick(self, now_s: float) -> None:
        del now_s

    def close(self) -> None:
        pass


def nitrate(first: int, count: int) -> list[tuple[str, bytes]]:
    return [
        (data_topic("LE-01"), pack("LE-01", [{"n": "nitrate", "u": "mg/L", "v": 20.0, "t": i}]))
        for i in range(first, first + count)
    ]


def two_batches(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx_db: InfluxDatabase,
    monkeypatch: pytest.MonkeyPatch,
    *,
    overlaps: bool,
) -> Log:
    """Five messages written (held), five more received meanwhile, then released."""
    log: Log = []
    store = HeldStore(log)
    watcher = Watcher(log, store, overlaps=overlaps)
    config = write_config(tmp_path, mosquitto, influx_db)
    with running_service(config, observers=[watcher], store=store) as service:
        source = service._source  # the acknowledgements are the point
        ack_all = source.ack_all

        def noted(messages: Sequence[InboundMessage]) -> int:
            log.append(("ack", len(messages)))
            return ack_all(messages)

        monkeypatch.setattr(source, "ack_all", noted)
        publish(mosquitto, nitrate(0, 5))
        wait_until(lambda: ("write", 1) in log, what="first write")
        publish(mosquitto, nitrate(5, 5))
        wait_until(lambda: service.counters.received == 10, what="second five received")
        time.sleep(0.3)  # past flush_interval_s (0.2 s): the second batch is due
        store.release.set()
        wait_until(lambda: log.count(("ack", 5)) == 2, timeout=30, what="both acknowledged")
    assert watcher.batches == [5, 5]
    return log


def test_the_next_batch_is_written_while_the_observers_see_this_one_and_acks_wait(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx_db: InfluxDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = two_batches(tmp_path, mosquitto, influx_db, monkeypatch, overlaps=True)
    first_ack = log.index(("ack", 5))
    second_ack = len(log) - 1 - log[::-1].index(("ack", 5))
    # Batch 2 went to the store while the observers still had batch 1 ...
    assert log.index(("write", 2)) < log.index(("observe end", 1))
    # ... yet each batch was acknowledged only after its observers returned, in order.
    assert log.index(("observe end", 1)) < first_ack < log.index(("observe start", 2))
    assert log.index(("observe end", 2)) < second_ack


def test_without_every_observer_s_consent_the_next_write_waits_for_them(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx_db: InfluxDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = two_batches(tmp_path, mosquitto, influx_db, monkeypatch, overlaps=False)
    assert log.index(("observe end", 1)) < log.index(("ack", 5)) < log.index(("write", 2))
