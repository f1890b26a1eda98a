"""Run every benchmark in bench/ one after the other (`make bench`).

Each script measures its own baseline in the same run and prints ratios; this runner only
sequences them so they do not compete for the two cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = [
    "ingest_bench.py",
    "analytics_bench.py",
    "sim_fleet.py",
    "mail_outbox.py",
    "store_refusal_bench.py",
]


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name}", flush=True)
        if subprocess.run([sys.executable, str(here / name)], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
