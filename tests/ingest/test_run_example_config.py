"""A new user's first run: `gwmon config example > gwmon.toml`, point [registry] at their
own wells, `gwmon run`. The service checks only what it uses, never the simulator's
[sim] section (issue 9, point 1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gwmon.cli import example_toml
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from ingest_helpers import data_topic, pack, publish

pytestmark = pytest.mark.servers

# Three wells of another utility: none of them is in the demo scenario's fleet.
OWN_REGISTRY = """\
probe_id,site,municipality,lat,lon,ground_level_m_nhn,nitrate_loq_mg_l
DD-101,Dresden-Hosterwitz,Dresden,51.0223,13.8466,112.4,0.5
DD-102,Dresden-Tolkewitz,Dresden,51.0336,13.8201,110.9,
RI-007,Riesa-Gröba,Riesa,51.3151,13.3120,98.2,
"""


def _gwmon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gwmon.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GWMON_")}


def _example_with_own_registry(directory: Path) -> Path:
    """The example config as printed, with only the placeholder registry file provided."""
    config = directory / "gwmon.toml"
    printed = _gwmon("config", "example", env=_clean_env())
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == example_toml()
    config.write_text(printed.stdout, encoding="utf-8")
    (directory / "registry.csv").write_text(OWN_REGISTRY, encoding="utf-8")
    return config


def test_example_names_a_placeholder_registry_that_must_be_replaced() -> None:
    text = example_toml()
    assert 'path = "registry.csv"' in text
    assert "REPLACE with your own probe registry CSV" in text
    assert "read only by `gwmon sim`. `gwmon run` ignores\n# this section" in text


def test_example_config_with_an_own_registry_runs_stores_and_stops_cleanly(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    config = _example_with_own_registry(tmp_path)
    env = {
        **_clean_env(),
        # What an operator sets for their servers; the file stays the printed example.
        "GWMON_MQTT__URL": mosquitto.url,
        "GWMON_INFLUXDB__URL": influx_db.url,
        "GWMON_INFLUXDB__DATABASE": influx_db.name,
        # Any free port for /metrics: the default 9746 may be taken by another gwmon run
        # on this machine (a parallel test run).
        "GWMON_OPS__PORT": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gwmon.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        measured = int(time.time()) - 60
        payload = pack(
            "DD-101", [{"n": "nitrate", "u": "mg/L", "v": 23.4}], base_time=float(measured)
        )
        stored: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        # Publish until stored: the first message may come before the service subscribed
        # (the same point again is the same point: stored once).
        while not stored and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            publish(mosquitto, [(data_topic("DD-101"), payload)])
            time.sleep(1.0)
            stored = influx_db.rows(
                'SELECT "value", "site", "municipality" FROM "reading" '
                "WHERE \"quantity\" = 'nitrate'"
            )
        assert stored == [
            {
                "time": measured * 1_000_000_000,
                "value": 23.4,
                "site": "Dresden-Hosterwitz",
                "municipality": "Dresden",
            }
        ]
        # A running service has not loaded what only other commands need: matplotlib
        # (charts: about 30 MiB) and numpy (the trend test: about 12 MiB), issue 11 target 4.
        mapped = Path(f"/proc/{process.pid}/maps").read_text(encoding="utf-8")
        assert "/matplotlib/" not in mapped
        assert "/numpy/" not in mapped
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "ingest stopped" in stderr
    assert "not in the registry" not in stderr and "[sim]" not in stderr


def test_config_check_reports_the_simulator_only_as_a_note(tmp_path: Path) -> None:
    config = _example_with_own_registry(tmp_path)
    checked = _gwmon("config", "check", "--config", str(config), env=_clean_env())
    assert checked.returncode == 0, checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0] == (
        f"OK: {config}; registry {tmp_path / 'registry.csv'}: 3 probes in 2 municipalities "
        "(Dresden, Riesa)"
    )
    assert len(lines) == 2
    assert lines[1].startswith(
        "note (simulator, `gwmon sim` only; `gwmon run` ignores [sim]): "
        f"{config}: [sim] scenario 'wertvoll-demo' names probes ['BE-01', "
    )
    assert "not in the registry" in lines[1]
    # Without a [sim] section there is nothing to note.
    without_sim = config.read_text().split("# Simulated probes for tests and demos")[0]
    config.write_text(without_sim)
    quiet = _gwmon("config", "check", "--config", str(config), env=_clean_env())
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.splitlines() == lines[:1]


def test_gwmon_sim_checks_its_section_against_the_registry(tmp_path: Path) -> None:
    config = _example_with_own_registry(tmp_path)
    result = _gwmon("sim", "--config", str(config), env=_clean_env())
    assert result.returncode == 2
    assert result.stderr.startswith("gwmon: simulator configuration problems:\n  ")
    assert "[sim] scenario 'wertvoll-demo' names probes ['BE-01', " in result.stderr
    assert "add them there or edit the scenario" in result.stderr
