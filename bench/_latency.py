"""Latency at a fixed message rate (issue target 3): publish -> stored, and breach
publish -> alert mail accepted by an SMTP server.

Method. The paced publisher (bench/paho_publisher.py) sets each reading's measurement
time to its publish time (ms) and logs it before publishing. The bench polls InfluxDB
every 20 ms for the points at or after the oldest one not yet seen; a point's latency is
the time the poll that first returned it came back minus its measurement time. So each
figure is an upper bound, too high by up to one poll interval plus the query's own time
(a few ms on this small window). Mail: an aiosmtpd server in this process records when
it accepted each message (end of DATA) and the message's `X-Gwmon-Alerts` header; a
breach alert's id carries its opening reading's measurement time (docs/alerts.md), which
is that reading's publish time. The figure is "every audience of the breach (the
municipality's Stabsstelle and the operators) has its mail", i.e. the last of them.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Protocol

from aiosmtpd.controller import Controller
from bench._harness import (
    GWMON_ON,
    NODE_RED,
    PAHO_PUBLISHER,
    Bench,
    BenchError,
    drop_database,
    gwmon_config,
    log_tail,
    publish_one,
    start_gwmon,
    start_logged,
    start_node_red,
    stop_process,
    wait_ready,
)
from bench._loads import DEMO_REGISTRY, ProbeInfo, warmup_payload

from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer, free_port

POLL_S = 0.02
OPERATORS = "leitwarte@wasserwerke.example.org"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank on the sorted values."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


class _Envelope(Protocol):
    original_content: bytes | None
    rcpt_tos: list[str]


@dataclass
class _Accepted:
    at: float
    recipients: tuple[str, ...]
    alerts: tuple[str, ...]


@dataclass
class SmtpRecorder:
    """The handler of an aiosmtpd server: remembers when each mail was accepted."""

    accepted: list[_Accepted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: object, session: object, envelope: _Envelope) -> str:
        at = time.time()
        headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
        alerts = tuple(str(headers.get("X-Gwmon-Alerts", "")).split())
        with self.lock:
            self.accepted.append(_Accepted(at, tuple(envelope.rcpt_tos), alerts))
        return "250 OK"

    def snapshot(self) -> list[_Accepted]:
        with self.lock:
            return list(self.accepted)


def opened_at_s(alert_id: str) -> float:
    """`<probe>.<kind>.<YYYYmmddTHHMMSS[fraction]Z>` -> the opening reading's time."""
    stamp = alert_id.rsplit(".", 1)[1].rstrip("Z")
    whole = datetime.strptime(stamp[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    fraction = float(f"0.{stamp[15:]}") if stamp[15:] else 0.0
    return whole.timestamp() + fraction


@dataclass
class LatencyResult:
    system: str
    rate: float  # achieved, messages/s
    published: int
    stored_latencies: list[float]
    lost: int  # published, not seen within the drain time
    breaches: int = 0  # breach episodes published
    mail_latencies: list[float] = field(default_factory=list)  # every audience mailed
    mail_first_latencies: list[float] = field(default_factory=list)  # first audience
    mails: int = 0

    def summary(self) -> dict[str, object]:
        def stats(values: list[float]) -> dict[str, float] | None:
            if not values:
                return None
            return {
                "p50": round(statistics.median(values), 4),
                "p99": round(percentile(values, 99), 4),
                "max": round(max(values), 4),
            }

        return {
            "system": self.system,
            "rate": round(self.rate, 1),
            "published": self.published,
            "stored": len(self.stored_latencies),
            "lost": self.lost,
            "stored_latency_s": stats(self.stored_latencies),
            "breaches": self.breaches,
            "breaches_mailed": len(self.mail_latencies),
            "mails": self.mails,
            "mail_latency_s": stats(self.mail_latencies),
            "mail_first_latency_s": stats(self.mail_first_latencies),
        }


def _mail_extra(smtp_port: int, probes: list[ProbeInfo]) -> str:
    routes = []
    for municipality in sorted({p.municipality for p in probes}):
        slug = "".join(c for c in municipality.lower() if c.isalnum())
        routes.append(
            f'\n[mail.routes."{municipality}"]\nstabsstelle = "Stabsstelle {municipality}"\n'
            f'recipients = ["stabsstelle@{slug}.example.org"]\n'
        )
    return (
        "\n[analytics.alarms.breach]\nmin_consecutive = 1\n"
        '\n[mail]\nenabled = true\ntransport = "smtp"\n'
        'from_address = "gwmon <gwmon@wasserwerke.example.org>"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsmtp_security = "none"\n'
        'ack_bind_port = 0\ntoken_secret = "bench-token-secret"\noutbox_dir = "outbox"\n'
        # Each alert its own mail at once; no reminders; the hourly cap out of the way.
        "digest_window_s = 0.0\nreminder_interval_s = 0.0\nrate_limit_per_hour = 1000\n"
        f'operators = ["{OPERATORS}"]\n'
        'maintenance = ["instandhaltung@wasserwerke.example.org"]\n' + "".join(routes)
    )


class _Poller:
    """Reads the publisher's log as it grows and finds its points in InfluxDB."""

    def __init__(self, database: InfluxDatabase, log: Path) -> None:
        self.database = database
        self.log = log
        self.pending: dict[tuple[str, int], float] = {}
        self.latencies: list[float] = []
        self.published = 0
        self.breach_opens: list[tuple[str, int]] = []
        self._offset = 0

    def _read_log(self) -> None:
        if not self.log.exists():
            return
        with self.log.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.decode().splitlines():
            probe, time_ms, kind = line.split()
            self.pending[(probe, int(time_ms))] = int(time_ms) / 1000
            self.published += 1
            if kind == "b":
                self.breach_opens.append((probe, int(time_ms)))

    def poll(self) -> None:
        self._read_log()
        if not self.pending:
            return
        oldest_ms = min(t for _, t in self.pending) - 1
        series = self.database.query(
            f'SELECT "value" FROM "reading" WHERE time >= {oldest_ms * 1_000_000} GROUP BY "probe"',
            epoch="ns",
        )
        seen_at = time.time()
        for serie in series:
            probe = serie["tags"]["probe"]
            for time_ns, _ in serie["values"]:
                # Nearest ms: a float time path may store 1764140400.123 as ...122999808 ns.
                published = self.pending.pop((probe, round(time_ns / 1_000_000)), None)
                if published is not None:
                    self.latencies.append(seen_at - published)


def run_latency(
    bench: Bench,
    system: str,
    probes: list[ProbeInfo],
    *,
    rate: float,
    seconds: float,
    breach_every: float,
    drain_s: float = 30.0,
) -> LatencyResult:
    """`system` (gwmon-off, gwmon-on with mail, node-red) under the paced load."""
    folder = bench.folder(f"latency-{system}")
    mosquitto = MosquittoServer(folder / "mosquitto")
    mosquitto.start()
    database = bench.influx.new_database(f"lat_{system.replace('-', '_')}")
    recorder = SmtpRecorder()
    smtp: Controller | None = None
    process: subprocess.Popen[bytes] | None = None
    publisher: subprocess.Popen[bytes] | None = None
    try:
        if system == NODE_RED:
            process, log = start_node_red(bench, folder, mosquitto, database, probes)
        else:
            extra = ""
            if system == GWMON_ON:
                smtp_port = free_port()
                smtp = Controller(recorder, hostname="127.0.0.1", port=smtp_port)
                smtp.start()
                extra = _mail_extra(smtp_port, probes)
            config = gwmon_config(
                folder,
                mosquitto,
                database,
                DEMO_REGISTRY,
                analytics=system == GWMON_ON,
                extra=extra,
            )
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
        publisher_log = folder / "published.log"
        command = [
            sys.executable,
            str(PAHO_PUBLISHER),
            "paced",
            "--port",
            str(mosquitto.port),
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            "--probes",
            ",".join(p.probe_id for p in probes),
            "--log",
            str(publisher_log),
            "--breach-every",
            str(breach_every),
        ]
        poller = _Poller(database, publisher_log)
        started = time.monotonic()
        publisher = start_logged(command, folder / "publisher.log")
        finished: float | None = None
        while True:
            poller.poll()
            if process.poll() is not None:
                raise BenchError(f"{system} exited mid-run:\n{log_tail(log)}")
            if finished is None and publisher.poll() is not None:
                if publisher.returncode != 0:
                    raise BenchError(f"publisher failed:\n{log_tail(folder / 'publisher.log')}")
                finished = time.monotonic()
                poller.poll()  # the log's last lines
            if finished is not None and (
                not poller.pending or time.monotonic() - finished > drain_s
            ):
                break
            time.sleep(POLL_S)
        publish_seconds = (finished or time.monotonic()) - started
        result = LatencyResult(
            system,
            poller.published / publish_seconds,
            poller.published,
            poller.latencies,
            len(poller.pending),
            breaches=len(poller.breach_opens),
        )
        if smtp is not None:
            _collect_mail(result, recorder, poller.breach_opens, drain_s)
        return result
    finally:
        if publisher is not None:
            stop_process(publisher)
        if process is not None:
            stop_process(process)
        if smtp is not None:
            smtp.stop()
        drop_database(database)
        mosquitto.stop()


def _collect_mail(
    result: LatencyResult,
    recorder: SmtpRecorder,
    breach_opens: list[tuple[str, int]],
    drain_s: float,
) -> None:
    """Wait (up to `drain_s`) until every published breach reached both audiences."""
    expected = {(probe, time_ms / 1000) for probe, time_ms in breach_opens}
    deadline = time.monotonic() + drain_s
    while True:
        accepted = recorder.snapshot()
        first: dict[str, dict[tuple[str, ...], float]] = {}
        for mail in accepted:
            for alert in mail.alerts:
                if alert.split(".")[1:2] == ["breach"]:
                    first.setdefault(alert, {}).setdefault(mail.recipients, mail.at)
        complete = {a: by for a, by in first.items() if len(by) >= 2}
        if len(complete) >= len(expected) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    result.mails = len(accepted)
    for alert, by_audience in complete.items():
        opened = opened_at_s(alert)
        if (alert.split(".")[0], round(opened, 3)) not in {(p, round(t, 3)) for p, t in expected}:
            continue  # a breach the bench did not script (should not happen)
        result.mail_latencies.append(max(by_audience.values()) - opened)
        result.mail_first_latencies.append(min(by_audience.values()) - opened)
