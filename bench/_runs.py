"""One throughput run: a fresh broker (and database), one system, one message set.

Clock: from the start of the first of the parallel publishers to the moment the bench
sees the last reading stored (`count(value)` in InfluxDB reaches the total) or, for the
bare subscriber, to the moment it parsed the last one (its own report on the same
monotonic clock). The warm-up message is sent and seen before the clock starts.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench._harness import (
    GWMON_ON,
    NODE_RED,
    PAHO,
    PAHO_SUBSCRIBER,
    Bench,
    BenchError,
    Publishers,
    drop_database,
    gwmon_config,
    log_tail,
    proc_status_kib,
    publish_one,
    start_gwmon,
    start_logged,
    start_node_red,
    stop_process,
    wait_ready,
    wait_stored,
)
from bench._loads import DEMO_REGISTRY, Load, ProbeInfo, warmup_payload

from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer


@dataclass(frozen=True)
class RunResult:
    system: str
    load: str
    round_no: int
    readings: int  # in the message set
    done: int  # stored (or parsed) when the clock stopped
    seconds: float  # first publish -> last reading stored
    publish_seconds: float  # first publish -> last publisher exited
    peak_rss_kib: int | None
    note: str = ""  # e.g. Node-RED's write errors, when it lost readings

    @property
    def complete(self) -> bool:
        return self.done >= self.readings

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    def to_json(self) -> dict[str, object]:
        return {
            "system": self.system,
            "load": self.load,
            "round": self.round_no,
            "readings": self.readings,
            "done": self.done,
            "seconds": round(self.seconds, 4),
            "publish_seconds": round(self.publish_seconds, 4),
            "readings_per_s": round(self.rate, 1),
            "peak_rss_kib": self.peak_rss_kib,
            "note": self.note,
        }


def error_summary(log: Path) -> str:
    """How many errors Node-RED logged, and the commonest kinds (ports and times masked)."""
    kinds: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if "[error]" in line:
            kinds[re.sub(r"\d+", "N", line.split("[error]", 1)[1].strip())[:120]] += 1
    if not kinds:
        return ""
    common = "; ".join(f"{n}× {kind}" for kind, n in kinds.most_common(2))
    return f"{sum(kinds.values()):,} errors in its log ({common})"


def _paho(folder: Path, mosquitto: MosquittoServer, load: Load, warmup: ProbeInfo) -> RunResult:
    topic = f"gw/v1/{warmup.probe_id}/data"
    ready, result = folder / "ready", folder / "result.json"
    log = folder / "paho.log"
    command = [
        sys.executable,
        str(PAHO_SUBSCRIBER),
        "--port",
        str(mosquitto.port),
        "--expected",
        str(load.readings),
        "--warmup-topic",
        topic,
        "--ready-file",
        str(ready),
        "--result-file",
        str(result),
    ]
    process = start_logged(command, log)
    try:
        wait_ready(
            ready.exists,
            lambda: publish_one(mosquitto.port, topic, warmup_payload(warmup)),
            process,
            log,
        )
        publishers = Publishers(mosquitto.port, load, folder)
        started = publishers.start()
        try:
            process.wait(timeout=max(300.0, load.readings / 1000))
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"paho subscriber did not finish:\n{log_tail(log)}") from exc
        publish_seconds = publishers.wait()
        if process.returncode != 0:
            raise BenchError(f"paho subscriber failed:\n{log_tail(log)}")
        outcome = json.loads(result.read_text())
        return RunResult(
            PAHO,
            load.name,
            0,
            load.readings,
            int(outcome["readings"]),
            float(outcome["done_at"]) - started,
            publish_seconds,
            int(outcome["max_rss_kib"]),
        )
    finally:
        stop_process(process)


def _stored(
    bench: Bench,
    system: str,
    *,
    folder: Path,
    mosquitto: MosquittoServer,
    database: InfluxDatabase,
    load: Load,
    probes: list[ProbeInfo],
    warmup: ProbeInfo,
) -> RunResult:
    if system == NODE_RED:
        process, log = start_node_red(bench, folder, mosquitto, database, probes)
    else:
        config = gwmon_config(
            folder, mosquitto, database, DEMO_REGISTRY, analytics=system == GWMON_ON
        )
        process, log = start_gwmon(config, folder)
    topic = f"gw/v1/{warmup.probe_id}/data"
    try:
        wait_ready(
            lambda: database.count("reading") >= 1,
            lambda: publish_one(mosquitto.port, topic, warmup_payload(warmup)),
            process,
            log,
        )
        publishers = Publishers(mosquitto.port, load, folder)
        started = publishers.start()
        stored = wait_stored(database, 1 + load.readings, started, process, log, tail=load.tail)
        publish_seconds = publishers.wait()
        return RunResult(
            system,
            load.name,
            0,
            load.readings,
            stored.count - 1,
            stored.at - started,
            publish_seconds,
            proc_status_kib(process.pid, "VmHWM"),
            error_summary(log) if system == NODE_RED else "",
        )
    finally:
        stop_process(process)


def run_system(
    bench: Bench,
    system: str,
    load: Load,
    *,
    round_no: int,
    probes: list[ProbeInfo],
    warmup: ProbeInfo,
) -> RunResult:
    """One system on one load, on its own fresh Mosquitto (identical config) and, for the
    systems that store, its own fresh database (dropped afterwards)."""
    folder = bench.folder(f"r{round_no}-{load.name}-{system}")
    mosquitto = MosquittoServer(folder / "mosquitto")
    mosquitto.start()
    try:
        if system == PAHO:
            result = _paho(folder, mosquitto, load, warmup)
        else:
            database = bench.influx.new_database(system.replace("-", "_"))
            try:
                result = _stored(
                    bench,
                    system,
                    folder=folder,
                    mosquitto=mosquitto,
                    database=database,
                    load=load,
                    probes=probes,
                    warmup=warmup,
                )
            finally:
                drop_database(database)
    finally:
        mosquitto.stop()
    return RunResult(
        result.system,
        result.load,
        round_no,
        result.readings,
        result.done,
        result.seconds,
        result.publish_seconds,
        result.peak_rss_kib,
        result.note,
    )


def run_publishers_alone(bench: Bench, load: Load, round_no: int) -> float:
    """The publishers' own ceiling: the same message set to a fresh broker with nobody
    subscribed (Mosquitto acknowledges and drops). Readings/s."""
    folder = bench.folder(f"r{round_no}-{load.name}-publishers-alone")
    mosquitto = MosquittoServer(folder / "mosquitto")
    mosquitto.start()
    try:
        publishers = Publishers(mosquitto.port, load, folder)
        publishers.start()
        return load.readings / publishers.wait()
    finally:
        mosquitto.stop()
