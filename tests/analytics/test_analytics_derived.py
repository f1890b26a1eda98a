"""A value derived from a flagged value inherits the flag; level has a plausibility range
from the well's geometry by default (issue 9, point 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.analytics_helpers import HOUR, NS, T0, probe, registry, write_config
from gwmon.analytics import AnalyticsSettings, ProbeEvaluator, build_observer, build_plan
from gwmon.analytics import default_detectors as detectors
from gwmon.ingest import GwmonConfig, Reading, load_config, load_registry
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from gwmon.storage import InfluxClient
from ingest_helpers import data_topic, pack, publish, running_service, wait_for_count
from ingest_helpers import write_config as write_ingest_config

GROUND = 112.9  # the test probe's ground level (m NHN)


def depth_and_level(hour: float, depth: float, probe_id: str = "P-1") -> list[Reading]:
    """What the ingest stores for a `depth` record: the depth and the level derived from
    it, with the record name `depth` (docs/wire-format.md)."""
    time_ns = int((T0 + hour * HOUR) * NS)
    level = round(GROUND - depth, 6)
    return [
        Reading(probe_id, "depth", time_ns, depth, "depth", time_ns + 5 * NS),
        Reading(probe_id, "level", time_ns, level, "depth", time_ns + 5 * NS),
    ]


def _flags(influx_db: InfluxDatabase) -> list[tuple[str, str, float]]:
    rows = influx_db.rows('SELECT "value", "detector", "quantity", "flag" FROM "qc"')
    return sorted((r["quantity"], r["flag"], r["value"]) for r in rows)


def test_level_range_default_comes_from_the_well_geometry() -> None:
    p = probe(ground_level_m_nhn=112.9, measuring_point_m_nhn=113.52)
    plan, problems = build_plan(AnalyticsSettings(), detectors(), p)
    assert problems == [] and plan is not None
    level_range = next(item for item in plan.qc["level"] if item.detector.name == "range")
    # depth range -10..500 m below ground, carried over: 112.9 - 500 .. 113.52 + 10
    assert (level_range.params["min"], level_range.params["max"]) == (-387.1, 123.52)
    # The depth range set in the config moves the level range with it ...
    narrow = AnalyticsSettings(qc={"depth": {"range": {"min": -1.0, "max": 60.0}}})
    plan, _ = build_plan(narrow, detectors(), p)
    assert plan is not None
    level_range = next(item for item in plan.qc["level"] if item.detector.name == "range")
    assert (level_range.params["min"], level_range.params["max"]) == (52.9, 114.52)
    # ... and an explicit level range (registry qc column) wins.
    own = probe(qc={"level.range.min": "100", "level.range.max": "115"})
    plan, _ = build_plan(narrow, detectors(), own)
    assert plan is not None
    level_range = next(item for item in plan.qc["level"] if item.detector.name == "range")
    assert (level_range.params["min"], level_range.params["max"]) == (100.0, 115.0)


def test_a_level_outside_the_well_is_flagged_even_when_sent_directly() -> None:
    plan, _ = build_plan(AnalyticsSettings(), detectors(), probe(measuring_point_m_nhn=113.52))
    assert plan is not None
    evaluator = ProbeEvaluator(plan)
    t = T0 * NS
    flags = evaluator.feed(t, "level", 130.0, t)  # 16 m above the casing top
    assert [(f.flag, f.detail) for f in flags] == [("range", "130 above physical maximum 123.52")]


def test_depth_600_flags_depth_and_derived_level_and_opens_no_level_low(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name)
    p = probe(level_min_m_nhn=107.2, level_max_m_nhn=112.4)
    obs = build_observer(config, registry(p), InfluxClient(config.influxdb))
    readings = [r for hour, depth in enumerate([3.0, 3.05, 600.0, 600.0]) for r in
                depth_and_level(hour, depth)]  # fmt: skip
    obs.batch_stored(readings)
    obs.close()
    assert _flags(influx_db) == [
        ("depth", "range", 600.0),
        ("depth", "range", 600.0),
        ("level", "derived", -487.1),
        ("level", "derived", -487.1),
        ("level", "range", -487.1),
        ("level", "range", -487.1),
        # ... and the level's own checks see the jump to it too
        ("level", "rate_of_change", -487.1),
        ("level", "rate_of_change", -487.1),
    ]
    details = influx_db.rows(
        'SELECT "detail" FROM "qc" WHERE "quantity" = \'level\' AND "flag" = \'derived\''
    )
    assert details[0]["detail"] == (
        "derived from depth flagged range: 600 above physical maximum 500"
    )
    kinds = influx_db.rows('SELECT last("state") AS "state" FROM "alert" GROUP BY "kind"')
    assert {row["kind"]: row["state"] for row in kinds} == {"sensor_fault": "open"}


def test_a_derived_level_inherits_a_flag_its_own_checks_do_not_raise(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    """A depth spike of 0.8 m (probe limit 0.5 m) passes every level check (spike 2 m,
    rate 1 m/h, range): only the inherited flag keeps the level out of the alarms."""
    config = write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name)
    p = probe(
        level_min_m_nhn=104.5,
        level_max_m_nhn=112.4,
        qc={"depth.spike.max_jump": "0.5", "depth.spike.window": "3"},
    )
    obs = build_observer(config, registry(p), InfluxClient(config.influxdb))
    depths = [8.0, 8.0, 8.0, 8.8, 8.0, 8.0, 8.0, 8.0]
    obs.batch_stored([r for h, d in enumerate(depths) for r in depth_and_level(h, d)])
    assert _flags(influx_db) == [("depth", "spike", 8.8), ("level", "derived", 104.1)]
    alerts = {(a.kind.value, a.state.value, a.quantity) for a in obs.alerts()}
    assert alerts == {("sensor_fault", "resolved", "depth")}  # no level_low at 104.1 < 104.5
    obs.close()


def test_a_directly_sent_level_at_the_same_time_inherits_nothing(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name)
    obs = build_observer(config, registry(probe()), InfluxClient(config.influxdb))
    t = T0 * NS
    obs.batch_stored(
        [
            Reading("P-1", "depth", t, 600.0, "depth", t),
            Reading("P-1", "level", t, 104.9, "level", t),  # measured by a second sensor
        ]
    )
    obs.close()
    assert _flags(influx_db) == [("depth", "range", 600.0)]


@pytest.mark.servers
def test_through_the_ingest_a_600_m_depth_opens_only_a_sensor_fault(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    """The ingest derives the level (docs/wire-format.md); analytics flags both."""
    registry_csv = tmp_path / "own-registry.csv"
    registry_csv.write_text(
        "probe_id,site,municipality,lat,lon,ground_level_m_nhn,level_min_m_nhn\n"
        "TH-09,Thallwitz-Test,Thallwitz,51.43,12.68,112.9,107.2\n",
        encoding="utf-8",
    )
    path = write_ingest_config(
        tmp_path,
        mosquitto,
        influx_db,
        registry=registry_csv,
        extra=f'\n[analytics]\nstate_dir = "{tmp_path / "state"}"\n',
    )
    config: GwmonConfig = load_config(path)
    reg = load_registry(config.registry_path)
    store = InfluxClient(config.influxdb)
    obs = build_observer(config, reg, store)
    records = [
        {"n": "depth", "u": "m", "v": 8.1},
        {"t": 3600, "n": "depth", "u": "m", "v": 600},
        {"t": 7200, "n": "depth", "u": "m", "v": 600},
    ]
    with running_service(path, observers=[obs]):
        publish(mosquitto, [(data_topic("TH-09"), pack("TH-09", records))])
        wait_for_count(influx_db, "qc", 8)
    obs.close()
    levels = influx_db.rows('SELECT "value" FROM "reading" WHERE "quantity" = \'level\'')
    assert [r["value"] for r in levels] == [104.8, -487.1, -487.1]
    assert _flags(influx_db) == [
        ("depth", "range", 600.0),
        ("depth", "range", 600.0),
        ("level", "derived", -487.1),
        ("level", "derived", -487.1),
        ("level", "range", -487.1),
        ("level", "range", -487.1),
        # ... and the level's own checks see the jump to it too
        ("level", "rate_of_change", -487.1),
        ("level", "rate_of_change", -487.1),
    ]
    kinds = influx_db.rows('SELECT last("state") AS "state" FROM "alert" GROUP BY "kind"')
    assert {row["kind"]: row["state"] for row in kinds} == {"sensor_fault": "open"}
