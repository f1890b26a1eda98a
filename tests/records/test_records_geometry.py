"""Well geometry with history: the file beside the registry, the lookup at a time, and
the ingest's depth-to-level derivation across a re-survey (real Mosquitto/InfluxDB)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gwmon.analytics._settings import level_range_default
from gwmon.ingest import RegistryError, load_registry, parse_dips
from gwmon.ingest._derive import level_from_depth
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from ingest_helpers import (
    DEMO_REGISTRY,
    T0,
    data_topic,
    pack,
    publish,
    running_service,
    wait_for_count,
)
from records.records_helpers import GEOMETRY, REGISTRY

NS = 1_000_000_000
RESURVEY_NS = 1_768_003_200 * NS  # 2026-01-10T00:00:00Z


def files(tmp_path: Path, geometry: str) -> tuple[Path, Path]:
    registry, geometry_path = tmp_path / "registry.csv", tmp_path / "geometry.csv"
    registry.write_text(REGISTRY, encoding="utf-8")
    geometry_path.write_text(geometry, encoding="utf-8")
    return registry, geometry_path


def test_geometry_valid_at_a_time(tmp_path: Path) -> None:
    probe = load_registry(*files(tmp_path, GEOMETRY)).probes["P-1"]
    before, after = probe.geometry_at(RESURVEY_NS - 1), probe.geometry_at(RESURVEY_NS)
    assert (before.measuring_point_m_nhn, before.ground_level_m_nhn, before.source) == (
        113.5,
        112.9,
        "registry",
    )
    assert (after.measuring_point_m_nhn, after.ground_level_m_nhn) == (113.4, 112.8)
    assert (after.sensor_depth_below_mp_m, after.source) == (20.0, "geometry line 2")
    assert probe.ground_level_at(RESURVEY_NS - 1) == 112.9
    assert probe.ground_level_at(RESURVEY_NS + 10**18) == 112.8  # open end
    assert after.level_from_depth_below_mp(3.25) == 110.15
    assert after.depth_from_level(110.15) == 2.65
    assert before.level_from_depth(2.65) == 110.25


def test_closed_periods_fall_back_to_the_registry_row(tmp_path: Path) -> None:
    geometry = (
        "probe_id,valid_from,valid_to,measuring_point_m_nhn,ground_level_m_nhn\n"
        "P-1,2026-01-10T00:00:00Z,2026-02-01T00:00:00+01:00,113.40,112.80\n"
        "P-1,2026-03-01T00:00:00Z,,113.30,112.70\n"
    )
    probe = load_registry(*files(tmp_path, geometry)).probes["P-1"]
    end_ns = 1_769_900_400 * NS  # 2026-01-31T23:00:00Z: the first moment not covered
    assert probe.ground_level_at(end_ns - 1) == 112.8
    assert probe.ground_level_at(end_ns) == 112.9  # back to the registry row
    assert probe.ground_level_at(1_772_323_200 * NS) == 112.7  # 2026-03-01


def test_derived_level_uses_the_ground_level_at_the_measurement_time(tmp_path: Path) -> None:
    probe = load_registry(*files(tmp_path, GEOMETRY)).probes["P-1"]
    assert level_from_depth(probe, 2.0, RESURVEY_NS - 1) == 110.9  # 112.9 - 2.0
    assert level_from_depth(probe, 2.0, RESURVEY_NS) == 110.8  # 112.8 - 2.0


def test_geometry_file_problems_name_their_lines(tmp_path: Path) -> None:
    geometry = (
        "probe_id,valid_from,valid_to,measuring_point_m_nhn,ground_level_m_nhn\n"
        "P-1,2026-01-10T00:00:00Z,,113.40,112.80\n"
        "P-1,2026-02-01T00:00:00Z,,113.30,112.70\n"  # line 3 overlaps line 2 (open end)
        "P-9,2026-01-10T00:00:00Z,,113.40,112.80\n"  # line 4
        "P-2,2026-01-10T00:00:00,,113.40,112.80\n"  # line 5: no offset
        "P-2,2026-01-10T00:00:00Z,2026-01-09T00:00:00Z,113.40,112.80\n"  # line 6
        "P-2,2026-03-10T00:00:00Z,,x,112.80\n"  # line 7
    )
    registry, geometry_path = files(tmp_path, geometry)
    with pytest.raises(RegistryError) as caught:
        load_registry(registry, geometry_path)
    assert caught.value.path == geometry_path
    problems = caught.value.problems
    assert problems[:4] == [
        "line 4: probe_id 'P-9' is not in the registry",
        "line 5: valid_from/valid_to: time '2026-01-10T00:00:00' has no UTC offset; write it "
        "with one, e.g. 2026-03-01T10:20:00+01:00 or Z",
        "line 6: valid_to must be after valid_from (valid_to is the first moment not covered)",
        "line 7: column measuring_point_m_nhn: 'x' is not a number (use a decimal point, e.g. "
        "112.5)",
    ]
    assert problems[4].startswith("geometry line 3: period 2026-02-01T00:00:00Z – … overlaps")
    assert "well geometry file has errors" in str(caught.value)
    registry.write_text(REGISTRY, encoding="utf-8")
    with pytest.raises(RegistryError, match="file not found"):
        load_registry(registry, tmp_path / "nope.csv")


def _config(tmp_path: Path, mosquitto: MosquittoServer, db: InfluxDatabase, geometry: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "registry.csv").write_bytes(DEMO_REGISTRY.read_bytes())
    line = ""
    if geometry:
        (tmp_path / "geometry.csv").write_text(geometry, encoding="utf-8")
        line = 'geometry_path = "geometry.csv"'
    path = tmp_path / "gwmon.toml"
    path.write_text(
        f'[mqtt]\nurl = "{mosquitto.url}"\nclient_id = "gwmon-geometry"\n'
        f'[influxdb]\nurl = "{db.url}"\ndatabase = "{db.name}"\nflush_interval_s = 0.2\n'
        f'[registry]\npath = "registry.csv"\n{line}\n'
        "[ingest]\nstats_interval_s = 3600\n",
        encoding="utf-8",
    )
    return path


def test_a_resurvey_changes_later_levels_and_no_stored_reading(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    # LE-07: ground level 143.4 m NHN in the registry; re-surveyed at T0 + 1 h to 143.1.
    before = _config(tmp_path / "a", mosquitto, influx_db, "")
    with running_service(before):
        publish(
            mosquitto, [(data_topic("LE-07"), pack("LE-07", [{"n": "depth", "u": "m", "v": 8.13}]))]
        )
        wait_for_count(influx_db, "reading", 2)
    stored_before = json.dumps(influx_db.query("SELECT * FROM reading"), sort_keys=True)
    resurvey = (
        "probe_id,valid_from,measuring_point_m_nhn,ground_level_m_nhn\n"
        "LE-07,2025-11-26T08:00:00Z,143.75,143.1\n"  # T0 + 1 h
    )
    after = _config(tmp_path / "b", mosquitto, influx_db, resurvey)
    late = [{"n": "depth", "u": "m", "v": 8.13, "t": 7200}]
    with running_service(after):
        publish(mosquitto, [(data_topic("LE-07"), pack("LE-07", late))])
        wait_for_count(influx_db, "reading", 4)
    rows = influx_db.rows("SELECT value FROM reading WHERE quantity = 'level'")
    assert [(row["time"], row["value"]) for row in rows] == [
        (T0 * NS, 135.27),  # 143.4 - 8.13, stored before the re-survey was known
        ((T0 + 7200) * NS, 134.97),  # 143.1 - 8.13
    ]
    first = influx_db.query(f"SELECT * FROM reading WHERE time <= {T0 * NS}")
    assert json.dumps(first, sort_keys=True) == stored_before


def test_level_range_of_qc_covers_every_surveyed_period(tmp_path: Path) -> None:
    geometry = (
        "probe_id,valid_from,measuring_point_m_nhn,ground_level_m_nhn\n"
        "P-1,2026-01-10T00:00:00Z,114.0,112.5\n"
    )
    probe = load_registry(*files(tmp_path, geometry)).probes["P-1"]
    # Lowest ground 112.5 - 500; highest top 114.0 (period) - (-10).
    assert level_range_default(probe, {"min": -10, "max": 500}) == {"min": -387.5, "max": 124.0}
    plain = load_registry(tmp_path / "registry.csv").probes["P-1"]
    assert level_range_default(plain, {"min": -10, "max": 500}) == {"min": -387.1, "max": 123.5}


def test_shipped_examples_read_without_problems() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    registry = load_registry(examples / "registry-wertvoll.csv", examples / "geometry-wertvoll.csv")
    well = registry.probes["LE-01"]
    assert [g.measuring_point_m_nhn for g in well.geometry_periods] == [132.38]
    dips = parse_dips((examples / "dips-wertvoll.csv").read_bytes(), known_probes=registry)
    assert dips.problems == ()
    assert [(d.probe_id, d.depth_below_mp_m) for d in dips.rows] == [
        ("LE-01", 7.84),
        ("LE-01", 7.91),
        ("LE-02", 8.37),
    ]
    first, second = (well.geometry_at(d.time_ns) for d in dips.rows[:2])
    assert (first.source, second.source) == ("registry", "geometry line 5")
