"""`gwmon sim` through the broker into `gwmon run`: what the probes sampled is what is stored."""

from __future__ import annotations

import csv
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from ingest_helpers import running_service, wait_for_count, write_config

NS = 1_000_000_000


def test_gwmon_sim_smoke_scenario_is_stored_exactly_as_sent(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = write_config(
        tmp_path, mosquitto, influx_db, extra='[sim]\nscenario = "smoke"\ntruth_file = "truth.csv"'
    )
    with running_service(config):
        result = subprocess.run(
            [sys.executable, "-m", "gwmon.cli", "sim", "--config", str(config)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        with (tmp_path / "truth.csv").open(newline="") as handle:
            truth = [
                row
                for row in csv.DictReader(handle)
                if row["quantity"] == "nitrate" and row["sent_value"]
            ]
        assert len(truth) == 3 * 48
        wait_for_count(influx_db, "reading", len(truth), where="quantity = 'nitrate'")
    stored = {
        (row["probe"], row["time"] // NS): row["value"]
        for row in influx_db.rows(
            "SELECT value FROM reading WHERE quantity = 'nitrate' GROUP BY probe"
        )
    }
    expected = {}
    for row in truth:
        value = Decimal(row["sent_value"])
        if row["record"] == "nitrate_n":  # TH-01 reports NO3-N; gwmon stores NO3
            value *= Decimal("4.427")
        expected[(row["probe_id"], int(row["t_stamp"]))] = float(value)
    assert stored == expected
