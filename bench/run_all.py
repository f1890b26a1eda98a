"""Run every benchmark in bench/ one after the other (`make bench`).

First the side-by-side bench (bench/side_by_side.py: gwmon vs a bare paho subscriber and
Node-RED, latency, memory; it rewrites the generated section of docs/performance.md),
then the stage benchmarks. Each measures its own baseline in the same run and prints
ratios; this runner only sequences them so they do not compete for the two cores.

    .venv/bin/python bench/run_all.py [--quick]

`--quick` runs everything small (minutes, not a quarter of an hour) and writes no doc:
for checking that the benchmarks work, not for figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (command after the interpreter, extra arguments with --quick)
BENCHMARKS: list[tuple[list[str], list[str]]] = [
    (["-m", "bench.side_by_side"], ["--quick"]),
    ([str(HERE / "ingest_bench.py")], ["--messages", "2000"]),
    (
        [str(HERE / "analytics_bench.py")],
        ["--readings", "20000", "--messages", "2000", "--probes", "50"],
    ),
    ([str(HERE / "sim_fleet.py")], ["--probes", "24", "100", "--cycles", "1200"]),
    ([str(HERE / "mail_outbox.py")], ["--events", "200"]),
    ([str(HERE / "store_refusal_bench.py")], ["--lines", "1000"]),
    ([str(HERE / "import_bench.py")], ["--probes", "4", "--days", "30"]),
    ([str(HERE / "trend_bench.py")], ["--probes", "30"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no doc written")
    args = parser.parse_args()
    failed = []
    for command, quick in BENCHMARKS:
        full = [sys.executable, *command, *(quick if args.quick else [])]
        print(f"\n=== {' '.join(full[1:])}", flush=True)
        if subprocess.run(full, check=False, cwd=HERE.parent).returncode != 0:
            failed.append(command[-1])
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
