"""Barometric compensation of absolute pressure loggers: the arithmetic and its settings
(docs/data-management.md, "Barometric compensation").

An absolute (unvented) pressure logger in a well measures the water column above it
plus the air pressure. A barometer probe at the surface measures the air pressure; the
registry names the barometer covering each logger. The water column above the sensor is

    h = (p_abs - p_air) / (rho * g)

with p_air interpolated linearly in time between the two barometer values around the
logger's measurement time, never over more than `max_gap_s` and never beyond the last
or before the first barometer value. From h and the well geometry valid at the
measurement time follow the level (sensor height + h, m NHN) and the depth below ground
(ground level - level).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from gwmon.config import ConfigSection, Section
from gwmon.ingest._registry import Probe, Registry
from gwmon.ingest._senml import Reading

PRESSURE_QUANTITY = "pressure_abs"
AIR_PRESSURE_QUANTITY = "air_pressure"
WATER_COLUMN_QUANTITY = "water_column"
DERIVED_QUANTITIES = (WATER_COLUMN_QUANTITY, "depth", "level")

# Density of fresh water at 10 °C, the temperature of shallow groundwater in Central
# Europe: 999.70 kg/m³ (IAPWS-95 / CRC Handbook table of water density; 999.97 at 4 °C,
# 999.10 at 15 °C, so ±5 K change a 10 m column by less than 6 mm).
WATER_DENSITY_KG_M3 = 999.7
# Standard acceleration of gravity, 9.80665 m/s² (3rd CGPM 1901, SI Brochure). Local
# gravity at Leipzig is about 9.8125 m/s²: 0.06 % more, 6 mm on a 10 m column; set
# [barometric] gravity_m_s2 to the local value where that matters.
STANDARD_GRAVITY_M_S2 = 9.80665
# Barometers log every 10-60 min. Synoptic practice reports the pressure tendency over
# 3 h (WMO-No. 306, code table 0200) because the air pressure changes smoothly on that
# scale: interpolating over up to 3 h follows it (typically < 2 hPa, 2 cm of water, per
# 3 h), while a longer gap could hide a front. Longer gaps leave the logger's values
# uncompensated rather than guessed.
MAX_GAP_S = 10_800.0
PA_PER_HPA = 100
WATER_COLUMN_DECIMALS = 4  # 0.1 mm: below a logger's resolution, keeps sums exact
_NS = 1_000_000_000

EXAMPLE_TOML = """\
[barometric]
# Absolute pressure loggers (record pressure_abs) are compensated with the barometer the
# registry names (column barometer): water column = (p_abs - p_air) / (rho * g).
# Barometer values are interpolated linearly over gaps of at most this many seconds.
max_gap_s = 10800.0
# Density of the water, kg/m3 (fresh water at 10 degC).
water_density_kg_m3 = 999.7
# Gravity, m/s2 (standard gravity; Leipzig: about 9.8125).
gravity_m_s2 = 9.80665
"""


class BarometricSettings(Section):
    """Constants of the barometric compensation ([barometric])."""

    max_gap_s: Annotated[float, Field(ge=60, le=86_400)] = MAX_GAP_S
    water_density_kg_m3: Annotated[float, Field(ge=990, le=1_050)] = WATER_DENSITY_KG_M3
    gravity_m_s2: Annotated[float, Field(ge=9.76, le=9.84)] = STANDARD_GRAVITY_M_S2

    @property
    def max_gap_ns(self) -> int:
        return int(self.max_gap_s * _NS)


CONFIG_SECTION = ConfigSection("barometric", BarometricSettings, EXAMPLE_TOML)


@dataclass(frozen=True, slots=True)
class SensorGeometry:
    """Heights of a well and its sensor, m NHN, valid at one measurement time."""

    ground_level_m_nhn: float
    sensor_m_nhn: float


def sensor_geometry_at(probe: Probe, time_ns: int) -> SensorGeometry | None:
    """The sensor's height at `time_ns`: measuring point minus installation depth below
    it, from the well geometry valid then (docs/registry.md: a re-survey or a re-hung
    logger starts a new period). None when either is unknown (then only the water
    column is derived)."""
    geometry = probe.geometry_at(time_ns)
    if geometry.measuring_point_m_nhn is None or geometry.sensor_depth_below_mp_m is None:
        return None
    sensor = _exact(geometry.measuring_point_m_nhn) - _exact(geometry.sensor_depth_below_mp_m)
    return SensorGeometry(geometry.ground_level_m_nhn, float(sensor))


def _exact(value: float) -> Decimal:
    return Decimal(repr(value))


@dataclass(frozen=True)
class BarometerSeries:
    """A barometer's values (hPa) in time order, for interpolation."""

    times_ns: Sequence[int]
    values_hpa: Sequence[float]

    @classmethod
    def of(cls, samples: Iterable[tuple[int, float]]) -> BarometerSeries:
        ordered = sorted(dict(samples).items())
        return cls([time for time, _ in ordered], [value for _, value in ordered])

    def at(self, time_ns: int, max_gap_ns: int) -> float | None:
        """The air pressure at `time_ns`: a value at that time, else the linear
        interpolation between the neighbours if they are at most `max_gap_ns` apart;
        None outside the series or across a longer gap (no extrapolation)."""
        index = bisect.bisect_left(self.times_ns, time_ns)
        if index < len(self.times_ns) and self.times_ns[index] == time_ns:
            return self.values_hpa[index]
        if index == 0 or index == len(self.times_ns):
            return None
        before, after = self.times_ns[index - 1], self.times_ns[index]
        if after - before > max_gap_ns:
            return None
        share = (time_ns - before) / (after - before)
        low, high = self.values_hpa[index - 1], self.values_hpa[index]
        return low + (high - low) * share


@dataclass(frozen=True, slots=True)
class Compensated:
    """The values derived from one absolute pressure reading."""

    time_ns: int
    air_pressure_hpa: float
    water_column_m: float
    depth_m: float | None  # below ground; None without the sensor's height
    level_m_nhn: float | None

    def values(self) -> dict[str, float]:
        """Derived quantity -> value, as stored."""
        derived = {WATER_COLUMN_QUANTITY: self.water_column_m}
        if self.depth_m is not None and self.level_m_nhn is not None:
            derived["depth"] = self.depth_m
            derived["level"] = self.level_m_nhn
        return derived


def water_column_m(
    pressure_abs_hpa: float, air_pressure_hpa: float, settings: BarometricSettings
) -> float:
    """(p_abs - p_air) / (rho g) in metres of water, rounded to 0.1 mm. Negative when
    the logger hangs above the water (it fell dry)."""
    pascal = (pressure_abs_hpa - air_pressure_hpa) * PA_PER_HPA
    return round(
        pascal / (settings.water_density_kg_m3 * settings.gravity_m_s2), WATER_COLUMN_DECIMALS
    )


def compensate(
    probe: Probe,
    pressures: Iterable[tuple[int, float]],
    barometer: BarometerSeries,
    settings: BarometricSettings,
) -> list[Compensated]:
    """What follows from each (time_ns, p_abs hPa) the barometer covers, in time order."""
    results = []
    for time_ns, pressure in sorted(pressures):
        air = barometer.at(time_ns, settings.max_gap_ns)
        if air is None:
            continue
        column = water_column_m(pressure, air, settings)
        geometry = sensor_geometry_at(probe, time_ns)
        depth = level = None
        if geometry is not None:
            exact_level = _exact(geometry.sensor_m_nhn) + _exact(column)
            level = float(exact_level)
            depth = float(_exact(geometry.ground_level_m_nhn) - exact_level)
        results.append(Compensated(time_ns, round(air, 6), column, depth, level))
    return results


def affected_windows(
    readings: Iterable[Reading], registry: Registry, max_gap_ns: int
) -> dict[str, tuple[int, int]]:
    """Logger probe_id -> [first, last] measurement time (inclusive) whose derived values
    a batch may change: the times of its own absolute pressures, and for new barometer
    values every covered logger's times within `max_gap_ns` of them (a late barometer
    value can complete or change an interpolation that far away)."""
    windows: dict[str, tuple[int, int]] = {}

    def widen(probe_id: str, first: int, last: int) -> None:
        known = windows.get(probe_id)
        windows[probe_id] = (
            (first, last) if known is None else (min(known[0], first), max(known[1], last))
        )

    barometer_times: dict[str, list[int]] = {}
    for reading in readings:
        probe = registry.get(reading.probe)
        if probe is None:
            continue
        if reading.quantity == PRESSURE_QUANTITY and probe.barometer is not None:
            widen(probe.probe_id, reading.time_ns, reading.time_ns)
        elif reading.quantity == AIR_PRESSURE_QUANTITY:
            barometer_times.setdefault(probe.probe_id, []).append(reading.time_ns)
    for barometer_id, times in barometer_times.items():
        for logger in registry.covered_by(barometer_id):
            widen(logger.probe_id, min(times) - max_gap_ns, max(times) + max_gap_ns)
    return windows


def changed(
    results: Iterable[Compensated], stored: Mapping[tuple[str, int], tuple[float, float | None]]
) -> list[tuple[Compensated, str, float]]:
    """(result, quantity, value) of every derived value that differs from what is stored
    for (quantity, time): (value, air pressure) of the stored derived point."""
    out = []
    for result in results:
        for quantity, value in result.values().items():
            if stored.get((quantity, result.time_ns)) != (value, result.air_pressure_hpa):
                out.append((result, quantity, value))
    return out
