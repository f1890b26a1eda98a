"""Barometric compensation in the running ingest: a logger's absolute pressure (kPa)
arrives before its barometer's (hPa, sent late from its buffer); once both are stored
the water column, depth and level are derived against the hand-computed values, stored
beside the raw pressure (marked derived) and handed on to analytics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from gwmon.cli import build_parser
from gwmon.ingest import (
    BarometricSettings,
    CompensatingObserver,
    Compensator,
    Reading,
    load_config,
    load_registry,
)
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from gwmon.storage import READING, InfluxClient, InfluxSettings
from gwmon.storage import influxql as q
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
REGISTRY = (
    "probe_id,site,municipality,lat,lon,ground_level_m_nhn,measuring_point_m_nhn,"
    "sensor_depth_below_mp_m,kind,barometer\n"
    "BARO-1,Wetterhütte,Leipzig,51.3,12.4,121.0,,,barometer,\n"
    "LOG-1,Brunnen 1,Leipzig,51.3,12.4,120.0,120.5,12.0,,BARO-1\n"
)


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[Reading]] = []

    def batch_stored(self, readings: Sequence[Reading]) -> None:
        self.batches.append(list(readings))

    def tick(self, now_s: float) -> None:
        del now_s

    def close(self) -> None:
        pass


def stored(database: InfluxDatabase, probe: str) -> dict[tuple[str, int], tuple[object, ...]]:
    """(quantity, UNIX s) -> (value, derived_from, air_pressure_hpa) of the probe."""
    client = InfluxClient(InfluxSettings(url=database.url, database=database.name))
    statement = (
        q.select(READING, "value", "derived_from", "air_pressure_hpa")
        .where(q.eq("probe", probe))
        .group_by("quantity")
    )
    try:
        rows = client.query_rows(statement)
    finally:
        client.close()
    return {
        (str(row["quantity"]), int(row["time"]) // NS): (
            row["value"], row.get("derived_from"), row.get("air_pressure_hpa")
        )
        for row in rows
    }  # fmt: skip


def test_late_barometer_completes_the_compensation(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    registry_path = tmp_path / "registry.csv"
    registry_path.write_text(REGISTRY, encoding="utf-8")
    config_path = write_config(tmp_path / "run", mosquitto, influx_db, registry=registry_path)
    config = load_config(config_path)
    registry = load_registry(config.registry_path)
    store = InfluxClient(config.influxdb)
    recorder = Recorder()
    observer = CompensatingObserver(Compensator(registry, store, BarometricSettings()), recorder)
    try:
        with running_service(config_path, observers=[observer]):
            # 111.325 kPa = 1113.25 hPa at T0 (no barometer data yet: nothing derived)
            logger_pack = pack("LOG-1", [{"n": "pressure_abs", "u": "kPa", "v": 111.325}])
            publish(mosquitto, [(data_topic("LOG-1"), logger_pack)])
            wait_for_count(influx_db, "reading", 1)
            barometer_pack = pack(
                "BARO-1",
                [
                    {"n": "air_pressure", "u": "hPa", "v": 1012.0, "t": -1800},
                    {"n": "air_pressure", "u": "hPa", "v": 1014.0, "t": 1800},
                ],
            )
            publish(mosquitto, [(data_topic("BARO-1"), barometer_pack)])
            wait_for_count(influx_db, "reading", 6)
    finally:
        store.close()
    # p_air(T0) = 1013.0 hPa (half way); h = 10025 Pa / (999.7 * 9.80665) = 1.0226 m;
    # level = 120.5 - 12.0 + 1.0226 = 109.5226 m NHN; depth = 120.0 - 109.5226.
    assert stored(influx_db, "LOG-1") == {
        ("pressure_abs", T0): (1113.25, None, None),
        ("water_column", T0): (1.0226, "pressure_abs", 1013.0),
        ("level", T0): (109.5226, "pressure_abs", 1013.0),
        ("depth", T0): (10.4774, "pressure_abs", 1013.0),
    }
    derived = [
        r
        for batch in recorder.batches
        for r in batch
        if r.record_name == "pressure_abs" and r.quantity != "pressure_abs"
    ]
    assert sorted((r.quantity, r.value) for r in derived) == [
        ("depth", 10.4774), ("level", 109.5226), ("water_column", 1.0226),
    ]  # fmt: skip


def compensate_cli(*argv: str) -> int:
    """`gwmon compensate` through the CLI's parser (no logging set-up)."""
    args = build_parser().parse_args(["compensate", *argv])
    code: int = args.handler(args)
    return code


def test_gwmon_compensate_derives_a_stored_period_once(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx_db: InfluxDatabase,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry_path = tmp_path / "registry.csv"
    registry_path.write_text(REGISTRY, encoding="utf-8")
    config = write_config(tmp_path / "run", mosquitto, influx_db, registry=registry_path)
    client = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name))
    logger_tags = {"probe": "LOG-1", "site": "Brunnen 1", "municipality": "Leipzig"}
    baro_tags = {"probe": "BARO-1", "site": "Wetterhütte", "municipality": "Leipzig"}
    client.write_points(
        [
            READING.point({**logger_tags, "quantity": "pressure_abs"}, {"value": 1113.25, "lag_s": 0.0}, T0 * NS),
            READING.point({**baro_tags, "quantity": "air_pressure"}, {"value": 1012.0, "lag_s": 0.0}, (T0 - 1800) * NS),
            READING.point({**baro_tags, "quantity": "air_pressure"}, {"value": 1014.0, "lag_s": 0.0}, (T0 + 1800) * NS),
        ]
    )  # fmt: skip
    client.close()
    period = ["--from", "2025-11-26T07:00:00Z", "--to", "2025-11-26T08:00:00+01:00"]
    assert compensate_cli("--config", str(config), *period) == 0
    assert capsys.readouterr().out == "LOG-1: 3 compensated values stored (new or changed)\n"
    assert stored(influx_db, "LOG-1")[("level", T0)] == (109.5226, "pressure_abs", 1013.0)
    # Nothing changed: nothing is written again.
    assert compensate_cli("--config", str(config), *period, "--probe", "LOG-1") == 0
    assert capsys.readouterr().out == "LOG-1: 0 compensated values stored (new or changed)\n"
    assert compensate_cli("--config", str(config), *period, "--probe", "BARO-1") == 2
    assert "probe 'BARO-1' has no barometer in the registry" in capsys.readouterr().err
    naive = ["--from", "2025-11-26T07:00:00", "--to", "2025-11-26T08:00:00Z"]
    assert compensate_cli("--config", str(config), *naive) == 2
    assert "has no UTC offset" in capsys.readouterr().err
