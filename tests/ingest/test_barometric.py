"""Barometric compensation: the arithmetic against hand-computed values, interpolation
limits, which windows a batch touches, and the registry's barometer column."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwmon.ingest import (
    BarometricSettings,
    Probe,
    Reading,
    Registry,
    RegistryError,
    WellGeometry,
    load_registry,
)
from gwmon.ingest._barometric import (
    BarometerSeries,
    affected_windows,
    compensate,
    sensor_geometry_at,
    water_column_m,
)

NS = 1_000_000_000
T0 = 1_764_140_400 * NS
HOUR = 3600 * NS
SETTINGS = BarometricSettings()

HEADER = (
    "probe_id,site,municipality,lat,lon,ground_level_m_nhn,measuring_point_m_nhn,"
    "sensor_depth_below_mp_m,kind,barometer\n"
)
ROWS = (
    "BARO-1,Wetterhütte,Leipzig,51.3,12.4,121.0,,,barometer,\n"
    "LOG-1,Brunnen 1,Leipzig,51.3,12.4,120.0,120.5,12.0,,BARO-1\n"
    "LOG-2,Brunnen 2,Leipzig,51.3,12.4,118.0,,,well,BARO-1\n"
    "LE-9,Ohne,Leipzig,51.3,12.4,118.0,,,,\n"
)


def registry_file(tmp_path: Path, rows: str = ROWS) -> Path:
    path = tmp_path / "registry.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def test_defaults_are_the_documented_constants() -> None:
    assert (SETTINGS.water_density_kg_m3, SETTINGS.gravity_m_s2, SETTINGS.max_gap_s) == (
        999.7,
        9.80665,
        10_800.0,
    )


def test_water_column_against_the_hand_computed_value() -> None:
    # 1113.25 hPa - 1013.0 hPa = 100.25 hPa = 10025 Pa;
    # 10025 Pa / (999.7 kg/m3 * 9.80665 m/s2) = 10025 / 9803.708005 = 1.022572... m
    assert water_column_m(1113.25, 1013.0, SETTINGS) == 1.0226
    # A logger above the water (it fell dry) reads less than the air: negative column.
    assert water_column_m(1012.0, 1013.0, SETTINGS) == -0.0102
    # Local gravity makes the column shorter: 10025 / (999.7 * 9.8125) = 1.021969...
    assert water_column_m(1113.25, 1013.0, BarometricSettings(gravity_m_s2=9.8125)) == 1.022


def test_interpolation_is_linear_in_time_and_exact_at_barometer_times() -> None:
    barometer = BarometerSeries.of([(T0 - HOUR // 2, 1012.0), (T0 + HOUR // 2, 1014.0)])
    gap = SETTINGS.max_gap_ns
    assert barometer.at(T0, gap) == 1013.0
    assert barometer.at(T0 - HOUR // 4, gap) == 1012.5
    assert barometer.at(T0 - HOUR // 2, gap) == 1012.0
    assert barometer.at(T0 + HOUR // 2, gap) == 1014.0


def test_no_extrapolation_and_no_interpolation_over_a_long_gap() -> None:
    gap = SETTINGS.max_gap_ns  # 3 h
    barometer = BarometerSeries.of([(T0, 1010.0), (T0 + 3 * HOUR, 1013.0), (T0 + 7 * HOUR, 1017.0)])
    assert barometer.at(T0 - 1, gap) is None  # before the first value
    assert barometer.at(T0 + 7 * HOUR + 1, gap) is None  # after the last: data may come later
    assert barometer.at(T0 + HOUR, gap) == 1011.0  # 3 h apart: interpolated
    assert barometer.at(T0 + 5 * HOUR, gap) is None  # 4 h apart: not
    assert barometer.at(T0 + 5 * HOUR, 4 * HOUR) == 1015.0


@given(
    st.lists(
        st.tuples(st.integers(0, 100 * 3600), st.floats(900, 1100, allow_nan=False)),
        min_size=2,
        max_size=30,
        unique_by=lambda item: item[0],
    ),
    st.integers(0, 100 * 3600),
)
def test_interpolated_pressure_lies_between_its_neighbours(
    samples: list[tuple[int, float]], at_s: int
) -> None:
    series = BarometerSeries.of((t * NS, v) for t, v in samples)
    value = series.at(at_s * NS, 10 * 3600 * NS)
    before = [(t, v) for t, v in sorted(samples) if t <= at_s]
    after = [(t, v) for t, v in sorted(samples) if t >= at_s]
    if not before or not after or after[0][0] - before[-1][0] > 10 * 3600:
        assert value is None
    else:
        low, high = sorted((before[-1][1], after[0][1]))
        assert value is not None
        assert low - 1e-9 <= value <= high + 1e-9


def test_compensate_derives_column_depth_and_level_from_the_geometry(tmp_path: Path) -> None:
    registry = load_registry(registry_file(tmp_path))
    barometer = BarometerSeries.of([(T0 - HOUR // 2, 1012.0), (T0 + HOUR // 2, 1014.0)])
    (result,) = compensate(registry.probes["LOG-1"], [(T0, 1113.25)], barometer, SETTINGS)
    # sensor = measuring point 120.5 - 12.0 = 108.5 m NHN; level = 108.5 + 1.0226;
    # depth below ground = 120.0 - 109.5226
    assert result.values() == {"water_column": 1.0226, "depth": 10.4774, "level": 109.5226}
    assert result.air_pressure_hpa == 1013.0
    # Without a sensor depth in the registry only the water column follows.
    (only_column,) = compensate(registry.probes["LOG-2"], [(T0, 1113.25)], barometer, SETTINGS)
    assert only_column.values() == {"water_column": 1.0226}
    assert sensor_geometry_at(registry.probes["LOG-2"], T0) is None
    # Pressures the barometer does not cover yet give nothing (yet).
    assert compensate(registry.probes["LOG-1"], [(T0 + HOUR, 1113.0)], barometer, SETTINGS) == []


def reading(probe: str, quantity: str, time_ns: int) -> Reading:
    return Reading(probe, quantity, time_ns, 1000.0, quantity, time_ns)


def test_a_batch_touches_its_loggers_and_for_barometer_data_every_covered_logger(
    tmp_path: Path,
) -> None:
    registry = load_registry(registry_file(tmp_path))
    gap = SETTINGS.max_gap_ns
    batch = [
        reading("LOG-1", "pressure_abs", T0),
        reading("LOG-1", "pressure_abs", T0 + HOUR),
        reading("LOG-1", "temperature", T0 + 5 * HOUR),  # not a pressure
        reading("LE-9", "pressure_abs", T0),  # no barometer: nothing to do
    ]
    assert affected_windows(batch, registry, gap) == {"LOG-1": (T0, T0 + HOUR)}
    late_barometer = [
        reading("BARO-1", "air_pressure", T0 - 10 * HOUR),
        reading("BARO-1", "air_pressure", T0 - 9 * HOUR),
    ]
    window = (T0 - 10 * HOUR - gap, T0 - 9 * HOUR + gap)
    assert affected_windows(late_barometer, registry, gap) == {"LOG-1": window, "LOG-2": window}
    assert affected_windows([*batch, *late_barometer], registry, gap)["LOG-1"] == (
        window[0],
        T0 + HOUR,
    )


def test_registry_validates_the_barometer_column(tmp_path: Path) -> None:
    rows = (
        "BARO-1,Wetterhütte,Leipzig,51.3,12.4,121.0,,,barometer,\n"
        "LOG-1,Brunnen 1,Leipzig,51.3,12.4,120.0,120.5,12.0,,BARO-9\n"
        "LOG-2,Brunnen 2,Leipzig,51.3,12.4,118.0,,,well,LOG-1\n"
        "BARO-2,Dach,Leipzig,51.3,12.4,118.0,,,barometer,BARO-1\n"
        "LOG-3,Brunnen 3,Leipzig,51.3,12.4,118.0,,,pump,\n"
    )
    with pytest.raises(RegistryError) as raised:
        load_registry(registry_file(tmp_path, rows))
    assert raised.value.problems == [
        "line 6: kind 'pump' must be one of well, barometer (empty: well)",
        "line 3: probe LOG-1, column barometer: 'BARO-9' is not a probe_id of this registry",
        "line 4: probe LOG-2, column barometer: LOG-1 is not a barometer; set its column kind "
        "to barometer",
        "line 5: probe BARO-2, column barometer: a barometer is not compensated itself; leave "
        "it empty",
    ]


def test_registry_reads_kind_barometer_and_sensor_depth(tmp_path: Path) -> None:
    registry: Registry = load_registry(registry_file(tmp_path))
    log1: Probe = registry.probes["LOG-1"]
    assert (log1.kind, log1.barometer, log1.sensor_depth_below_mp_m) == ("well", "BARO-1", 12.0)
    assert registry.probes["BARO-1"].kind == "barometer"
    assert [probe.probe_id for probe in registry.covered_by("BARO-1")] == ["LOG-1", "LOG-2"]


def test_the_sensor_height_follows_the_well_geometry_valid_then(tmp_path: Path) -> None:
    """A re-hung logger (new geometry period from T0 + 1 h) moves the derived level."""
    probe = load_registry(registry_file(tmp_path)).probes["LOG-1"]
    rehung = WellGeometry(120.0, 120.5, 13.0, T0 + HOUR, None, "geometry.csv:2")
    moved = replace(probe, geometry_periods=(rehung,))
    barometer = BarometerSeries.of([(T0 - HOUR, 1013.0), (T0 + 2 * HOUR, 1013.0)])
    before, after = compensate(moved, [(T0, 1113.25), (T0 + HOUR, 1113.25)], barometer, SETTINGS)
    # h = 10025 Pa / (999.7 * 9.80665) = 1.0226 m; sensor 120.5 - 12.0, then 120.5 - 13.0
    assert before.values() == {"water_column": 1.0226, "depth": 10.4774, "level": 109.5226}
    assert after.values() == {"water_column": 1.0226, "depth": 11.4774, "level": 108.5226}
