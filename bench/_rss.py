"""`gwmon run` memory with a large fleet (issue target 4): a generated registry of N probes,
every probe sends, peak resident set (VmHWM in /proc/<pid>/status) once all is stored.

gwmon runs as deployed (analytics on). Each probe sends `packs` packs of `cycles` hourly
cycles of nitrate and level, so every probe has live detector and alarm state; 2 packs of
24 cycles fill the longest default detector window (level flatline, 48 readings).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

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
    # /proc/<pid>/smaps_rollup once everything is stored (KiB): Anonymous is the heap
    # (Python objects, malloc arenas, SQLite's cache), Rss - Anonymous the mapped files.
    smaps_end_kib: dict[str, int] = field(default_factory=dict)
    # When the peak was reached, in seconds after the fleet started sending (VmRSS sampled
    # every 0.25 s; the samples are in the run folder's rss-trace.tsv).
    peak_at_s: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "probes": self.probes,
            "readings": self.readings,
            "stored": self.stored,
            "seconds": round(self.seconds, 2),
            "rss_idle_kib": self.rss_idle_kib,
            "peak_rss_kib": self.peak_rss_kib,
            "rss_end_kib": self.rss_end_kib,
            "smaps_end_kib": self.smaps_end_kib,
            "peak_at_s": self.peak_at_s,
        }


_SMAPS_KEYS = ("Rss", "Anonymous", "Private_Dirty", "Shared_Clean", "Private_Clean")


def smaps_rollup_kib(pid: int) -> dict[str, int]:
    """The resident set's parts (KiB) from /proc/<pid>/smaps_rollup ({} if gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    parts: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in _SMAPS_KEYS:
            parts[key] = int(rest.split()[0])
    return parts


class RssSampler(threading.Thread):
    """VmRSS of a process every `interval_s` into a list of (seconds, KiB)."""

    def __init__(self, pid: int, started: float, interval_s: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.started, self.interval_s = pid, started, interval_s
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval_s):
            kib = proc_status_kib(self.pid, "VmRSS")
            if kib is None:
                return
            self.samples.append((time.monotonic() - self.started, kib))

    def stop(self, trace: Path) -> float | None:
        """Stop, write the samples to `trace`; the time of the highest sample."""
        self.done.set()
        self.join(2)
        trace.write_text("".join(f"{t:.2f}\t{kib}\n" for t, kib in self.samples))
        if not self.samples:
            return None
        return round(max(self.samples, key=lambda sample: sample[1])[0], 2)


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
        sampler = RssSampler(process.pid, started)
        sampler.start()
        publisher = start_logged(command, folder / "publisher.log")
        stored = wait_stored(database, 1 + readings, started, process, log)
        if publisher.wait(120) != 0:
            raise BenchError(f"fleet publisher failed:\n{log_tail(folder / 'publisher.log')}")
        peak_at = sampler.stop(folder / "rss-trace.tsv")
        try:  # every mapping's share, for working out where the memory went
            smaps = Path(f"/proc/{process.pid}/smaps").read_text()
            (folder / "smaps-end.txt").write_text(smaps)
        except OSError:
            pass
        return RssResult(
            probe_count,
            readings,
            stored.count - 1,
            stored.at - started,
            idle,
            proc_status_kib(process.pid, "VmHWM"),
            proc_status_kib(process.pid, "VmRSS"),
            smaps_rollup_kib(process.pid),
            peak_at,
        )
    finally:
        if publisher is not None:
            stop_process(publisher)
        if process is not None:
            stop_process(process)
        drop_database(database)
        mosquitto.stop()
