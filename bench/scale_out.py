"""Scale-out: one `gwmon run` against two in one shared subscription group, analytics on
([analytics.scale_out], docs/deployment.md), on packs of 96 readings (issue 11).

Private Mosquitto and InfluxDB 1.x; eight parallel `mosquitto_pub -l` publishers (one
probe each, four probes of each process's partitions) send the side-by-side bench's
pre-encoded packs at QoS 1 to a fresh broker and database per run. Two times per run,
from the first publish: every reading stored (counted in InfluxDB), and every reading
evaluated by analytics (the readings the analytics state files retain, `history` rows
and the readings of `history_run` rows, which hold each distinct reading once: the
re-evaluation horizon is set long enough that nothing is pruned).
Rounds alternate 1 and 2 processes; medians of the rounds and the ratio 2 : 1.
`--profile` samples every member with py-spy (all threads) and prints a summary per
thread; the raw stacks stay in the work folder's `profile/`.

    .venv/bin/python -m bench.scale_out               # 3 rounds, 250 packs per publisher
    .venv/bin/python -m bench.scale_out --quick       # 1 round, 30 packs per publisher
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench._harness import (
    BenchError,
    Publishers,
    log_tail,
    publish_one,
    registry_csv,
    start_gwmon,
    stop_process,
    wait_ready,
    wait_stored,
)
from bench._loads import ProbeInfo, make_load, read_registry, warmup_payload
from bench.profile_ingest import frame_name

from gwmon.analytics import partition_of
from gwmon.ingest.devservers import InfluxDatabase, InfluxServer, MosquittoServer

PARTITIONS = 4
OWNED = ([0, 1], [2, 3])


@dataclass(frozen=True)
class ScaleRun:
    processes: int
    readings: int
    stored_s: float
    evaluated_s: float

    @property
    def stored_rate(self) -> float:
        return self.readings / self.stored_s

    @property
    def evaluated_rate(self) -> float:
        return self.readings / self.evaluated_s


def pick_probes(count: int) -> list[ProbeInfo]:
    """`count` demo probes, half of them in each process's partitions."""
    probes = read_registry()
    halves = [
        [p for p in probes if partition_of(p.probe_id, PARTITIONS) in owned] for owned in OWNED
    ]
    per_half = count // 2
    if any(len(half) < per_half for half in halves):
        raise BenchError(f"the demo registry has too few probes for {count} publishers")
    return halves[0][:per_half] + halves[1][:per_half]


def config_text(
    mosquitto: MosquittoServer,
    database: InfluxDatabase,
    registry: Path,
    *,
    member: int,
    of: int,
    horizon_days: float,
) -> str:
    text = (
        f'[mqtt]\nurl = "{mosquitto.url}"\nclient_id = "bench-gwmon-{member}"\n'
        + ('shared_group = "bench"\n' if of > 1 else "")
        + f'\n[influxdb]\nurl = "{database.url}"\ndatabase = "{database.name}"\n\n'
        f'[registry]\npath = "{registry}"\n\n'
        # Any free port for /metrics: the members (and other gwmon runs) share the machine.
        "[ops]\nport = 0\n\n"
        '[analytics]\nenabled = true\nstate_dir = "state"\n'
        f"reorder_horizon_s = {horizon_days * 86400.0}\n"
    )
    if of > 1:
        text += (
            f"[analytics.scale_out]\nenabled = true\npartitions = {PARTITIONS}\n"
            f"owned = {OWNED[member]}\n"
        )
    return text


def _says_running(log: Path) -> bool:
    return "ingest running" in log.read_text()


def evaluated(folders: list[Path]) -> int:
    total = 0
    for folder in folders:
        path = folder / "state" / "analytics.sqlite3"
        if not path.exists():
            continue
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            # Retained readings: `history` rows plus those of the history runs, which
            # hold a run of in-order readings as packed 8-byte times (analytics._runs).
            count = db.execute(
                "SELECT (SELECT count(*) FROM history) + "
                "(SELECT coalesce(sum(length(times) / 8), 0) FROM history_run)"
            )
            total += int(count.fetchone()[0])
        except sqlite3.OperationalError:
            pass
        finally:
            db.close()
    return total


def start_profilers(
    running: list[tuple[subprocess.Popen[bytes], Path]], out: Path
) -> list[subprocess.Popen[bytes]]:
    """py-spy on every member, all threads, raw (collapsed) stacks to `out`/member-N.txt."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    samplers = []
    for number, (process, _) in enumerate(running):
        command = [py_spy, "record", "--pid", str(process.pid), "--rate", "200"]
        command += ["--format", "raw", "--threads", "--nonblocking"]
        command += ["--output", str(out / f"member-{number}.txt")]
        samplers.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    time.sleep(1.0)  # py-spy attaches
    return samplers


def summarise_threads(raw: Path, top: int = 15) -> str:
    """Per thread: its share of all samples, and its functions by inclusive share."""
    by_thread: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        parts = stack.split(";")
        thread = parts[0].split("(")[-1].rstrip(")").split()[-1].strip('"')
        count = int(count_text)
        totals[thread] = totals.get(thread, 0) + count
        seen = by_thread.setdefault(thread, {})
        for name in {frame_name(frame) for frame in parts[1:]}:
            seen[name] = seen.get(name, 0) + count
    everything = sum(totals.values()) or 1
    rows = []
    for thread, total in sorted(totals.items(), key=lambda item: -item[1]):
        rows.append(f"{thread}: {total:,} samples ({100 * total / everything:.0f} %)")
        best = sorted(by_thread[thread].items(), key=lambda item: -item[1])[:top]
        rows += [f"  {100 * n / total:5.1f} %  {name}" for name, n in best]
    return "\n".join(rows)


def run_once(
    workdir: Path,
    influx: InfluxServer,
    *,
    processes: int,
    packs: int,
    publishers: int,
    round_no: int,
    horizon_days: float,
    profile: bool = False,
) -> ScaleRun:
    folder = workdir / f"r{round_no}-{processes}"
    folder.mkdir(parents=True)
    probes = pick_probes(publishers)
    load = make_load("pack96", probes, packs, folder / "load")
    registry = folder / "registry.csv"
    registry.write_text(registry_csv(read_registry()), encoding="utf-8")
    mosquitto = MosquittoServer(folder / "mosquitto")
    mosquitto.start()
    database = influx.new_database("scale")
    members = [folder / f"gwmon-{m}" for m in range(processes)]
    running = []
    try:
        for number, member in enumerate(members):
            member.mkdir()
            config = member / "gwmon.toml"
            config.write_text(
                config_text(
                    mosquitto,
                    database,
                    registry,
                    member=number,
                    of=processes,
                    horizon_days=horizon_days,
                ),
                encoding="utf-8",
            )
            running.append(start_gwmon(config, member))
        for process, log in running:  # every member subscribed before the clock starts
            wait_ready(partial(_says_running, log), lambda: None, process, log)
        warm = probes[0]
        process, log = running[0]
        wait_ready(
            lambda: database.count("reading") >= 1,
            lambda: publish_one(
                mosquitto.port, f"gw/v1/{warm.probe_id}/data", warmup_payload(warm)
            ),
            process,
            log,
        )
        samplers = start_profilers(running, folder / "profile") if profile else []
        sender = Publishers(mosquitto.port, load, folder)
        started = sender.start()
        stored = wait_stored(database, 1 + load.readings, started, process, log, tail=load.tail)
        if not stored.complete:
            raise BenchError(f"stored {stored.count - 1} of {load.readings}:\n{log_tail(log)}")
        deadline = time.monotonic() + 300
        # The warm-up reading is far older than the load: pruned from the state, not counted.
        # With a horizon shorter than the load the state is pruned: not measured then.
        while horizon_days > packs + 2 and evaluated(members) < load.readings:
            if time.monotonic() > deadline:
                raise BenchError(f"analytics did not finish:\n{log_tail(log)}")
            time.sleep(0.05)
        evaluated_at = time.monotonic() if horizon_days > packs + 2 else math.nan
        sender.wait()
        for sampler in samplers:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(60)
        for number in range(len(samplers)):
            raw = folder / "profile" / f"member-{number}.txt"
            if raw.exists():
                print(f"-- profile of member {number} ({raw}):\n{summarise_threads(raw)}")
        return ScaleRun(processes, load.readings, stored.at - started, evaluated_at - started)
    finally:
        for process, _ in running:
            stop_process(process)
        mosquitto.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--packs", type=int, help="per publisher (default 250, quick 30)")
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument(
        "--horizon-days",
        type=float,
        default=365.0,
        help="[analytics] reorder_horizon_s in days (default 365: nothing pruned, so "
        "'evaluated' is counted exactly; shorter than the load: not measured)",
    )
    parser.add_argument("--keep", type=Path, help="work in this folder and keep its logs")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy every member (work folder's profile/)"
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    packs = args.packs or (30 if args.quick else 250)
    runs: list[ScaleRun] = []
    with tempfile.TemporaryDirectory(prefix="gwmon-scale-") as tmp:
        workdir = args.keep or Path(tmp)
        influx = InfluxServer(workdir / "influxdb")
        influx.start()
        try:
            for round_no in range(rounds):
                order = args.processes if round_no % 2 == 0 else args.processes[::-1]
                for processes in order:
                    run = run_once(
                        workdir,
                        influx,
                        processes=processes,
                        packs=packs,
                        publishers=args.publishers,
                        round_no=round_no,
                        horizon_days=args.horizon_days,
                        profile=args.profile,
                    )
                    runs.append(run)
                    print(
                        f"round {round_no + 1}, {processes} process(es): "
                        f"{run.readings} readings, stored {run.stored_rate:,.0f}/s, "
                        f"evaluated {_rate(run.evaluated_rate, '/s')}",
                        flush=True,
                    )
        finally:
            influx.stop()
    print(
        f"\ncores: {os.cpu_count()}; python {sys.version.split()[0]}; rounds: {rounds}; "
        f"{packs} packs per publisher, {args.publishers} publishers; "
        f"reorder horizon {args.horizon_days:g} days"
    )
    print("| processes | stored, readings/s (median; min-max) | evaluated, readings/s |")
    print("|---|---|---|")
    medians = {}
    for processes in (1, 2):
        mine = [r for r in runs if r.processes == processes]
        if not mine:  # --processes asked for the other one only
            continue
        stored = [r.stored_rate for r in mine]
        done = [r.evaluated_rate for r in mine]
        medians[processes] = (statistics.median(stored), statistics.median(done))
        print(
            f"| {processes} | {medians[processes][0]:,.0f} ({min(stored):,.0f}-{max(stored):,.0f})"
            f" | {_rate(medians[processes][1])}"
            f"{'' if math.isnan(done[0]) else f' ({min(done):,.0f}-{max(done):,.0f})'} |"
        )
    if len(medians) == 2:
        evaluated_ratio = medians[2][1] / medians[1][1]
        print(
            f"ratio 2 : 1 — stored {medians[2][0] / medians[1][0]:.2f}, evaluated "
            f"{'not measured' if math.isnan(evaluated_ratio) else f'{evaluated_ratio:.2f}'}"
        )
    return 0


def _rate(readings_per_s: float, unit: str = "") -> str:
    # NaN: the packs outlast the re-evaluation horizon, so the state files cannot count
    # every reading (see `run_once`; the horizon is at most 366 days).
    if math.isnan(readings_per_s):
        return "not measured (--packs must stay below --horizon-days - 2)"
    return f"{readings_per_s:,.0f}{unit}"


if __name__ == "__main__":
    sys.exit(main())
