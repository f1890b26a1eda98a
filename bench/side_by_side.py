"""gwmon side by side with a bare paho subscriber and Node-RED, in one run (issue 11).

Private Mosquitto and InfluxDB 1.x; eight parallel `mosquitto_pub -l` publishers send
pre-encoded SenML (one reading per message, and packs of 96); every system gets the same
messages on a fresh broker with the same config, at QoS 1, and a fresh database.
Rounds are interleaved (every system and load once per round, the order rotated), and
each figure is readings/s from the first publish to the last reading stored (counted in
InfluxDB the same way for Node-RED and gwmon; parsed, for the bare subscriber). Then
latency at a fixed message rate (publish -> stored; breach -> mail) and `gwmon run`'s
memory with a 10,000-probe registry. See docs/performance.md for the method.

    .venv/bin/python -m bench.side_by_side            # the full run, writes the doc
    .venv/bin/python -m bench.side_by_side --quick    # small and quick, prints only
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import _nodered
from bench._harness import GWMON_OFF, GWMON_ON, LABELS, NODE_RED, SYSTEMS, Bench
from bench._influx_alone import run_influx_alone
from bench._latency import run_latency
from bench._loads import REPO, make_load, read_registry
from bench._report import DOC, Report, machine, write_doc
from bench._rss import run_rss
from bench._runs import RunResult, run_publishers_alone, run_system

from gwmon.ingest.devservers import InfluxServer

RESULTS = REPO / ".cache" / "bench" / "side-by-side-last.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.side_by_side", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 round, no doc")
    parser.add_argument("--rounds", type=int, help="default 3 (quick: 1)")
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument(
        "--single-messages", type=int, help="per publisher, default 3000 (quick: 300)"
    )
    parser.add_argument("--pack-messages", type=int, help="per publisher, default 1000 (quick: 40)")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--latency-rate", type=float, default=1000.0, help="messages/s")
    parser.add_argument("--latency-seconds", type=float, help="default 60 (quick: 8)")
    parser.add_argument("--breach-every", type=float, help="seconds, default 3 (quick: 2)")
    parser.add_argument("--rss-probes", type=int, default=10_000)
    parser.add_argument("--rss-packs", type=int, help="per probe, default 2 (quick: 1)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument(
        "--doc",
        type=Path,
        help=f"write the results here (default {DOC.relative_to(REPO)}, not with --quick)",
    )
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep every run's logs and files here")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.single_messages = args.single_messages or (300 if quick else 3000)
    args.pack_messages = args.pack_messages or (40 if quick else 1000)
    args.latency_seconds = args.latency_seconds or (8.0 if quick else 60.0)
    args.breach_every = args.breach_every or (2.0 if quick else 3.0)
    args.rss_packs = args.rss_packs or (1 if quick else 2)
    args.rss_cycles = 2 if quick else 24
    if args.doc is None and not quick and not args.no_doc:
        args.doc = DOC
    if args.no_doc:
        args.doc = None
    if not 1 <= args.publishers < 24:
        parser.error("--publishers: 1 .. 23 (one demo probe each, one more for the warm-up)")
    return args


def say(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace, workdir: Path, command: str) -> Report:
    started_at = time.monotonic()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine_at_start = machine()  # the load average before the bench adds its own
    probes = read_registry()
    senders, warmup = probes[: args.publishers], probes[args.publishers]
    loads = [
        make_load("single", senders, args.single_messages, workdir / "loads"),
        make_load("pack96", senders, args.pack_messages, workdir / "loads"),
    ]
    influx = InfluxServer(workdir / "influx")
    influx.start()
    bench = Bench(workdir, influx)
    uses_node_red = NODE_RED in args.systems and not (args.skip_throughput and args.skip_latency)
    if uses_node_red:
        say(f"Node-RED: {_nodered.CACHE} (installing the pinned versions if missing)")
        bench.node_red = _nodered.ensure_installed()
    runs: list[RunResult] = []
    alone: dict[str, list[float]] = {load.name: [] for load in loads}
    influx_alone: dict[str, list[float]] = {load.name: [] for load in loads}
    latency: list[dict[str, object]] = []
    rss: dict[str, object] | None = None
    try:
        if not args.skip_throughput:
            for round_no in range(1, args.rounds + 1):
                shift = (round_no - 1) % len(args.systems)
                order = args.systems[shift:] + args.systems[:shift]
                for load in loads:
                    rate = run_publishers_alone(bench, load, round_no)
                    alone[load.name].append(rate)
                    say(
                        f"round {round_no} {load.name:7} {'publishers alone':18} {rate:12,.0f}"
                        " readings/s"
                    )
                    ceiling = run_influx_alone(bench, load, round_no)
                    influx_alone[load.name].append(ceiling)
                    say(
                        f"round {round_no} {load.name:7} {'InfluxDB alone':18} {ceiling:12,.0f}"
                        " readings/s"
                    )
                    for system in order:
                        result = run_system(
                            bench, system, load, round_no=round_no, probes=probes, warmup=warmup
                        )
                        runs.append(result)
                        note = (
                            "" if result.complete else f"  INCOMPLETE {result.done:,} {result.note}"
                        )
                        say(
                            f"round {round_no} {load.name:7} {system:18} {result.rate:12,.0f} "
                            f"readings/s ({result.seconds:.2f} s, publishing "
                            f"{result.publish_seconds:.2f} s){note}"
                        )
        if not args.skip_latency:
            for system in (GWMON_OFF, GWMON_ON, NODE_RED):
                if system not in args.systems:
                    continue
                outcome = run_latency(
                    bench,
                    system,
                    probes,
                    rate=args.latency_rate,
                    seconds=args.latency_seconds,
                    breach_every=args.breach_every,
                ).summary()
                latency.append(outcome)
                say(f"latency {system}: {json.dumps(outcome)}")
        if not args.skip_rss and GWMON_ON in args.systems:
            rss = run_rss(bench, args.rss_probes, args.rss_packs, args.rss_cycles).to_json()
            say(f"rss: {json.dumps(rss)}")
    finally:
        influx.stop()
    setup = (
        f"{args.latency_rate:,.0f} messages/s of one reading each for {args.latency_seconds:.0f} s "
        f"from one paced paho publisher over the {len(probes)} demo probes; every "
        f"{args.breach_every:g} s one probe (in turn) ramps above 50 mg/L for 1.5 s. "
        "Publish → stored: measurement time = publish time, InfluxDB polled every 20 ms "
        "(upper bound, up to one poll interval too high)."
    )
    return Report(
        command=command,
        started=started,
        minutes=(time.monotonic() - started_at) / 60,
        rounds=args.rounds,
        publishers=args.publishers,
        loads=loads,
        runs=runs,
        publishers_alone=alone,
        influx_alone=influx_alone,
        latency=latency,
        latency_setup=setup,
        rss=rss,
        machine=machine_at_start,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    command = shlex.join([".venv/bin/python", "-m", "bench.side_by_side", *argv])
    say(f"{command}: {', '.join(LABELS[s] for s in args.systems)}")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = run(args, args.keep.resolve(), command)
    else:
        with tempfile.TemporaryDirectory(prefix="gwmon-side-by-side-") as tmp:
            report = run(args, Path(tmp), command)
    text = report.markdown()
    say("\n" + text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "command": command,
                "runs": [r.to_json() for r in report.runs],
                "publishers_alone": report.publishers_alone,
                "influx_alone": report.influx_alone,
                "latency": report.latency,
                "rss": report.rss,
            },
            indent=1,
        )
    )
    if args.doc is not None:
        write_doc(text, args.doc)
        say(f"written: {args.doc} (raw figures: {RESULTS})")
    # Node-RED acknowledges on receipt and may lose readings: a finding, not a failure.
    # gwmon or the baseline losing any is one.
    return 1 if any(r.system != NODE_RED for r in report.incomplete()) else 0


if __name__ == "__main__":
    sys.exit(main())
