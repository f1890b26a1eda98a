"""How fast InfluxDB alone takes the lines `gwmon run` writes for the pack load.

The lines are the ones gwmon's ingest makes of the side-by-side bench's pack load
(8 probes x N packs of 96 readings; decoded and formatted by gwmon's own code, so the
bytes are what `gwmon run` sends), posted to a private InfluxDB without MQTT or gwmon in
the way. Each variant changes one thing about *how* the same points are sent (the stored
points are the same in every variant, checked by count): timestamp precision, request
size, gzip, parallel connections, line order. Reported per variant: points/s (wall
clock, from the first request to the last answer), influxd's CPU per point, and the
poster's own CPU per point (building the body and HTTP on the client side). Variants
run interleaved over the rounds, each into a fresh database.

    .venv/bin/python -m bench.influx_ceiling [--messages 1000] [--rounds 3]
        [--variants ns-5000,s-5000,...]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench._influx_alone import gwmon_lines as lines_of_load
from bench._loads import make_load, read_registry
from bench.profile_ingest import cpu_seconds

from gwmon.ingest.devservers import InfluxDatabase, InfluxServer

_NS = 1_000_000_000


@dataclass(frozen=True)
class Variant:
    name: str
    doc: str
    precision: str = "ns"
    batch: int = 5_000
    connections: int = 1
    gzip: bool = False
    order: str = "as written"  # or "by series"


VARIANTS = {
    variant.name: variant
    for variant in (
        Variant("ns-5000", "as gwmon writes today: ns, 5,000 lines, 1 connection"),
        Variant("s-5000", "timestamps in seconds (precision=s)", precision="s"),
        Variant("ns-1000", "requests of 1,000 lines", batch=1_000),
        Variant("ns-20000", "requests of 20,000 lines", batch=20_000),
        Variant("ns-5000-gzip", "gzip level 1", gzip=True),
        Variant("ns-5000-2conn", "2 connections in parallel", connections=2),
        Variant(
            "s-5000-2conn", "precision=s, 2 connections in parallel", precision="s", connections=2
        ),
        Variant("ns-5000-sorted", "lines sorted by series, then time", order="by series"),
    )
}


def gwmon_lines(messages: int, workdir: Path) -> list[str]:
    """The reading lines gwmon's ingest makes of the pack load, in arrival order."""
    load = make_load("pack96", read_registry()[:8], messages, workdir / "loads")
    return lines_of_load(load)


def in_seconds(line: str) -> str:
    head, _, stamp = line.rpartition(" ")
    time_ns = int(stamp)
    if time_ns % _NS:
        msg = f"not a whole second: {line}"
        raise ValueError(msg)
    return f"{head} {time_ns // _NS}"


def bodies(lines: list[str], variant: Variant) -> list[bytes]:
    if variant.order == "by series":
        lines = sorted(lines, key=lambda line: (line.split(" ", 1)[0], int(line.rsplit(" ", 1)[1])))
    if variant.precision == "s":
        lines = [in_seconds(line) for line in lines]
    out = []
    for start in range(0, len(lines), variant.batch):
        body = ("\n".join(lines[start : start + variant.batch]) + "\n").encode()
        out.append(gzip.compress(body, compresslevel=1) if variant.gzip else body)
    return out


def post_all(database: InfluxDatabase, variant: Variant, payloads: list[bytes]) -> None:
    parts = urlsplit(database.url)
    query = urlencode({"db": database.name, "precision": variant.precision})
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if variant.gzip:
        headers["Content-Encoding"] = "gzip"
    errors: list[str] = []

    def worker(share: list[bytes]) -> None:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120)
        for body in share:
            connection.request("POST", f"/write?{query}", body=body, headers=headers)
            response = connection.getresponse()
            text = response.read()
            if response.status != 204:
                errors.append(f"HTTP {response.status}: {text[:200]!r}")
        connection.close()

    n = variant.connections
    # Connection k takes every n-th request, so the shares interleave in time.
    threads = [threading.Thread(target=worker, args=(payloads[k::n],)) for k in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])


@dataclass
class Figure:
    points_per_s: float
    influx_us: float
    client_us: float


def run_variant(influx: InfluxServer, variant: Variant, lines: list[str], pid: int) -> Figure:
    database = influx.new_database("ceiling")
    payloads = bodies(lines, variant)
    before_influx = sum(cpu_seconds(pid).values())
    before_self = time.process_time()
    started = time.monotonic()
    post_all(database, variant, payloads)
    seconds = time.monotonic() - started
    influx_cpu = sum(cpu_seconds(pid).values()) - before_influx
    client_cpu = time.process_time() - before_self
    stored = database.count("reading")
    deadline = time.monotonic() + 10
    while stored != len(lines) and time.monotonic() < deadline:
        # Seen once with two connections: the count short of a request's points right
        # after every request was answered 204; it caught up a moment later.
        time.sleep(0.2)
        stored = database.count("reading")
    if stored != len(lines):
        msg = f"{variant.name}: {stored:,} of {len(lines):,} points stored"
        raise RuntimeError(msg)
    _drop(database)
    count = len(lines)
    return Figure(count / seconds, 1e6 * influx_cpu / count, 1e6 * client_cpu / count)


def _drop(database: InfluxDatabase) -> None:
    database.query(f'DROP DATABASE "{database.name}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000, help="packs per publisher")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    chosen = [VARIANTS[name] for name in args.variants.split(",")]
    with tempfile.TemporaryDirectory(prefix="gwmon-ceiling-") as tmp:
        workdir = Path(tmp)
        lines = gwmon_lines(args.messages, workdir)
        print(f"{len(lines):,} reading lines as gwmon writes them, e.g.\n  {lines[0]}")
        influx = InfluxServer(workdir / "influx")
        influx.start()
        try:
            if influx.process is None:
                raise RuntimeError("influxd did not start")
            pid = influx.process.pid
            run_variant(influx, chosen[0], lines[:20_000], pid)  # warm up
            results: dict[str, list[Figure]] = {variant.name: [] for variant in chosen}
            for round_number in range(args.rounds):
                # Rotate the order from round to round (drift of the shared machine).
                shift = round_number % len(chosen)
                for variant in chosen[shift:] + chosen[:shift]:
                    results[variant.name].append(run_variant(influx, variant, lines, pid))
        finally:
            influx.stop()
    median: Callable[[list[float]], float] = statistics.median
    print(f"\nmedian of {args.rounds} round(s) [min - max of points/s]")
    print(f"{'variant':16} {'points/s':>22} {'influxd µs/pt':>14} {'poster µs/pt':>13}  what")
    for variant in chosen:
        figures = results[variant.name]
        rates = [figure.points_per_s for figure in figures]
        print(
            f"{variant.name:16} {median(rates):>9,.0f} [{min(rates):,.0f} - {max(rates):,.0f}]"
            f" {median([f.influx_us for f in figures]):>14.2f}"
            f" {median([f.client_us for f in figures]):>13.2f}  {variant.doc}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
