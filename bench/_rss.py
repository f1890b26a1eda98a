"""`gwmon run` memory with a large fleet (issue target 4): a generated registry of N probes,
every probe sends, peak resident set (VmHWM in /proc/<pid>/status) once all is stored.

gwmon runs as deployed (analytics on). Each probe sends `packs` packs of `cycles` hourly
cycles of nitrate and level, so every probe has live detector and alarm state; 2 packs of
24 cycles fill the longest default detector window (level flatline, 48 readings).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

from bench._harness import (
    PAHO_PUBLISHER,
    Bench,
    BenchError,
    drop_database,
    gwmon_config,
    log_tail,
    proc_status_kib,
    publish_one,
    registry_csv,
    start_gwmon,
    start_logged,
    stop_process,
    wait_ready,
    wait_stored,
)
from bench._loads import HOUR_S, ProbeInfo, compact, history_start, warmup_payload

from gwmon.ingest.devservers import MosquittoServer

MUNICIPALITIES = ("Leipzig", "Wurzen", "Bennewitz", "Thallwitz", "Lossatal")


@dataclass(frozen=True)
class RssResult:
    probes: int
    readings: int
    stored: int
    seconds: float
    rss_idle_kib: int | None  # after start-up and the warm-up, before the fleet sends
    peak_rss_kib: int | None  # VmHWM after everything was stored
    rss_end_kib: int | None

    def to_json(self) -> dict[str, object]:
        return {
            "probes": self.probes,
            "readings": self.readings,
            "stored": self.stored,
            "seconds": round(self.seconds, 2),
            "rss_idle_kib": self.rss_idle_kib,
            "peak_rss_kib": self.peak_rss_kib,
            "rss_end_kib": self.rss_end_kib,
        }


def fleet(count: int) -> list[ProbeInfo]:
    return [
        ProbeInfo(f"P{i:05d}", f"Messstelle {i}", MUNICIPALITIES[i % len(MUNICIPALITIES)], 125.0)
        for i in range(count)
    ]


def run_rss(bench: Bench, probe_count: int, packs: int, cycles: int) -> RssResult:
    folder = bench.folder(f"rss-{probe_count}")
    probes = fleet(probe_count)
    registry = folder / "registry.csv"
    registry.write_text(registry_csv(probes), encoding="utf-8")
    start = history_start(packs * cycles // 24 + 2)
    messages = folder / "messages.tsv"
    with messages.open("w", encoding="utf-8") as out:
        for pack in range(packs):  # pack by pack over the fleet: all probes active at once
            for number, probe in enumerate(probes):
                records: list[dict[str, object]] = []
                for hour in range(cycles):
                    index = pack * cycles + hour
                    nitrate = round(20 + (index + number) % 40 * 0.1, 1)
                    level = round(probe.level_m_nhn + (index % 20) * 0.01, 2)
                    offset = {"t": hour * HOUR_S} if hour else {}
                    records.append({**offset, "n": "nitrate", "u": "mg/L", "v": nitrate})
                    records.append({**offset, "n": "level", "u": "m", "v": level})
                base = start + pack * cycles * HOUR_S
                records[0] = {"bn": f"{probe.probe_id}:", "bt": base, **records[0]}
                out.write(f"gw/v1/{probe.probe_id}/data\t{compact(records)}\n")
    readings = probe_count * packs * cycles * 2
    mosquitto = MosquittoServer(folder / "mosquitto")
    mosquitto.start()
    database = bench.influx.new_database("rss")
    process: subprocess.Popen[bytes] | None = None
    publisher: subprocess.Popen[bytes] | None = None
    try:
        config = gwmon_config(folder, mosquitto, database, registry, analytics=True)
        process, log = start_gwmon(config, folder)
        warm = probes[0]
        wait_ready(
            lambda: database.count("reading") >= 1,
            lambda: publish_one(
                mosquitto.port, f"gw/v1/{warm.probe_id}/data", warmup_payload(warm)
            ),
            process,
            log,
        )
        idle = proc_status_kib(process.pid, "VmRSS")
        command = [
            sys.executable,
            str(PAHO_PUBLISHER),
            "file",
            "--port",
            str(mosquitto.port),
            "--file",
            str(messages),
        ]
        started = time.monotonic()
        publisher = start_logged(command, folder / "publisher.log")
        stored = wait_stored(database, 1 + readings, started, process, log)
        if publisher.wait(120) != 0:
            raise BenchError(f"fleet publisher failed:\n{log_tail(folder / 'publisher.log')}")
        return RssResult(
            probe_count,
            readings,
            stored.count - 1,
            stored.at - started,
            idle,
            proc_status_kib(process.pid, "VmHWM"),
            proc_status_kib(process.pid, "VmRSS"),
        )
    finally:
        if publisher is not None:
            stop_process(publisher)
        if process is not None:
            stop_process(process)
        drop_database(database)
        mosquitto.stop()
