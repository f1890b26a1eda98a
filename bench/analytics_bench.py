"""Analytics throughput, each figure next to a baseline measured in the same run.

1. detectors alone: readings/s through `ProbeEvaluator.feed` (QC + alarm machines) vs
   the ingest's own per-reading work on the same data (`decode_pack` of a one-record
   SenML pack) and a bare `json.loads`;
2. the observer: `batch_stored` in batches of 5,000 (evaluation, SQLite commit, qc/alert
   points to a real InfluxDB), in order and with 2 % of the readings arriving late; and
   the side-by-side bench's pack load (8 demo probes, packs of 24 hourly cycles of four
   quantities, 100 days each: past the 14-day horizon, so pruning runs) in batches of 52
   packs, with wall and CPU time;
3. with ingest: an in-process `IngestService` draining a backlog queued at a real
   Mosquitto (published beforehand by `mosquitto_pub`), with a counting observer vs with
   the analytics observer;
4. the trend test over `--probes` probes x 5 years of daily values, vs pymannkendall
   (if installed) on a subset.

    .venv/bin/python bench/analytics_bench.py [--readings 200000] [--messages 20000]
        [--probes 1000] [--skip-ingest]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from gwmon.analytics import (
    AnalyticsObserver,
    AnalyticsSettings,
    ProbeEvaluator,
    build_plan,
    default_detectors,
    mann_kendall,
)
from gwmon.ingest import IngestService, Reading, Registry, decode_pack, load_config, load_registry
from gwmon.ingest._batch import Batch, StoredReadings
from gwmon.ingest._pack import PackColumns
from gwmon.ingest.devservers import InfluxServer, MosquittoServer, require_binary
from gwmon.storage import InfluxClient

REPO = Path(__file__).resolve().parent.parent
REGISTRY = REPO / "examples" / "registry-wertvoll.csv"
T0 = 1_764_000_000
NS = 1_000_000_000


def nitrate_series(count: int, seed: int) -> list[float]:
    """Hourly nitrate with noise, slow waves crossing 37.5 and 50, and rare spikes."""
    rng = random.Random(seed)
    values = []
    for i in range(count):
        value = 42 + 12 * math.sin(i / 200) + rng.gauss(0, 0.8)
        if rng.random() < 0.002:
            value += 60
        values.append(round(value, 2))
    return values


def readings_for(registry: Registry, total: int) -> list[Reading]:
    probes = [p.probe_id for p in registry][:10]
    per_probe = total // (2 * len(probes))
    out = []
    for index, probe in enumerate(probes):
        nitrate = nitrate_series(per_probe, index)
        for i in range(per_probe):
            t = (T0 + i * 3600) * NS
            out.append(Reading(probe, "nitrate", t, nitrate[i], "nitrate", t + NS))
            level = 110 + 0.5 * math.sin(i / 300) + 0.01 * (i % 7)
            out.append(Reading(probe, "level", t, level, "level", t + NS))
    out.sort(key=lambda r: (r.time_ns, r.probe))
    return out


def bench_detectors(registry: Registry, readings: Sequence[Reading]) -> dict[str, float]:
    settings = AnalyticsSettings()
    detectors = default_detectors()
    evaluators = {}
    for probe in registry:
        plan, problems = build_plan(settings, detectors, probe)
        assert plan is not None, problems
        evaluators[probe.probe_id] = ProbeEvaluator(plan)
    packs = [
        json.dumps(
            [
                {
                    "bn": f"{r.probe}:",
                    "bt": r.time_ns // NS,
                    "n": r.quantity,
                    "u": "mg/L" if r.quantity == "nitrate" else "m",
                    "v": r.value,
                }
            ]
        ).encode()
        for r in readings
    ]
    started = time.perf_counter()
    for payload in packs:
        json.loads(payload)
    json_s = time.perf_counter() - started
    now = (T0 + 10 * 365 * 86400) * 1.0
    started = time.perf_counter()
    for reading, payload in zip(readings, packs, strict=True):
        decode_pack(reading.probe, payload, now_s=now, future_margin_s=300, max_bytes=65536)
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    for reading in readings:
        evaluators[reading.probe].feed(
            reading.time_ns, reading.quantity, reading.value, reading.arrival_ns
        )
    feed_s = time.perf_counter() - started
    n = len(readings)
    return {"json": n / json_s, "decode": n / decode_s, "detectors": n / feed_s}


def write_config(
    workdir: Path, influx_url: str, database: str, mqtt_url: str, client_id: str
) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "registry.csv").write_bytes(REGISTRY.read_bytes())
    path = workdir / "gwmon.toml"
    path.write_text(
        f'[mqtt]\nurl = "{mqtt_url}"\nclient_id = "{client_id}"\n'
        f'[influxdb]\nurl = "{influx_url}"\ndatabase = "{database}"\n'
        '[ingest]\nstats_interval_s = 3600\n[analytics]\nstate_dir = "state"\n',
        encoding="utf-8",
    )
    return path


def bench_observer(
    influx: InfluxServer,
    workdir: Path,
    registry: Registry,
    readings: Sequence[Reading],
    late: float,
) -> tuple[float, float]:
    """Readings/s of `batch_stored`: by wall time and by CPU time (this process's)."""
    database = influx.new_database("obs")
    config = load_config(
        write_config(workdir, influx.url, database.name, "mqtt://127.0.0.1:1", "bench")
    )
    items = list(readings)
    if late:
        rng = random.Random(1)
        # move a share of readings to 1-48 positions per probe later in the stream
        for _ in range(int(len(items) * late)):
            i = rng.randrange(len(items) - 1000)
            items.insert(i + rng.randrange(20, 1000), items.pop(i))
    observer = AnalyticsObserver(config, registry, InfluxClient(config.influxdb))
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(items), 5000):
        observer.batch_stored(items[start : start + 5000])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    observer.close()
    print(f"    ({'late' if late else 'in order'}: stats {observer.stats})")
    return len(items) / elapsed, len(items) / cpu


def pack_readings(registry: Registry, days: int) -> list[Reading]:
    """The side-by-side pack load as the ingest hands it over: 8 probes, a pack of 24
    hourly cycles (nitrate, level, temperature, conductivity) per probe and day, the
    probes' packs interleaved."""
    probes = [p for p in registry][:8]
    start = (T0 // 86_400 - days - 2) * 86_400
    out = []
    for day in range(days):
        for number, probe in enumerate(probes):
            arrival = (start + (day + 30) * 86_400) * NS
            level = round((probe.level_min_m_nhn or 100.0) + 1.0, 2)
            for hour in range(24):
                index = day * 24 + hour
                t = (start + day * 86_400 + hour * 3600) * NS
                for quantity, value in (
                    ("nitrate", round(20 + (index + number) % 40 * 0.1, 1)),
                    ("level", round(level + (index % 20) * 0.01, 2)),
                    ("temperature", round(10 + (index % 10) * 0.1, 1)),
                    ("conductivity", float(600 + index % 30)),
                ):
                    out.append(Reading(probe.probe_id, quantity, t, value, quantity, arrival))
    return out


def as_ingest_batch(readings: Sequence[Reading]) -> Sequence[Reading]:
    """The readings as `gwmon run` hands them over: its `StoredReadings` of a batch of
    the messages' columns (one message = 96 readings of one probe and arrival)."""
    batch = Batch()
    for start in range(0, len(readings), 96):
        pack = readings[start : start + 96]
        columns = PackColumns(pack[0].probe, pack[0].arrival_ns)
        for r in pack:
            columns.append(r.quantity, r.time_ns, r.value, r.record_name, r.censored)
        batch.add_readings(columns, [""] * len(pack))
    return StoredReadings(batch, {})


def bench_observer_packs(
    influx: InfluxServer, workdir: Path, registry: Registry, days: int, *, columnar: bool = False
) -> tuple[float, float]:
    """Readings/s of `batch_stored` on the pack load: by wall time and by CPU time;
    `columnar`: the batches as the ingest's `StoredReadings` (else lists of `Reading`)."""
    database = influx.new_database("packs")
    config = load_config(
        write_config(workdir, influx.url, database.name, "mqtt://127.0.0.1:1", "bench")
    )
    items = pack_readings(registry, days)
    batches: list[Sequence[Reading]] = [
        items[start : start + 52 * 96] for start in range(0, len(items), 52 * 96)
    ]
    if columnar:
        batches = [as_ingest_batch(batch) for batch in batches]
    observer = AnalyticsObserver(config, registry, InfluxClient(config.influxdb))
    started, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        observer.batch_stored(batch)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    observer.close()
    print(f"    (packs: stats {observer.stats})")
    return len(items) / elapsed, len(items) / cpu


class _Counter:
    def __init__(self) -> None:
        self.readings = 0

    def batch_stored(self, readings: Sequence[Reading]) -> None:
        self.readings += len(readings)

    def tick(self, now_s: float) -> None:
        pass

    def close(self) -> None:
        pass


def bench_ingest(
    influx: InfluxServer, workdir: Path, registry: Registry, messages: int, analytics: bool
) -> float:
    mosquitto = MosquittoServer(workdir / "mosquitto")
    mosquitto.start()
    try:
        database = influx.new_database("ing")
        config = load_config(
            write_config(workdir, influx.url, database.name, mosquitto.url, "bench-ingest")
        )

        def service_with(observers: list[object]) -> tuple[IngestService, threading.Thread]:
            service = IngestService(config, registry, observers=observers)  # type: ignore[arg-type]
            thread = threading.Thread(target=service.run, daemon=True)
            thread.start()
            while not service.connected:
                time.sleep(0.01)
            return service, thread

        primer, thread = service_with([])  # creates the persistent session
        primer.stop()
        thread.join(30)
        probes = [p.probe_id for p in registry][:4]
        tool = require_binary("mosquitto_pub", "mosquitto-clients")
        per_probe = messages // len(probes)
        for index, probe in enumerate(probes):
            values = nitrate_series(per_probe, index)
            lines = "".join(
                json.dumps(
                    [
                        {"bn": f"{probe}:", "bt": T0 + i * 3600, "n": "seq", "v": i},
                        {"n": "nitrate", "u": "mg/L", "v": values[i]},
                    ],
                    separators=(",", ":"),
                )
                + "\n"
                for i in range(per_probe)
            )
            subprocess.run(
                [
                    tool,
                    "-p",
                    str(mosquitto.port),
                    "-h",
                    "127.0.0.1",
                    "-q",
                    "1",
                    "-t",
                    f"gw/v1/{probe}/data",
                    "-l",
                ],
                input=lines.encode(),
                check=True,
            )
        counter = _Counter()
        observer = (
            AnalyticsObserver(config, registry, InfluxClient(config.influxdb))
            if analytics
            else None
        )
        started = time.perf_counter()
        service, thread = service_with([observer] if observer else [counter])
        total = per_probe * len(probes)
        while (observer.stats.readings if observer else counter.readings) < total:
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        service.stop()
        thread.join(30)
        return total / elapsed
    finally:
        mosquitto.stop()


def bench_trend(probes: int) -> dict[str, float]:
    rng = np.random.default_rng(5)
    days = 5 * 365 + 1
    times = [float(T0 + d * 86400) for d in range(days)]
    series = []
    for _ in range(probes):
        noise = np.zeros(days)
        for i in range(1, days):
            noise[i] = 0.8 * noise[i - 1] + rng.normal(0, 0.5)
        series.append((30 + rng.normal(0, 1) * np.arange(days) / 365.25 + noise).tolist())
    result: dict[str, float] = {"values_per_probe": days}
    modes: tuple[Literal["hamed_rao", "none"], ...] = ("hamed_rao", "none")
    for mode in modes:
        started = time.perf_counter()
        verdicts = [mann_kendall(times, values, autocorrelation=mode).verdict for values in series]
        result[f"ours_{mode}_s"] = time.perf_counter() - started
        result[f"rising_{mode}"] = verdicts.count("rising")
    try:
        import pymannkendall  # noqa: PLC0415 - optional baseline
    except ImportError:
        return result
    subset = series[: max(1, probes // 20)]
    started = time.perf_counter()
    for values in subset:
        pymannkendall.hamed_rao_modification_test(np.array(values))
    result["pymannkendall_per_probe_s"] = (time.perf_counter() - started) / len(subset)
    return result


def bench_packs_only(registry: Registry) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        influx = InfluxServer(workdir / "influx")
        influx.start()
        try:
            lists = bench_observer_packs(influx, workdir / "o1", registry, 100)
            batches = bench_observer_packs(influx, workdir / "o2", registry, 100, columnar=True)
        finally:
            influx.stop()
    print(f"pack load, lists of Reading (wall / CPU):  {lists[0]:>10,.0f} / {lists[1]:>10,.0f}")
    print(f"pack load, ingest batches (wall / CPU):    {batches[0]:>10,.0f} / {batches[1]:>10,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--probes", type=int, default=1_000)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument(
        "--packs-only",
        action="store_true",
        help="only the observer on the pack load (lists of Reading, then the ingest's batches)",
    )
    args = parser.parse_args()
    registry = load_registry(REGISTRY)
    if args.packs_only:
        bench_packs_only(registry)
        return
    readings = readings_for(registry, args.readings)
    print(f"cpus: {os.cpu_count()}, readings: {len(readings)} (10 probes, nitrate + level, hourly)")

    rates = bench_detectors(registry, readings)
    print("1. detectors alone (single thread)")
    print(f"   baseline json.loads of a 1-record pack:   {rates['json']:>10,.0f} readings/s")
    print(f"   baseline ingest decode_pack (SenML):      {rates['decode']:>10,.0f} readings/s")
    print(f"   ProbeEvaluator.feed (QC + alarms):        {rates['detectors']:>10,.0f} readings/s")
    print(
        f"   ratio detectors / decode_pack:            {rates['detectors'] / rates['decode']:.2f}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        influx = InfluxServer(workdir / "influx")
        influx.start()
        try:
            print("2. observer.batch_stored (batches of 5,000, SQLite + InfluxDB)")
            in_order = bench_observer(influx, workdir / "o1", registry, readings, 0.0)
            late = bench_observer(influx, workdir / "o2", registry, readings, 0.02)
            packs_wall, packs_cpu = bench_observer_packs(influx, workdir / "o3", registry, 100)
            print(f"   in measurement order (wall):              {in_order[0]:>10,.0f} readings/s")
            print(f"   in measurement order (CPU):               {in_order[1]:>10,.0f} readings/s")
            print(f"   2 % of readings late, replays (wall):     {late[0]:>10,.0f} readings/s")
            print(f"   2 % of readings late, replays (CPU):      {late[1]:>10,.0f} readings/s")
            print(f"   pack load, 8 probes x 100 days (wall):    {packs_wall:>10,.0f} readings/s")
            print(f"   pack load, 8 probes x 100 days (CPU):     {packs_cpu:>10,.0f} readings/s")
            print(
                "   ratio observer (CPU) / detectors alone:   "
                f"{in_order[1] / rates['detectors']:.2f}"
            )
            if not args.skip_ingest:
                print(f"3. with ingest ({args.messages} QoS 1 messages, 1 nitrate reading each)")
                plain = bench_ingest(influx, workdir / "i1", registry, args.messages, False)
                with_analytics = bench_ingest(influx, workdir / "i2", registry, args.messages, True)
                print(f"   IngestService + counting observer:        {plain:>10,.0f} readings/s")
                label = "IngestService + analytics observer:"
                print(f"   {label:<42}{with_analytics:>10,.0f} readings/s")
                print(f"   ratio with analytics / without:           {with_analytics / plain:.2f}")
        finally:
            influx.stop()

    print(f"4. trend test, {args.probes} probes x 5 years of daily values")
    trend = bench_trend(args.probes)
    print(f"   values per probe: {trend['values_per_probe']:.0f}")
    for mode in ("hamed_rao", "none"):
        total = trend[f"ours_{mode}_s"]
        print(
            f"   mann_kendall autocorrelation={mode:<9}    {total:8.1f} s total, "
            f"{1000 * total / args.probes:6.1f} ms/probe, rising: {trend[f'rising_{mode}']:.0f}"
        )
    if "pymannkendall_per_probe_s" in trend:
        per = trend["pymannkendall_per_probe_s"]
        ours = trend["ours_hamed_rao_s"] / args.probes
        print(f"   baseline pymannkendall hamed_rao:           {1000 * per:6.1f} ms/probe")
        print(f"   ratio ours / pymannkendall:                 {ours / per:.2f}")


if __name__ == "__main__":
    main()
