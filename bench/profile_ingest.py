"""Where `gwmon run` spends its time: py-spy samples the real service on the bench's load.

Private Mosquitto and InfluxDB, `gwmon run` (analytics off or as deployed) started as in
the side-by-side bench, then py-spy attached to it while the eight publishers send the
pack (or single-reading) set; sampling stops once every reading is stored. Prints the
functions with the most samples on top of the stack (self) and anywhere on it
(inclusive), in per cent of all samples of the main thread, and keeps py-spy's raw
(collapsed stacks) output for a flame graph.

    .venv/bin/python -m bench.profile_ingest [--load pack96|single] [--analytics]
        [--messages 400] [--out .cache/bench/profile-pack96-off.txt] [--cpu-only]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench._harness import (
    Bench,
    Publishers,
    gwmon_config,
    publish_one,
    start_gwmon,
    stop_process,
    wait_ready,
    wait_stored,
)
from bench._loads import DEMO_REGISTRY, REPO, make_load, read_registry, warmup_payload

from gwmon.ingest.devservers import InfluxServer, MosquittoServer

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """`decode_pack (gwmon/ingest/_senml.py:236)` -> `decode_pack (_senml.py)`."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['function']} ({Path(match['file']).name})"


def summarise(raw: Path, top: int) -> str:
    """Self and inclusive sample shares of the main thread's functions."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    others: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        thread = stack.split(";")[0]
        if "MainThread" not in thread:
            others[thread.split("(")[-1].rstrip(")").split()[-1]] += int(count_text)
            continue
        count = int(count_text)
        frames = [frame_name(frame) for frame in stack.split(";")[1:]]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            anywhere[name] += count
    if not total:
        return "no samples of the main thread"
    rows = [f"{total:,} samples of the main thread; of other threads: {others}", ""]
    rows += ["self (top of the stack):"]
    rows += [f"  {100 * n / total:5.1f} %  {name}" for name, n in own.most_common(top)]
    rows += ["", "inclusive (anywhere on the stack):"]
    rows += [f"  {100 * n / total:5.1f} %  {name}" for name, n in anywhere.most_common(top)]
    return "\n".join(rows)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _pid(server: InfluxServer | MosquittoServer) -> int:
    if server.process is None:
        msg = "server not started"
        raise RuntimeError(msg)
    return server.process.pid


def cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU seconds of each thread of a process, by thread name."""
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return found


def cpu_used(before: dict[str, float], after: dict[str, float]) -> str:
    return ", ".join(
        f"{name} {after[name] - before.get(name, 0.0):.2f} s" for name in sorted(after)
    )


def profile(args: argparse.Namespace, workdir: Path) -> Path | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    probes = read_registry()
    senders, warmup = probes[: args.publishers], probes[args.publishers]
    load = make_load(args.load, senders, args.messages, workdir / "loads")
    influx = InfluxServer(workdir / "influx")
    influx.start()
    mosquitto = MosquittoServer(workdir / "mosquitto")
    mosquitto.start()
    try:
        bench = Bench(workdir, influx)
        folder = bench.folder("profile")
        database = influx.new_database("profile")
        config = gwmon_config(folder, mosquitto, database, DEMO_REGISTRY, analytics=args.analytics)
        process, log = start_gwmon(config, folder)
        topic = f"gw/v1/{warmup.probe_id}/data"
        try:
            wait_ready(
                lambda: database.count("reading") >= 1,
                lambda: publish_one(mosquitto.port, topic, warmup_payload(warmup)),
                process,
                log,
            )
            sampler = None
            if not args.cpu_only:
                sampler = subprocess.Popen(
                    [
                        *(py_spy, "record", "--pid", str(process.pid), "--rate", str(args.rate)),
                        *("--format", "raw", "--output", str(args.out), "--threads"),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1.0)  # py-spy attaches
            pids = {"gwmon": process.pid, "influxd": _pid(influx), "mosquitto": _pid(mosquitto)}
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            publishers = Publishers(mosquitto.port, load, folder)
            started = publishers.start()
            stored = wait_stored(database, 1 + load.readings, started, process, log, tail=load.tail)
            publishers.wait()
            seconds = stored.at - started
            print(
                f"{load.readings:,} readings in {seconds:.2f} s: {load.readings / seconds:,.0f}/s"
            )
            for name, pid in pids.items():
                after = cpu_seconds(pid)
                total = sum(after.values()) - sum(before[name].values())
                print(
                    f"CPU of {name}: {cpu_used(before[name], after)}"
                    f" ({1e6 * total / load.readings:.2f} µs/reading)"
                )
            if sampler is not None:
                sampler.send_signal(signal.SIGINT)
                sampler.wait(60)
        finally:
            stop_process(process)
    finally:
        mosquitto.stop()
        influx.stop()
    return None if args.cpu_only else Path(args.out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", choices=["pack96", "single"], default="pack96")
    parser.add_argument("--analytics", action="store_true", help="as deployed (default off)")
    parser.add_argument("--messages", type=int, default=400, help="per publisher")
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument("--rate", type=int, default=250, help="samples/s")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--cpu-only", action="store_true", help="no py-spy: CPU per process and the rate only"
    )
    args = parser.parse_args()
    if args.out is None:
        mode = "on" if args.analytics else "off"
        args.out = REPO / ".cache" / "bench" / f"profile-{args.load}-{mode}.txt"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gwmon-profile-") as tmp:
        raw = profile(args, Path(tmp))
    if raw is not None:
        print(summarise(raw, args.top))
        print(f"\nraw stacks: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
