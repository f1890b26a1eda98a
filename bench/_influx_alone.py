"""The storage's own ceiling: InfluxDB alone taking the points of a message set.

Every system in the side-by-side bench that stores (Node-RED, gwmon) ends in the same
InfluxDB on the same two cores, so none can store faster than InfluxDB takes the points
with nothing else running. This measures that: the message set's readings turned, before
the clock starts, into the very lines gwmon writes (gwmon's own pack decoder and
`reading` line formats: the same tags and fields, nanosecond times), then posted to
`/write` in requests of 5,000 lines (gwmon's default `batch_size`) by `WRITERS` threads
with a connection each. Clock: first request sent to last request answered (InfluxDB
1.x answers 204 once the points are in its write-ahead log, where queries see them);
the count is checked afterwards.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import requests
from bench._harness import Bench, BenchError, drop_database
from bench._loads import DEMO_REGISTRY, Load

from gwmon.ingest._pack import decode_columns
from gwmon.ingest._registry import load_registry
from gwmon.ingest._storage import SeriesLines

BATCH_LINES = 5_000  # gwmon's default [ingest] batch_size
# Two requests in flight, one per core, as `gwmon run` writes a large batch.
WRITERS = 2


def gwmon_lines(load: Load, registry_path: Path = DEMO_REGISTRY) -> list[str]:
    """The `reading` lines gwmon's ingest makes of the load (its own decoder and line
    formats), interleaved message by message as the publishers' messages arrive."""
    registry = load_registry(registry_path)
    now = time.time()
    per_file: list[list[list[str]]] = []
    for path, topic in zip(load.files, load.topics, strict=True):
        probe = registry.get(topic.split("/")[2])
        if probe is None:
            msg = f"InfluxDB alone: {topic} is not a probe of {registry_path}"
            raise BenchError(msg)
        series = SeriesLines(probe)
        per_file.append(
            [
                series.reading_lines(decode_columns(probe.probe_id, payload, now_s=now))
                for payload in path.read_bytes().splitlines()
            ]
        )
    lines = [line for messages in zip(*per_file, strict=True) for m in messages for line in m]
    if len(lines) != load.readings:
        msg = f"InfluxDB alone: {len(lines):,} lines for {load.readings:,} readings"
        raise BenchError(msg)
    return lines


def request_bodies(load: Load) -> list[bytes]:
    """The load's lines in requests of BATCH_LINES."""
    lines = gwmon_lines(load)
    return [
        "\n".join(lines[start : start + BATCH_LINES]).encode()
        for start in range(0, len(lines), BATCH_LINES)
    ]


def run_influx_alone(bench: Bench, load: Load, round_no: int, writers: int = WRITERS) -> float:
    """Readings/s InfluxDB takes the load's points at, `writers` requests in flight."""
    bodies = request_bodies(load)
    database = bench.influx.new_database(f"alone_{load.name}_{round_no}")
    failures: list[str] = []
    pending = list(reversed(bodies))
    lock = threading.Lock()

    def write() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    if not pending or failures:
                        return
                    body = pending.pop()
                answer = session.post(
                    f"{database.url}/write",
                    params={"db": database.name, "precision": "ns"},
                    data=body,
                    timeout=120,
                )
                if answer.status_code != 204:
                    with lock:
                        failures.append(f"HTTP {answer.status_code}: {answer.text[:200]}")

    try:
        threads = [threading.Thread(target=write, daemon=True) for _ in range(writers)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        if failures:
            raise BenchError(f"InfluxDB alone: a write failed: {failures[0]}")
        # A count at the moment InfluxDB snapshots its cache can come back short for a
        # moment (seen under load): poll as the other systems' runs do.
        deadline = time.monotonic() + 30
        stored = database.count("reading")
        while stored < load.readings and time.monotonic() < deadline:
            time.sleep(0.2)
            stored = database.count("reading")
        if stored != load.readings:
            msg = f"InfluxDB alone: {stored:,} of {load.readings:,} points stored"
            raise BenchError(msg)
        return load.readings / seconds
    finally:
        drop_database(database)
