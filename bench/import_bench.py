"""`gwmon import` of a year of 15-minute values (issue 11, target 5).

A generated file of `probes` probes × 2 quantities (nitrate in mg/L, level in m NHN) ×
one year of 15-minute times (35,040 per series: 7,008,000 rows for 100 probes) in the
documented layout (docs/import.md), imported by the real `gwmon import` into a private
InfluxDB. Reported: seconds from start to the summary, rows/s, and the points stored
(an exact count, checked). Baseline in the same run: InfluxDB alone accepting the same
points as the same lines of line protocol (built beforehand by the importer itself;
requests of 20,000 lines, one after the other over one connection), the limit any
importer that writes these points through /write one request at a time has here.

    .venv/bin/python bench/import_bench.py [--probes 100] [--days 365] [--analytics]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import requests  # noqa: E402
from bench._harness import registry_csv  # noqa: E402
from bench._loads import DAY_S, ProbeInfo, history_start  # noqa: E402

from gwmon.ingest import load_config, load_registry  # noqa: E402
from gwmon.ingest._import import Importer  # noqa: E402
from gwmon.ingest.devservers import InfluxDatabase, InfluxServer  # noqa: E402

STEP_S = 900  # 15 minutes
MUNICIPALITIES = ("Leipzig", "Wurzen", "Bennewitz", "Thallwitz", "Lossatal")
BATCH_LINES = 20_000  # lines per request of the baseline: `gwmon import`'s default


def fleet(count: int) -> list[ProbeInfo]:
    return [
        ProbeInfo(f"IM{i:04d}", f"Messstelle {i}", MUNICIPALITIES[i % len(MUNICIPALITIES)], 125.0)
        for i in range(count)
    ]


def write_file(path: Path, probes: list[ProbeInfo], start_s: int, steps: int) -> int:
    """Rows probe by probe, time by time (a logger export per probe, concatenated)."""
    rows = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("probe,time,quantity,value,unit\n")
        for number, probe in enumerate(probes):
            chunk = []
            for step in range(steps):
                when = start_s + step * STEP_S
                nitrate = 20 + (step + number) % 40 * 0.1
                level = probe.level_m_nhn + step % 20 * 0.01
                chunk.append(
                    f"{probe.probe_id},{when},nitrate,{nitrate:.1f},mg/L\n"
                    f"{probe.probe_id},{when},level,{level:.2f},m\n"
                )
            out.write("".join(chunk))
            rows += 2 * steps
    return rows


def contract_lines(folder: Path, data: Path) -> list[str]:
    """The lines `gwmon import` writes for `data` (the contract's lines, built by the
    importer itself into a list): what the baseline sends."""
    registry = load_registry(folder / "registry.csv")
    config = folder / "lines.toml"
    config.write_text(
        '[influxdb]\nurl = "http://127.0.0.1:9"\ndatabase = "x"\n\n'
        f'[registry]\npath = "{folder / "registry.csv"}"\n',
        encoding="utf-8",
    )

    class Keep:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def write_lines(self, lines: Sequence[str]) -> None:
            self.lines += lines

    keep = Keep()
    Importer(load_config(config), registry, keep).run(data)
    return keep.lines


def influx_alone(database: InfluxDatabase, lines: list[str], batch_lines: int) -> float:
    """Seconds InfluxDB takes to accept `lines` in requests of `batch_lines` lines over one
    connection, one after the other (no gwmon)."""
    batches = [
        ("\n".join(lines[start : start + batch_lines]) + "\n").encode()
        for start in range(0, len(lines), batch_lines)
    ]
    session = requests.Session()
    started = time.monotonic()
    for body in batches:
        session.post(
            f"{database.url}/write", params={"db": database.name}, data=body, timeout=120
        ).raise_for_status()
    return time.monotonic() - started


def run_import(
    folder: Path, database: InfluxDatabase, data: Path, *, analytics: bool, batch_lines: int | None
) -> float:
    registry = folder / "registry.csv"
    config = folder / "gwmon.toml"
    config.write_text(
        f'[influxdb]\nurl = "{database.url}"\ndatabase = "{database.name}"\n\n'
        f'[registry]\npath = "{registry}"\n\n[analytics]\nstate_dir = "state"\n',
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "gwmon.cli", "import", "--config", str(config)]
    command += [str(data), "--no-progress", *([] if analytics else ["--no-analytics"])]
    command += ["--batch-size", str(batch_lines)] if batch_lines else []
    started = time.monotonic()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"gwmon import failed ({result.returncode}):\n{result.stderr[-3000:]}")
    print(result.stdout.strip())
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--analytics", action="store_true", help="import with analytics on")
    parser.add_argument(
        "--batch-size", type=int, help="gwmon import --batch-size (default: its own default)"
    )
    args = parser.parse_args()
    probes = fleet(args.probes)
    steps = args.days * DAY_S // STEP_S
    start_s = history_start(args.days + 2)
    with tempfile.TemporaryDirectory(prefix="gwmon-import-bench-") as tmp:
        folder = Path(tmp)
        (folder / "registry.csv").write_text(registry_csv(probes), encoding="utf-8")
        data = folder / "import.csv"
        rows = write_file(data, probes, start_s, steps)
        size_mib = data.stat().st_size / 2**20
        print(
            f"file: {rows:,} rows ({args.probes} probes × 2 quantities × {steps:,} times), "
            f"{size_mib:.0f} MiB"
        )
        lines = contract_lines(folder, data)
        assert len(lines) == rows, "the importer made a line per row"
        influx = InfluxServer(folder / "influx")
        influx.start()
        try:
            baseline_db = influx.new_database("baseline")
            baseline = influx_alone(baseline_db, lines, args.batch_size or BATCH_LINES)
            assert baseline_db.count("reading") == rows, "InfluxDB lost points"
            del lines
            database = influx.new_database("imported")
            seconds = run_import(
                folder, database, data, analytics=args.analytics, batch_lines=args.batch_size
            )
            stored = database.count("reading")
        finally:
            influx.stop()
    mode = "analytics on" if args.analytics else "--no-analytics"
    print(
        f"InfluxDB alone (the same lines, {args.batch_size or BATCH_LINES:,}-line requests): "
        f"{baseline:.1f} s, "
        f"{rows / baseline:,.0f} points/s"
    )
    print(
        f"gwmon import ({mode}): {seconds:.1f} s, {rows / seconds:,.0f} rows/s, "
        f"{seconds / baseline:.2f} × InfluxDB alone; {stored:,} of {rows:,} points stored"
    )
    if args.probes == 100 and args.days == 365:
        verdict = "met" if seconds <= 60 else "not met"
        print(f"target (issue 11): ≤ 60 s for 100 probes × 2 quantities × 1 year: {verdict}")
    return 0 if stored == rows else 1


if __name__ == "__main__":
    sys.exit(main())
