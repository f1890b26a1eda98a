"""`gwmon sim`: run a scenario of simulated probes against the configured broker.

The lead's gwmon CLI adds these arguments (`add_arguments`) and calls `run_cli` with the
broker settings from gwmon's `[mqtt]` section and `[sim]` (`SimSettings`).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from gwmon_sim._credentials import load_credentials
from gwmon_sim._errors import SimError
from gwmon_sim._fleet import Fleet
from gwmon_sim._scenario import builtin_scenarios, load_scenario
from gwmon_sim._settings import SimSettings


def _speed(text: str) -> float:
    if text == "max":
        return math.inf
    try:
        value = float(text)
    except ValueError:
        msg = f"{text!r} is not a number or 'max'"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 0 or math.isnan(value):
        msg = "must be >= 0 (1 = real time) or 'max'"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to `parser` (defaults come from `[sim]`)."""
    parser.add_argument(
        "--scenario",
        metavar="NAME|PATH",
        help=f"shipped scenario ({', '.join(builtin_scenarios())}) or a TOML file",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        metavar="X|max",
        help="simulated seconds per second (1 = real time) or 'max' (default: [sim] speed)",
    )
    parser.add_argument("--seed", type=int, metavar="N", help="seed (default: the scenario's)")
    parser.add_argument(
        "--start", metavar="auto|now|ISO", help="simulated start time (default: [sim] start)"
    )
    parser.add_argument("--truth", type=Path, metavar="OUT.csv", help="write the ground truth")
    parser.add_argument(
        "--registry", type=Path, metavar="PATH", help="probe registry CSV ([registry] path)"
    )


def _start_s(text: str) -> int | None:
    if text == "auto":
        return None
    if text == "now":
        return int(time.time())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        msg = f"start {text!r} is not auto, now or an ISO time (2026-10-01T00:00:00Z)"
        raise SimError(msg) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def run_cli(
    args: argparse.Namespace,
    *,
    broker_url: str,
    username: str | None,
    password: str | None,
    registry_path: Path,
    topic_prefix: str,
    ca_file: Path | None,
    settings: SimSettings | None = None,
) -> int:
    """Run the scenario to its end; print a summary. Exit 0 = all acknowledged, 1 = not
    everything acknowledged, 2 = bad scenario/registry/credentials."""
    settings = settings or SimSettings()
    try:
        scenario = load_scenario(args.scenario or settings.scenario)
        credentials = (
            load_credentials(settings.credentials_file) if settings.credentials_file else None
        )
        fleet = Fleet(
            scenario,
            args.registry or registry_path,
            broker_url,
            seed=args.seed if args.seed is not None else settings.seed,
            speed=args.speed if args.speed is not None else settings.speed_value,
            credentials=credentials,
            shared_login=(username, password) if credentials is None and username else None,
            topic_prefix=topic_prefix,
            ca_file=ca_file,
            start_s=_start_s(args.start or settings.start),
        )
    except SimError as exc:
        print(f"gwmon sim: {exc}", file=sys.stderr)
        return 2
    print(
        f"gwmon sim: scenario {scenario.name} ({len(fleet.probe_ids)} probes, "
        f"{scenario.days:g} days from "
        f"{datetime.fromtimestamp(fleet.start_s, UTC):%Y-%m-%d %H:%M} UTC) -> {broker_url}"
    )
    try:
        summary = fleet.run()
    except KeyboardInterrupt:
        summary = fleet.summary()
        print("gwmon sim: interrupted", file=sys.stderr)
    truth_path = args.truth or settings.truth_file
    if truth_path is not None:
        rows = fleet.write_truth(truth_path)
        print(f"gwmon sim: ground truth ({rows} rows) written to {truth_path}")
    print(
        f"gwmon sim: {summary.cycles} cycles, {summary.packs} packs "
        f"({summary.publishes} publishes, {summary.acked_packs} acknowledged, "
        f"{summary.denied_packs} refused), {summary.dropped_cycles} cycles dropped, "
        f"{summary.connects} connects, {summary.refused_logins} refused logins, "
        f"dead probes: {', '.join(summary.dead_probes) or 'none'}; {summary.wall_s:.1f} s"
    )
    if summary.refused_logins:
        print("gwmon sim: the broker refused some logins; check the credentials", file=sys.stderr)
    return 0 if summary.done else 1
