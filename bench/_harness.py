"""Process plumbing of the side-by-side bench: private servers, the systems under test,
the parallel C publishers, readiness and "everything stored".

All captured output goes to files (a pipe read only at the end stalls a chatty child
at 64 KiB). Times are CLOCK_MONOTONIC (`time.monotonic()`), one clock for every process
on the machine, so a child can report when it finished and the bench can compare.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests
from bench import _nodered
from bench._loads import REPO, Load, ProbeInfo

from gwmon.ingest.devservers import InfluxDatabase, InfluxServer, MosquittoServer, require_binary

BENCH = REPO / "bench"
PAHO_SUBSCRIBER = BENCH / "paho_subscriber.py"
PAHO_PUBLISHER = BENCH / "paho_publisher.py"

PAHO = "paho"
NODE_RED = "node-red"
GWMON_OFF = "gwmon-off"
GWMON_ON = "gwmon-on"
SYSTEMS = (PAHO, NODE_RED, GWMON_OFF, GWMON_ON)
LABELS = {
    PAHO: "bare paho subscriber (parse only)",
    NODE_RED: "Node-RED mqtt in → function → influxdb batch",
    GWMON_OFF: "gwmon run, analytics off",
    GWMON_ON: "gwmon run as deployed (analytics on)",
}


class BenchError(RuntimeError):
    """A system did not start or stopped mid-run; the message holds its log's tail."""


def log_tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def proc_status_kib(pid: int, key: str) -> int | None:
    """VmHWM (peak resident set) or VmRSS of a live process, in KiB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return None


def start_logged(
    command: Sequence[str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(list(command), stdout=handle, stderr=subprocess.STDOUT, cwd=cwd)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def drop_database(database: InfluxDatabase) -> None:
    requests.post(
        f"{database.url}/query", data={"q": f'DROP DATABASE "{database.name}"'}, timeout=60
    ).raise_for_status()


def publish_one(port: int, topic: str, payload: str) -> None:
    tool = require_binary("mosquitto_pub", "mosquitto-clients")
    subprocess.run(
        [tool, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-m", payload],
        check=True,
        capture_output=True,
        timeout=30,
    )


def wait_ready(
    ready: Callable[[], bool],
    send_warmup: Callable[[], None],
    process: subprocess.Popen[bytes],
    log: Path,
    timeout: float = 120,
) -> None:
    """Send the warm-up message every second until the system shows it has it.

    The same message for every system proves the whole path (subscribed, parsing, writing
    to InfluxDB) is up before the clock starts; repeating it covers a subscription that
    was not yet in place. It is one point however often it is stored."""
    deadline = time.monotonic() + timeout
    next_send = 0.0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"exited with {process.returncode} before ready:\n{log_tail(log)}")
        if time.monotonic() >= next_send:
            send_warmup()
            next_send = time.monotonic() + 1.0
        if ready():
            return
        time.sleep(0.05)
    raise BenchError(f"not ready within {timeout:.0f} s:\n{log_tail(log)}")


@dataclass
class Stored:
    """The outcome of waiting for a count: how many, and when the bench saw them."""

    count: int
    at: float
    complete: bool


def wait_stored(
    database: InfluxDatabase,
    expected: int,
    started: float,
    process: subprocess.Popen[bytes],
    log: Path,
    *,
    tail: tuple[int, int] | None = None,
    stall_s: float = 30.0,
) -> Stored:
    """Poll until `count(value)` of `reading` is `expected`; the time is when the answer
    that showed it came back.

    A count over everything costs InfluxDB CPU in proportion to the points stored so far
    (about 0.2 s at 768,000 points on the 2-core machine), taken from the system being
    measured. With `tail` = (first time of the set's last messages in ns, readings from
    that time on), the bench polls every 50 ms only the count of that tail, which is
    cheap, and counts everything when the tail is complete (and every 2 s, to see
    progress). Without it, it counts everything with the interval shrinking with the
    estimated time left (a tenth of it, 50 ms .. 0.5 s). Gives up after `stall_s`
    without progress."""
    last_count, last_change, last_full = -1, started, -math.inf
    count = 0
    while True:
        now = time.monotonic()
        tail_done = tail is not None and (
            database.count("reading", where=f"time >= {tail[0]}") >= tail[1]
        )
        if tail is None or tail_done or now - last_full >= 2.0:
            count = database.count("reading")
            seen = last_full = time.monotonic()
            if count >= expected:
                return Stored(count, seen, complete=True)
            if count != last_count:
                last_count, last_change = count, seen
            elif seen - last_change > stall_s:
                return Stored(count, last_change, complete=False)
        if process.poll() is not None:
            raise BenchError(f"exited with {process.returncode} mid-run:\n{log_tail(log)}")
        if tail is not None:
            time.sleep(0.05)
            continue
        elapsed = time.monotonic() - started
        rate = count / elapsed if count > 1 and elapsed > 0 else 0.0
        remaining = (expected - count) / rate if rate else 1.0
        time.sleep(min(0.5, max(0.05, remaining / 10)))


@dataclass
class Publishers:
    """One `mosquitto_pub -l` per message file, started together; each exit time is
    recorded by its own waiter thread."""

    port: int
    load: Load
    folder: Path
    started: float = 0.0
    exited: list[float] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> float:
        tool = require_binary("mosquitto_pub", "mosquitto-clients")
        inputs = [path.open("rb") for path in self.load.files]
        logs = [(self.folder / f"publisher-{i}.log").open("ab") for i in range(len(inputs))]
        commands = [
            [
                tool,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-q",
                "1",
                "-t",
                topic,
                "-l",
                "-i",
                f"bench-pub-{i}",
            ]
            for i, topic in enumerate(self.load.topics)
        ]
        self.started = time.monotonic()
        for command, source, log in zip(commands, inputs, logs, strict=True):
            self._processes.append(
                subprocess.Popen(command, stdin=source, stdout=log, stderr=subprocess.STDOUT)
            )
        for handle in (*inputs, *logs):
            handle.close()
        lock = threading.Lock()

        def waiter(process: subprocess.Popen[bytes]) -> None:
            process.wait()
            with lock:
                self.exited.append(time.monotonic())

        for process in self._processes:
            thread = threading.Thread(target=waiter, args=(process,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.started

    def wait(self, timeout: float = 600) -> float:
        """Seconds from the first start to the last exit; raises if one failed."""
        for thread in self._threads:
            thread.join(timeout)
        failed = [p.returncode for p in self._processes if p.returncode != 0]
        if failed or len(self.exited) != len(self._processes):
            raise BenchError(f"mosquitto_pub failed ({failed}); logs in {self.folder}")
        return max(self.exited) - self.started


@dataclass
class Bench:
    """The servers shared by all runs and the folder each run writes into."""

    workdir: Path
    influx: InfluxServer
    node_red: Path | None = None
    _runs: int = 0

    def folder(self, name: str) -> Path:
        self._runs += 1
        path = self.workdir / f"{self._runs:03d}-{name}"
        path.mkdir(parents=True)
        return path


def registry_csv(probes: Sequence[ProbeInfo]) -> str:
    """A registry with these probes (the demo's columns; thresholds default)."""
    header = (
        "probe_id,site,municipality,lat,lon,ground_level_m_nhn,measuring_point_m_nhn,"
        "waterworks,expected_interval_s,nitrate_warning_mg_l,nitrate_breach_mg_l,"
        "level_min_m_nhn,level_max_m_nhn,nitrate_loq_mg_l,qc"
    )
    rows = [
        f"{p.probe_id},{p.site},{p.municipality},51.3,12.6,{p.level_m_nhn + 5:.2f},,,3600,,,,,,"
        for p in probes
    ]
    return "\n".join([header, *rows]) + "\n"


def gwmon_config(
    folder: Path,
    mosquitto: MosquittoServer,
    database: InfluxDatabase,
    registry: Path,
    *,
    analytics: bool,
    extra: str = "",
) -> Path:
    """A `gwmon run` config: the defaults of `gwmon config example` except the servers,
    and `[analytics] enabled` (true is the shipped default, "as deployed")."""
    config = folder / "gwmon.toml"
    config.write_text(
        f'[mqtt]\nurl = "{mosquitto.url}"\nclient_id = "bench-gwmon"\n\n'
        f'[influxdb]\nurl = "{database.url}"\ndatabase = "{database.name}"\n\n'
        f'[registry]\npath = "{registry}"\n\n'
        # Any free port for /metrics: the default may be taken by another gwmon on the machine.
        "[ops]\nport = 0\n\n"
        f'[analytics]\nenabled = {"true" if analytics else "false"}\nstate_dir = "state"\n'
        f"{extra}",
        encoding="utf-8",
    )
    return config


def start_gwmon(config: Path, folder: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = folder / "gwmon.log"
    command = [sys.executable, "-m", "gwmon.cli", "run", "--config", str(config)]
    return start_logged(command, log, cwd=folder), log


def start_node_red(
    bench: Bench,
    folder: Path,
    mosquitto: MosquittoServer,
    database: InfluxDatabase,
    probes: list[ProbeInfo],
) -> tuple[subprocess.Popen[bytes], Path]:
    if bench.node_red is None:
        bench.node_red = _nodered.ensure_installed()
    user_dir = folder / "node-red-user"
    settings = _nodered.write_user_dir(
        user_dir,
        mqtt_port=mosquitto.port,
        influx_port=bench.influx.port,
        database=database.name,
        probes=probes,
    )
    log = folder / "node-red.log"
    command = _nodered.command(bench.node_red, user_dir, settings)
    return start_logged(command, log, cwd=user_dir), log
