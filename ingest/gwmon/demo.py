"""`gwmon demo` (what `make demo` runs): the whole pipeline on one machine.

Private Mosquitto and InfluxDB under the run directory, `gwmon run` as a real service
process, the WERTvoll probe fleet from firmware-sim, then a summary of what was stored
and where to look. Everything stays in the run directory.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

from gwmon.analytics import mail
from gwmon.ingest import TREND_REVERSAL_START_MG_L, load_config
from gwmon.ingest.devservers import InfluxServer, MosquittoServer
from gwmon.storage import READING, REJECTED, InfluxClient
from gwmon.storage import influxql as q
from gwmon_sim import Fleet, load_scenario

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_REGISTRY = REPO_ROOT / "examples" / "registry-wertvoll.csv"
DEMO_SCENARIO = "wertvoll-demo"


def shell_double_quoted(text: str) -> str:
    """`text` as one POSIX shell word in double quotes: InfluxQL's single-quoted strings
    then stay readable (shlex.quote would close and reopen its quotes around each one)."""
    escaped = "".join("\\" + c if c in '\\"$`' else c for c in text)
    return f'"{escaped}"'


EXAMPLE_QUERY = (
    q.select(READING, q.STAR)
    .where(q.eq("probe", "LE-07"), q.eq("quantity", "nitrate"))
    .newest_first()
    .limit(5)
    .text
)


def _example_recipients() -> str:
    """Operators, maintenance and the Stabsstellen of the shipped `[mail]` example, so the
    demo mails the same (example.org) recipients that `gwmon config example` shows."""
    example = tomllib.loads(mail.EXAMPLE_TOML)["mail"]
    lines = [
        f"operators = {json.dumps(example['operators'])}",
        f"maintenance = {json.dumps(example['maintenance'])}",
    ]
    for municipality, route in example["routes"].items():
        lines += [
            "",
            f"[mail.routes.{json.dumps(municipality, ensure_ascii=False)}]",
            f"stabsstelle = {json.dumps(route['stabsstelle'], ensure_ascii=False)}",
            f"recipients = {json.dumps(route['recipients'])}",
        ]
    return "\n".join(lines)


def _write_config(run_dir: Path, mosquitto: MosquittoServer, influx: InfluxServer) -> Path:
    shutil.copy(DEMO_REGISTRY, run_dir / "registry.csv")
    config = run_dir / "gwmon.toml"
    config.write_text(
        f"""# Written by `gwmon demo`: private servers on loopback, everything under {run_dir}.
[mqtt]
url = "{mosquitto.url}"
client_id = "gwmon-demo"

[influxdb]
url = "{influx.url}"
database = "gwmon"

[registry]
path = "registry.csv"

[ingest]
stats_interval_s = 5.0

[ops]
port = 0  # any free port: the log names it

[analytics]
state_dir = "state/analytics"

[mail]
# The demo delivers into a local maildir instead of an SMTP server.
enabled = true
transport = "maildir"
maildir = "mail/maildir"
outbox_dir = "mail/outbox"
ack_bind_port = 0
digest_window_s = 3.0
{_example_recipients()}
""",
        encoding="utf-8",
    )
    return config


def _start_ingest(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "gwmon.cli", "run", "--config", str(config)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + 30
    while "connected (session present" not in log.read_text(encoding="utf-8"):
        if process.poll() is not None or time.monotonic() > deadline:
            msg = f"gwmon run did not start; see {log}:\n{log.read_text(encoding='utf-8')[-2000:]}"
            raise RuntimeError(msg)
        time.sleep(0.05)
    return process


def _wait_until_stored(client: InfluxClient, expected: int, timeout_s: float = 120) -> int:
    """Wait until InfluxDB holds `expected` nitrate readings or the count stops growing."""
    deadline = time.monotonic() + timeout_s
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        series = client.query(
            q.select(READING, q.count("value")).where(q.eq("quantity", "nitrate"))
        )
        count = int(series[0]["values"][0][1]) if series else 0
        if count >= expected:
            return count
        if count != last:
            last, stable_since = count, time.monotonic()
        elif time.monotonic() - stable_since > 10:
            return count
        time.sleep(0.2)
    return last


def _print_storage_summary(client: InfluxClient) -> None:
    rows = client.query_rows(q.select(READING, q.count("value")).group_by("probe", "quantity"))
    table: dict[str, dict[str, int]] = {}
    for row in rows:
        table.setdefault(row["probe"], {})[row["quantity"]] = int(row["count"])
    quantities = ["nitrate", "level", "depth", "temperature", "conductivity", "battery"]
    print("\nStored readings per probe and quantity (measurement `reading`):")
    print(f"  {'probe':<7}" + "".join(f"{q:>13}" for q in quantities))
    for probe in sorted(table):
        print(f"  {probe:<7}" + "".join(f"{table[probe].get(q, 0):>13}" for q in quantities))
    total = sum(sum(counts.values()) for counts in table.values())
    print(f"  total: {total} readings from {len(table)} probes")
    rejected = client.query_rows(q.select(REJECTED, q.count("payload_bytes")).group_by("reason"))
    print("\nRejected (measurement `rejected`, kept for inspection):")
    if not rejected:
        print("  none")
    for row in rejected:
        print(f"  {row['reason']:<20} {int(row['count']):>6}")


def _wait_for_mail(config: Path, timeout_s: float = 60) -> None:
    """Let the running service's mail sender empty its outbox (digest window, delivery)."""
    deadline = time.monotonic() + timeout_s
    time.sleep(4.0)  # the alerts of the last batch, then the demo's 3 s digest window
    while time.monotonic() < deadline:
        status = json.loads("\n".join(_gwmon(config, "mail", "status", "--format", "json")))
        if status["events_waiting"] == 0 and status["mails_queued"] == 0:
            return
        time.sleep(1.0)


def _print_trend(config: Path) -> None:
    rows = json.loads("\n".join(_gwmon(config, "trend", "--format", "json")))
    print("\nGrwV Anlage 6 trend test (`gwmon trend`; results in measurement `trend`):")
    by_outcome: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        by_outcome.setdefault((row["verdict"], row["reason"]), []).append(row["probe"])
    for (verdict, reason), probes in sorted(by_outcome.items()):
        print(f"  {verdict}: {len(probes)} probes ({', '.join(probes)})")
        if reason:
            print(f"    reason: {reason}")
    reached = [row["probe"] for row in rows if row["reversal_start_reached"]]
    start = f"{TREND_REVERSAL_START_MG_L:g} mg/L"
    print(f"  trend-reversal start ({start}) reached: {', '.join(reached) or 'none'}")


def _print_alerts_and_mail(config: Path, run_dir: Path) -> None:
    print("\nAlerts (measurement `alert`; `gwmon alerts list --config ...`):")
    for line in _gwmon(config, "alerts", "list"):
        print(f"  {line}")
    maildir = run_dir / "mail" / "maildir" / "new"
    mails = sorted(maildir.glob("*")) if maildir.exists() else []
    print(f"\nAlert mails delivered to the local maildir {maildir} ({len(mails)}):")
    for path in mails:
        with path.open("rb") as handle:
            message = BytesParser(policy=policy.default).parse(handle)
        print(f"  To: {message['To']}\n      {message['Subject']}")
    if mails:
        print(f"  (RFC 5322 files: open with any mail program, e.g. mutt -f {maildir.parent})")


def _gwmon(config: Path, *args: str) -> list[str]:
    """Run a gwmon subcommand like an operator would; return its output lines."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gwmon.cli",
            "--log-level",
            "WARNING",
            *args,
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        msg = f"gwmon {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        raise RuntimeError(msg)
    return result.stdout.splitlines()


def _months(start_s: float, end_s: float) -> list[str]:
    first = datetime.fromtimestamp(start_s, UTC)
    last = datetime.fromtimestamp(end_s - 1, UTC)
    months = [f"{first:%Y-%m}"]
    if f"{last:%Y-%m}" != months[0]:
        months.append(f"{last:%Y-%m}")
    return months


def _build_dashboards_and_reports(config: Path, run_dir: Path, months: list[str]) -> None:
    grafana_dir = run_dir / "grafana"
    _gwmon(config, "dashboards", "build", "--out", str(grafana_dir))
    reports_dir = run_dir / "reports"
    reports: list[str] = []
    for month in months:
        reports += _gwmon(config, "report", "--month", month, "--out", str(reports_dir))
    print(
        "\nGrafana dashboards and provisioning (load into your Grafana, docs/grafana.md):\n"
        f"  {grafana_dir}/provisioning/  -> /etc/grafana/provisioning/\n"
        f"  {grafana_dir}/json/          -> the dashboard folder named in the provider YAML\n"
        f"  or push them: gwmon dashboards push --config {config} --grafana-url URL "
        "(token in GRAFANA_TOKEN)"
    )
    print(f"\nMonthly reports per Stabsstelle ({', '.join(months)}):")
    for path in reports:
        print(f"  {path}")


def run_demo(run_dir: Path, *, keep_running: bool = False) -> int:
    run_dir = run_dir.resolve()
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    mosquitto = MosquittoServer(run_dir / "mosquitto")
    influx = InfluxServer(run_dir / "influxdb")
    print(f"gwmon demo: run directory {run_dir}")
    mosquitto.start()
    influx.start()
    ingest: subprocess.Popen[bytes] | None = None
    try:
        print(f"  Mosquitto on {mosquitto.url}, InfluxDB on {influx.url}")
        config_path = _write_config(run_dir, mosquitto, influx)
        ingest_log = run_dir / "gwmon-run.log"
        ingest = _start_ingest(config_path, ingest_log)
        print(f"  gwmon run started (log: {ingest_log})")

        scenario = load_scenario(DEMO_SCENARIO)
        print(f"  simulating '{scenario.name}': {scenario.description}")
        fleet = Fleet(scenario, run_dir / "registry.csv", mosquitto.url, speed=math.inf)
        summary = fleet.run()
        truth_path = run_dir / "truth.csv"
        fleet.write_truth(truth_path)
        sent_nitrate = sum(
            1
            for row in fleet.truth()
            if row.quantity == "nitrate" and row.delivery == "acked" and row.sent_value is not None
        )
        print(
            f"  fleet done in {summary.wall_s:.1f} s: {summary.probes} probes, {summary.cycles} "
            f"sampling cycles, {summary.acked_packs} packs acknowledged by the broker "
            f"(ground truth: {truth_path})"
        )
        config = load_config(config_path)
        client = InfluxClient(config.influxdb)
        stored = _wait_until_stored(client, sent_nitrate)
        _wait_for_mail(config_path)
        ingest.send_signal(signal.SIGTERM)
        ingest.wait(60)
        ingest = None
        print(f"  nitrate values sent and acknowledged: {sent_nitrate}, stored: {stored}")
        _print_storage_summary(client)
        _print_trend(config_path)
        _print_alerts_and_mail(config_path, run_dir)
        _build_dashboards_and_reports(config_path, run_dir, _months(summary.start_s, summary.end_s))
        print(
            "\nLook at it:\n"
            f"  config:        {config_path}\n"
            f"  ingest log:    {ingest_log}\n"
            f"  ground truth:  {truth_path}\n"
            f"  query InfluxDB (while running): influx -host 127.0.0.1 -port {influx.port} "
            f"-database gwmon -execute {shell_double_quoted(EXAMPLE_QUERY)}\n"
            f"  restart the demo servers later: mosquitto -c {mosquitto.workdir}/mosquitto.conf & "
            f"influxd -config {influx.workdir}/influxdb.conf &"
        )
        if keep_running:
            print("\nServers keep running; press Ctrl-C to stop them.")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        return 0
    finally:
        if ingest is not None and ingest.poll() is None:
            ingest.send_signal(signal.SIGTERM)
            ingest.wait(60)
        mosquitto.stop()
        influx.stop()
