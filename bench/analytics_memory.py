"""Where the analytics observer's memory goes (issue 11, target 4): tracemalloc around
`AnalyticsObserver.batch_stored` for a fleet, in one process.

`probes` generated probes (registry as in the side-by-side memory run) each get `packs`
packs of 24 hourly cycles of nitrate and level (the side-by-side run sends 2: the longest
default detector window, 48 readings), fed in batches of 5,000 readings to the observer
built as `gwmon run` builds it (a private InfluxDB for its points, the SQLite state in a
temporary folder). Prints the Python heap building the observer kept, the heap the
batches then added (in all and per probe) and the allocation sites holding most of it.

    .venv/bin/python bench/analytics_memory.py [--probes 1000] [--packs 2] [--top 15]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench._harness import registry_csv  # noqa: E402
from bench._loads import HOUR_S, history_start  # noqa: E402
from bench._rss import fleet  # noqa: E402

from gwmon.analytics import AnalyticsObserver  # noqa: E402
from gwmon.ingest import Reading, load_config, load_registry  # noqa: E402
from gwmon.ingest.devservers import InfluxServer  # noqa: E402
from gwmon.storage import InfluxClient  # noqa: E402

NS = 1_000_000_000
CYCLES = 24
BATCH = 5_000


def readings(probe_ids: list[str], pack: int, start_s: int) -> list[Reading]:
    out = []
    for number, probe_id in enumerate(probe_ids):
        for hour in range(CYCLES):
            index = pack * CYCLES + hour
            t = (start_s + index * HOUR_S) * NS
            nitrate = round(20 + (index + number) % 40 * 0.1, 1)
            level = round(125 + (index % 20) * 0.01, 2)
            out.append(Reading(probe_id, "nitrate", t, nitrate, "nitrate", t + NS))
            out.append(Reading(probe_id, "level", t, level, "level", t + NS))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--packs", type=int, default=2)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    probes = fleet(args.probes)
    with tempfile.TemporaryDirectory(prefix="gwmon-analytics-memory-") as tmp:
        work = Path(tmp)
        (work / "registry.csv").write_text(registry_csv(probes), encoding="utf-8")
        influx = InfluxServer(work / "influx")
        influx.start()
        try:
            database = influx.new_database("memory")
            (work / "gwmon.toml").write_text(
                f'[influxdb]\nurl = "{influx.url}"\ndatabase = "{database.name}"\n'
                f'[registry]\npath = "{work / "registry.csv"}"\n'
                f'[analytics]\nstate_dir = "{work / "state"}"\n',
                encoding="utf-8",
            )
            config = load_config(work / "gwmon.toml")
            registry = load_registry(config.registry.path)
            start_s = history_start(args.packs + 2)
            ids = [probe.probe_id for probe in probes]
            tracemalloc.start(4)
            empty = tracemalloc.take_snapshot()
            observer = AnalyticsObserver(config, registry, InfluxClient(config.influxdb))
            gc.collect()
            before = tracemalloc.take_snapshot()
            for pack in range(args.packs):
                batch = readings(ids, pack, start_s)
                for first in range(0, len(batch), BATCH):
                    observer.batch_stored(batch[first : first + BATCH])
                del batch
            gc.collect()
            after = tracemalloc.take_snapshot()
            observer.close()
        finally:
            influx.stop()
    built = sum(stat.size_diff for stat in before.compare_to(empty, "filename"))
    print(
        f"{args.probes:,} probes: building the observer keeps {built / 2**20:.1f} MiB, "
        f"{built / args.probes / 1024:.1f} KiB per probe"
    )
    stats = after.compare_to(before, "lineno")
    total = sum(stat.size_diff for stat in stats)
    kept = args.probes * args.packs * CYCLES * 2
    print(
        f"{args.probes:,} probes, {kept:,} readings fed: the observer keeps "
        f"{total / 2**20:.1f} MiB of Python objects, {total / args.probes / 1024:.1f} KiB "
        f"per probe, {total / kept:.0f} B per reading fed"
    )
    for stat in stats[: args.top]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"  {stat.size_diff / 2**20:7.2f} MiB {stat.count_diff:9,} blocks  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
