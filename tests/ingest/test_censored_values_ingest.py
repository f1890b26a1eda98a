"""Values below the limit of quantification (issue 9 point 2, wire and storage side) on
real Mosquitto and InfluxDB: stored as the LOQ in canonical units with censored=true."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from ingest_helpers import (
    T0,
    data_topic,
    pack,
    publish,
    running_service,
    wait_for_count,
    write_config,
)

NS = 1_000_000_000


def test_censored_nitrate_is_stored_as_the_loq_marked_censored(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    records: list[dict[str, Any]] = [
        {"n": "nitrate", "u": "mg/L", "vs": "<0.5"},
        {"n": "nitrate_n", "u": "mg/L", "vs": "< 0.5", "t": 60},
        {"n": "nitrate", "u": "kg/m3", "vs": "<0.0012", "t": 120},
        {"n": "nitrate", "u": "mg/L", "v": 12.5, "t": 180},
        {"n": "level", "u": "m", "vs": "<0.5", "t": 240},
    ]
    with running_service(config):
        publish(mosquitto, [(data_topic("LE-07"), pack("LE-07", records))])
        wait_for_count(influx_db, "reading", 4)
        wait_for_count(influx_db, "rejected", 1, field="payload_bytes")
    rows = influx_db.rows(
        "SELECT value, censored FROM reading WHERE probe = 'LE-07' GROUP BY quantity"
    )
    assert [
        (row["quantity"], row["time"] // NS, row["value"], row["censored"]) for row in rows
    ] == [
        ("nitrate", T0, 0.5, True),
        ("nitrate", T0 + 60, 2.2135, True),  # 0.5 mg/L NO3-N x 4.427
        ("nitrate", T0 + 120, 1.2, True),
        ("nitrate", T0 + 180, 12.5, None),  # measured: no censored field at all
    ]
    (rejected,) = influx_db.rows("SELECT reason, record_index FROM rejected")
    assert (rejected["reason"], rejected["record_index"]) == ("bad_censored_value", 4)
