"""The storage's own ceiling: InfluxDB alone taking the points of a message set.

Every system in the side-by-side bench that stores (Node-RED, gwmon) ends in the same
InfluxDB on the same two cores, so none can store faster than InfluxDB takes the points
with nothing else running. This measures that: the message set's readings turned, before
the clock starts, into the very lines gwmon writes (`gwmon.storage`'s `reading` line
format: the same tags, the fields `value` and `lag_s`, nanosecond times), then posted to
`/write` in requests of 5,000 lines (gwmon's default `batch_size`) by `WRITERS` threads
with a connection each. Clock: first request sent to last request answered (InfluxDB
1.x answers 204 once the points are in its write-ahead log, where queries see them);
the count is checked afterwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import orjson
import requests
from bench._harness import Bench, BenchError, drop_database
from bench._loads import Load, ProbeInfo

from gwmon.storage import READING

BATCH_LINES = 5_000  # gwmon's default [ingest] batch_size
# SenML names and units of the bench's loads; all are already gwmon's canonical units.
QUANTITIES = {
    ("nitrate", "mg/L"): "nitrate",
    ("level", "m"): "level",
    ("temperature", "Cel"): "temperature",
    ("conductivity", "uS/cm"): "conductivity",
}
# Two requests in flight, one per core; 1 and 4 gave the same rate within the noise.
WRITERS = 2
LAG_S = 3_600.0  # any float: the bench's points are in the past


def _readings(payload: bytes) -> Iterator[tuple[str, int, float]]:
    """(quantity, time in ns, value) of one of the bench's SenML packs."""
    base_time = 0.0
    for record in orjson.loads(payload):
        base_time = float(record.get("bt", base_time))
        quantity = QUANTITIES[(record["n"], record["u"])]
        seconds = base_time + float(record.get("t", 0))
        yield quantity, round(seconds * 1_000_000_000), float(record["v"])


def request_bodies(load: Load, probes: list[ProbeInfo]) -> list[bytes]:
    """The load's readings as gwmon's `reading` lines, in requests of BATCH_LINES."""
    by_id = {probe.probe_id: probe for probe in probes}
    lines: list[str] = []
    for path, topic in zip(load.files, load.topics, strict=True):
        probe = by_id[topic.split("/")[2]]
        formats = {
            quantity: READING.line_format(
                {
                    "probe": probe.probe_id,
                    "site": probe.site,
                    "municipality": probe.municipality,
                    "quantity": quantity,
                },
                ("value", "lag_s"),
            )
            for quantity in QUANTITIES.values()
        }
        for payload in path.read_bytes().splitlines():
            for quantity, time_ns, value in _readings(payload):
                lines.append(formats[quantity].line((value, LAG_S), time_ns))
    if len(lines) != load.readings:
        msg = f"InfluxDB alone: {len(lines):,} lines for {load.readings:,} readings"
        raise BenchError(msg)
    return [
        "\n".join(lines[start : start + BATCH_LINES]).encode()
        for start in range(0, len(lines), BATCH_LINES)
    ]


def run_influx_alone(
    bench: Bench, load: Load, probes: list[ProbeInfo], round_no: int, writers: int = WRITERS
) -> float:
    """Readings/s InfluxDB takes the load's points at, `writers` requests in flight."""
    bodies = request_bodies(load, probes)
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
