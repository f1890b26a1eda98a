"""What finding the points InfluxDB refused costs, against a real InfluxDB 1.x.

InfluxDB answers a partial write with a count of refused points, not with the points,
so the store writer writes parts of the batch again until it knows which lines were
refused (`gwmon.storage.StoreWriter`). Each case writes one batch of `--lines` reading lines and
reports the write requests and the time, as a ratio to the same batch written without
any refusal (baseline, measured in the same run, on a fresh database each).

    .venv/bin/python bench/store_refusal_bench.py [--lines 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import requests

from gwmon.ingest import load_config
from gwmon.ingest.devservers import InfluxDatabase, InfluxServer
from gwmon.storage import InfluxClient, StoreWriter

REPO = Path(__file__).resolve().parent.parent
NS = 1_000_000_000
WEEK = 7 * 86_400
MONDAY = 1_763_942_400  # 2025-11-24T00:00:00Z, where InfluxDB's 7-day shard groups start


class CountingClient(InfluxClient):
    requests = 0

    def write_lines(self, lines: Sequence[str]) -> None:
        self.requests += 1
        super().write_lines(lines)


def reading_line(probe: str, time_s: int, value: float = 12.5) -> str:
    return f"reading,probe={probe},quantity=nitrate value={value},lag_s=1.0 {time_s * NS}"


def poison(database: InfluxDatabase, week: int) -> None:
    # `reading.value` as an integer in that week's shard: floats there conflict.
    response = requests.post(
        f"{database.url}/write",
        params={"db": database.name},
        data=f"reading,probe=foreign value=1i {(MONDAY + week * WEEK + 1) * NS}",
        timeout=10,
    )
    response.raise_for_status()


def run_case(
    server: InfluxServer, workdir: Path, lines: list[str], poisoned_weeks: Sequence[int]
) -> tuple[int, int, float]:
    database = server.new_database("bench")
    for week in poisoned_weeks:
        poison(database, week)
    config_path = workdir / f"{database.name}.toml"
    config_path.write_text(
        f'[influxdb]\nurl = "{server.url}"\ndatabase = "{database.name}"\n'
        f'[registry]\npath = "{REPO / "examples" / "registry-wertvoll.csv"}"\n'
    )
    config = load_config(config_path)
    store = CountingClient(config.influxdb)
    writer = StoreWriter(store, writer="bench")
    started = time.perf_counter()
    refused = writer.write(lines, record_refusals=False).refused
    elapsed = time.perf_counter() - started
    store.close()
    return store.requests, len(refused), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5000)
    args = parser.parse_args()
    n: int = args.lines
    with tempfile.TemporaryDirectory(prefix="gwmon-bench-refusal-") as tmp:
        server = InfluxServer(Path(tmp) / "influxdb")
        server.start()
        try:
            cases: list[tuple[str, Callable[[], list[str]], Sequence[int]]] = [
                ("baseline: nothing refused", lambda: week_lines(n, weeks=[0]), []),
                ("whole batch refused", lambda: week_lines(n, weeks=[0]), [0]),
                (
                    "one week of two refused, arrival order interleaved",
                    lambda: week_lines(n, weeks=[0, 1]),
                    [1],
                ),
                (
                    "every other week of 20 refused, interleaved",
                    lambda: week_lines(n, weeks=list(range(20))),
                    list(range(0, 20, 2)),
                ),
                ("one unparseable line", lambda: unparseable(n), []),
            ]
            base_time = 0.0
            print(f"{'case':55} {'requests':>8} {'refused':>8} {'ms':>8} {'x baseline':>10}")
            for name, make, poisoned in cases:
                requests_made, refused, elapsed = run_case(server, Path(tmp), make(), poisoned)
                base_time = base_time or elapsed
                print(
                    f"{name:55} {requests_made:8d} {refused:8d} {elapsed * 1000:8.1f} "
                    f"{elapsed / base_time:10.1f}"
                )
        finally:
            server.stop()


def week_lines(n: int, *, weeks: list[int]) -> list[str]:
    # Arrival order cycles through the weeks (probes backfilling different periods).
    return [
        reading_line(f"P{i % 24}", MONDAY + weeks[i % len(weeks)] * WEEK + 60 + i) for i in range(n)
    ]


def unparseable(n: int) -> list[str]:
    lines = week_lines(n, weeks=[0])
    lines[n // 3] = "reading,probe=P1 value= 17"
    return lines


if __name__ == "__main__":
    main()
