"""End to end: the `faults` scenario through Mosquitto and `gwmon run` into InfluxDB. What
is stored is exactly what the ground truth says was sent and acknowledged; faulty
payloads are refused for the documented reason; duplicates are stored once."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import gwmon_sim
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from ingest_helpers import running_service, wait_for_count, write_config
from sim.simkit import REGISTRY

NS = 1_000_000_000


def test_faults_scenario_is_stored_as_the_truth_says(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, mosquitto, influx_db)
    fleet = gwmon_sim.Fleet(gwmon_sim.load_scenario("faults"), REGISTRY, mosquitto.url)
    with running_service(config):
        summary = fleet.run(drain_timeout_s=30)
        assert summary.done
        truth = fleet.truth()
        expected: dict[tuple[str, int], float] = {}
        for row in truth:
            if row.quantity != "nitrate" or row.delivery != "acked" or row.sent_value is None:
                continue
            if "malformed" in row.faults:
                continue  # refused by gwmon (unknown_unit on this record)
            value = Decimal(repr(row.sent_value))
            if row.record == "nitrate_n":
                value *= Decimal("4.427")
            expected[(row.probe_id, row.t_stamp)] = float(value)
        wait_for_count(influx_db, "reading", len(expected), where="quantity = 'nitrate'")
        cycles = [r for r in truth if r.quantity == "seq" and r.delivery == "acked"]
        wait_for_count(influx_db, "sequence", len(cycles), field="seq")
        wait_for_count(influx_db, "rejected", 3, field="payload_bytes")
    stored = {
        (row["probe"], row["time"] // NS): row["value"]
        for row in influx_db.rows(
            "SELECT value FROM reading WHERE quantity = 'nitrate' GROUP BY probe"
        )
    }
    assert stored == expected  # spike, drift, flatline, ... exactly as sent; dropouts absent
    # The duplicate sends (LE-08) and the backfill (TH-03) are stored once per cycle.
    sequence = Counter(
        row["probe"] for row in influx_db.rows('SELECT seq FROM "sequence" GROUP BY probe')
    )
    assert sequence == Counter(r.probe_id for r in cycles)
    assert sequence["LE-08"] == 72 and sequence["TH-03"] == 72
    # Clock skew: LE-07 stored at the probe's (skewed) time.
    le07 = sorted(t for (probe, t) in stored if probe == "LE-07")
    assert le07[24] - le07[23] == 3600 + 120
    # The malformed packs: exactly the 3 nitrate records refused, reason unknown_unit.
    rejected = influx_db.rows('SELECT "detail", "topic" FROM "rejected" GROUP BY "reason"')
    assert [(r["reason"], r["topic"]) for r in rejected] == [
        ("unknown_unit", "gw/v1/TH-01/data")
    ] * 3
