"""Two `gwmon run` processes in one shared subscription group with analytics on
([analytics.scale_out]) against one process on the same stream: each message is taken
by one process, every reading is stored, each probe is evaluated in exactly one
process (its partition's owner), and the alerts and qc flags are the same."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from gwmon.analytics import partition_of
from gwmon.ingest import load_registry
from gwmon.ingest.devservers import InfluxDatabase, InfluxServer, MosquittoServer
from ingest_helpers import DEMO_REGISTRY, T0, data_topic, pack, publish, write_config

HOURS = 48
PER_PACK = 6
PARTITIONS = 4
# Alert fields that hold wall-clock arrival times: they differ between any two runs.
ARRIVAL_FIELDS = {"arrival_at"}


def nitrate(index: int, hour: int) -> float:
    """A breach episode (44 -> 60 -> 30 mg/L) at every third probe, else a quiet well."""
    if index % 3 == 0:
        peak = 44 + 2 * hour if hour <= 8 else 60 - 2 * (hour - 8)
        return round(max(peak, 30.0) + 0.01 * (hour % 3), 2)
    return round(20 + index % 5 + 0.3 * ((hour * 7 + index) % 5), 2)


def stream(probes: list[str]) -> list[tuple[str, bytes]]:
    """Hours 24-47 first (live), then the buffered hours 0-23 (late), then duplicates."""
    messages: list[tuple[str, bytes]] = []
    for hours in (range(24, HOURS), range(24)):
        for index, probe in enumerate(probes):
            hour_list = list(hours)
            for start in range(0, len(hour_list), PER_PACK):
                records = [
                    {"n": "nitrate", "u": "mg/L", "v": nitrate(index, h), "t": h * 3600}
                    for h in hour_list[start : start + PER_PACK]
                ]
                messages.append((data_topic(probe), pack(probe, records, base_time=T0)))
    return messages + messages[:10]  # QoS 1 redelivery looks like this


def history_rows(state_dir: Path) -> int:
    path = state_dir / "analytics.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        # Retained readings: `history` rows and those of the runs (8 bytes a time).
        count = db.execute(
            "SELECT (SELECT count(*) FROM history) + "
            "(SELECT coalesce(sum(length(times) / 8), 0) FROM history_run)"
        )
        return int(count.fetchone()[0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0
    finally:
        db.close()


def state_content(state_dir: Path) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """The probes whose readings the state holds, and its alert book (by alert id)."""
    db = sqlite3.connect(state_dir / "analytics.sqlite3")
    try:
        probes = {
            row[0]
            for row in db.execute("SELECT probe FROM history UNION SELECT probe FROM history_run")
        }
        alerts = {}
        for alert_id, body in db.execute("SELECT alert_id, body FROM alerts"):
            alerts[alert_id] = {
                k: v for k, v in json.loads(body).items() if k not in ARRIVAL_FIELDS
            }
    finally:
        db.close()
    return probes, alerts


def held(book: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The alerts that held. A withdrawn alert (opened on part of a probe's readings,
    withdrawn when the rest arrived) depends on the order in which the readings
    arrived, which differs between any two runs, so it is checked only for its shape."""
    for alert in book.values():
        if alert["withdrawn"]:
            assert alert["state"] == "resolved" and alert["resolved_at"] == alert["opened_at"]
    return {aid: alert for aid, alert in book.items() if not alert["withdrawn"]}


@contextmanager
def gwmon_run(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gwmon.cli", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0, log.read_text()


def wait_for(condition: Any, what: str, logs: list[Path], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(
        f"timed out waiting for {what}:\n" + "\n".join(p.read_text() for p in logs)
    )


def wait_subscribed(log: Path) -> None:
    wait_for(lambda: "ingest running" in log.read_text(), "ingest running", [log], timeout=60)


def messages_received(log: Path) -> float:
    """`gwmon_messages_received_total` from the /metrics endpoint the log names."""
    found = re.search(r"metrics at (http://\S+/metrics)", log.read_text())
    assert found, log.read_text()
    text = requests.get(found.group(1), timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gwmon_messages_received_total":
                return sample.value
    raise AssertionError(f"no gwmon_messages_received_total at {found.group(1)}")


def ingest_totals(database: InfluxDatabase) -> dict[str, tuple[int, int]]:
    rows = database.rows(
        'SELECT last("received") AS received, last("readings") AS readings '
        'FROM "ingest_stats" GROUP BY "ingestor"'
    )
    return {row["ingestor"]: (row["received"], row["readings"]) for row in rows}


def alert_points(database: InfluxDatabase) -> set[tuple[Any, ...]]:
    """The present state (latest point) of every alert that held (not withdrawn)."""
    rows = database.rows(
        'SELECT "alert_id", "state", "value", "opened_at_s", "resolved_at_s", "withdrawn" '
        'FROM "alert" GROUP BY "probe", "kind"'
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["time"]):
        latest[row["alert_id"]] = row
    return {
        (aid, r["state"], r["value"], r["opened_at_s"], r["resolved_at_s"])
        for aid, r in latest.items()
        if not r["withdrawn"]
    }


def qc_points(database: InfluxDatabase) -> set[tuple[Any, ...]]:
    rows = database.rows('SELECT "value", "detector" FROM "qc" GROUP BY "probe", "flag"')
    return {(r["probe"], r["flag"], r["time"], r["value"], r["detector"]) for r in rows}


def test_two_processes_in_one_group_evaluate_each_probe_once_with_the_same_alerts(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    probes = sorted(p.probe_id for p in load_registry(DEMO_REGISTRY))
    messages = stream(probes)
    sent_readings = sum(len(json.loads(payload)) for _, payload in messages)
    distinct = len(probes) * HOURS
    results = {}
    for mode in ("single", "pair"):
        mosquitto = MosquittoServer(tmp_path / mode / "mosquitto")
        mosquitto.start()
        database = influxdb.new_database()
        try:
            results[mode] = run_mode(mode, tmp_path / mode, mosquitto, database, messages, distinct)
        finally:
            mosquitto.stop()
        _, states = results[mode]
        assert database.count("reading", "", "value") == distinct
        totals = ingest_totals(database)
        assert sum(received for received, _ in totals.values()) == len(messages)
        assert sum(readings for _, readings in totals.values()) == sent_readings
        if mode == "pair":
            assert len(totals) == 2 and all(received > 0 for received, _ in totals.values())
            (probes_a, _), (probes_b, _) = states
            assert probes_a.isdisjoint(probes_b)
            assert probes_a | probes_b == set(probes)
            assert {partition_of(p, PARTITIONS) for p in probes_a} <= {0, 1}
            assert {partition_of(p, PARTITIONS) for p in probes_b} <= {2, 3}
    (single_db, single_states), (pair_db, pair_states) = results["single"], results["pair"]
    single_book = held(single_states[0][1])
    pair_book = held(pair_states[0][1]) | held(pair_states[1][1])
    assert len(pair_book) == len(held(pair_states[0][1])) + len(held(pair_states[1][1]))
    assert any(alert["kind"] == "breach" for alert in single_book.values())
    assert pair_book == single_book
    assert pair_db == single_db


def run_mode(
    mode: str,
    directory: Path,
    mosquitto: MosquittoServer,
    database: InfluxDatabase,
    messages: list[tuple[str, bytes]],
    expected_rows: int,
) -> tuple[tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]], list[Any]]:
    members = ["a"] if mode == "single" else ["a", "b"]
    configs, logs = [], []
    for number, member in enumerate(members):
        extra = '\n[analytics]\nstate_dir = "state"\n'
        mqtt_extra = ""
        if mode == "pair":
            owned = [0, 1] if number == 0 else [2, 3]
            mqtt_extra = 'shared_group = "gwmon"'
            extra += (
                f"[analytics.scale_out]\nenabled = true\npartitions = {PARTITIONS}\n"
                f"owned = {owned}\n"
            )
        configs.append(
            write_config(
                directory / member,
                mosquitto,
                database,
                client_id=f"gwmon-{member}",
                extra=extra,
                mqtt_extra=mqtt_extra,
            )
        )
        logs.append(directory / f"{member}.log")
    states = [directory / member / "state" for member in members]
    with ExitStack() as stack:
        for config, log in zip(configs, logs, strict=True):
            stack.enter_context(gwmon_run(config, log))
        for log in logs:
            wait_subscribed(log)
        publish(mosquitto, messages)
        wait_for(
            lambda: sum(history_rows(s) for s in states) >= expected_rows,
            "every reading evaluated",
            logs,
        )
        # The last messages repeat earlier ones: the evaluated rows are complete before
        # they are read (a full batch reads no more while its write is in flight). Stop
        # only once every message was taken, as each process's /metrics counts them.
        wait_for(
            lambda: sum(messages_received(log) for log in logs) >= len(messages),
            "every message received",
            logs,
        )
    return (alert_points(database), qc_points(database)), [state_content(s) for s in states]
