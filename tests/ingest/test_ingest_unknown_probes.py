"""Messages from probe ids outside the registry, on the real servers: recorded without
growing InfluxDB's series (no untrusted tag values) and logged at a bounded rate."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from ingest_helpers import (
    data_topic,
    pack,
    publish,
    running_service,
    wait_for_count,
    wait_until,
    write_config,
)

UNKNOWN = 2000


def test_unknown_probe_ids_make_one_series_and_a_bounded_log(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx_db: InfluxDatabase,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="gwmon.ingest")
    config = write_config(tmp_path, mosquitto, influx_db)
    ids = [f"XX-{number:05d}" for number in range(UNKNOWN)]
    messages = [
        (data_topic(probe), pack(probe, [{"n": "nitrate", "u": "mg/L", "v": 9.5}])) for probe in ids
    ]
    with running_service(config) as service:
        publish(mosquitto, messages)
        wait_until(lambda: service.counters.received == UNKNOWN, what="all received")
        wait_for_count(influx_db, "rejected", UNKNOWN, field="payload_bytes")
    assert service.counters.rejected_messages == UNKNOWN
    assert service.rejected_by_reason == {"unknown_probe": UNKNOWN}

    series = influx_db.query("SHOW SERIES FROM rejected")
    assert [row[0] for row in series[0]["values"]] == [
        "rejected,ingestor=gwmon-test,probe=_unknown,reason=unknown_probe"
    ]
    rows = influx_db.rows("SELECT probe_id, topic FROM rejected")
    assert sorted(row["probe_id"] for row in rows) == ids
    assert all(row["topic"] == data_topic(row["probe_id"]) for row in rows)

    # A handful of lines name single rejections; summaries count the rest.
    lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == "gwmon.ingest.intake" and "rejected" in record.getMessage()
    ]
    single = [line for line in lines if line.startswith("rejected message on ")]
    summaries = [re.search(r"(\d+) more rejected messages", line) for line in lines]
    suppressed = sum(int(match.group(1)) for match in summaries if match)
    assert 1 <= len(single) <= 40
    assert len(single) + suppressed == UNKNOWN
    assert len(lines) <= 60


def test_a_registered_probe_keeps_its_own_tag_in_rejected(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    with running_service(config):
        publish(mosquitto, [(data_topic("LE-01"), b"[]"), (data_topic("ZZ-99"), b"[]")])
        wait_for_count(influx_db, "rejected", 2, field="payload_bytes")
    rows = influx_db.rows("SELECT reason, probe, probe_id, payload_bytes FROM rejected")
    assert sorted((row["reason"], row["probe"], row["probe_id"]) for row in rows) == [
        ("empty_pack", "LE-01", None),
        ("unknown_probe", "_unknown", "ZZ-99"),
    ]
