"""A batch stops taking messages once it is full (issue 11, target 4: memory): while a
write is in flight the next batch waits for it at about `batch_size` lines, and the
messages beyond stay with the broker (backpressure), not in memory; none is lost, and
each is acknowledged only after its batch was written and observed. A real Mosquitto;
the store is a fake that holds the first write."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from gwmon.ingest import Reading
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from ingest_helpers import data_topic, pack, publish, running_service, wait_until, write_config

BATCH_SIZE = 10
MESSAGES = 150  # one reading each: 15 full batches


class HeldStore:
    """Holds the first write until `release`; keeps every line it was given."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lines: list[str] = []
        self.writes = 0

    def ensure_database(self) -> None:
        pass

    def write_lines(self, lines: Sequence[str]) -> None:
        self.writes += 1
        if self.writes == 1:
            self.release.wait(30)
        self.lines += lines

    def close(self) -> None:
        pass


class BatchSizes:
    overlaps_next_write = False

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.times: list[int] = []

    def batch_stored(self, readings: Sequence[Reading]) -> None:
        self.sizes.append(len(readings))
        self.times += [reading.time_ns for reading in readings]

    def tick(self, now_s: float) -> None:
        del now_s

    def close(self) -> None:
        pass


def test_a_full_batch_waits_for_the_write_in_flight_without_reading_on(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    store = HeldStore()
    observer = BatchSizes()
    config = write_config(tmp_path, mosquitto, influx_db, influx_extra=f"batch_size = {BATCH_SIZE}")
    messages = [
        (data_topic("LE-01"), pack("LE-01", [{"n": "nitrate", "u": "mg/L", "v": 20.0, "t": i}]))
        for i in range(MESSAGES)
    ]
    with running_service(config, observers=[observer], store=store) as service:
        publish(mosquitto, messages)
        wait_until(lambda: store.writes == 1, what="the first write")
        # The write is held for 2.5 s: before, the waiting batch read on by a drain of
        # up to 100 messages after every 1 s wait for the write (_FULL_WAIT_S).
        time.sleep(2.5)
        held_back = MESSAGES - service.counters.received
        store.release.set()
        wait_until(lambda: sum(observer.sizes) == MESSAGES, timeout=30, what="all observed")
        wait_until(lambda: service.unacknowledged == 0, what="all acknowledged")
    # While the first write was held, at most the first batch and one full batch (plus
    # the message that filled it and the one read in each wait) had been received.
    assert held_back >= MESSAGES - 3 * BATCH_SIZE - 5
    assert max(observer.sizes) <= BATCH_SIZE + 6
    # Nothing lost, nothing twice, in order: every reading stored and observed once.
    assert sorted(observer.times) == observer.times
    assert len(set(observer.times)) == MESSAGES
    assert len([line for line in store.lines if line.startswith("reading,")]) == MESSAGES
