"""Physics stays within the documented ranges (docs/physics.md) over a simulated year, for
any seed and any parameters within their allowed bounds. No broker needed."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gwmon_sim
from gwmon_sim import NUMERIC_PARAMS
from gwmon_sim._model import ProbeModel
from gwmon_sim._params import resolve_params
from gwmon_sim._physics import Weather
from gwmon_sim._registry import read_sites
from sim.simkit import REGISTRY

SITES = read_sites(REGISTRY)
YEAR_CYCLES = 365 * 4  # every 6 hours
START_2020 = 1577836800
START_2035 = 2051222400


def year_of(
    probe: str, seed: int, start: int, overrides: dict[str, object]
) -> list[gwmon_sim.Cycle]:
    params = resolve_params(SITES[probe], overrides, seed=seed, interval_s=6 * 3600)
    model = ProbeModel(params, Weather(seed, start), start_s=start, seed=seed)
    cycles = [model.sample(start + i * 6 * 3600) for i in range(YEAR_CYCLES)]
    alive = [c for c in cycles if c is not None]
    assert cycles[: len(alive)] == alive  # a probe whose battery died stays dead
    return alive


def values(cycles: list[gwmon_sim.Cycle], quantity: str, kind: str = "true_value") -> list[float]:
    return [getattr(s, kind) for c in cycles for s in c.samples if s.quantity == quantity]


overrides_strategy = st.dictionaries(
    st.sampled_from(sorted(NUMERIC_PARAMS)),
    st.floats(0, 1),
    max_size=len(NUMERIC_PARAMS),
).map(
    lambda picks: {
        name: NUMERIC_PARAMS[name].lo + share * (NUMERIC_PARAMS[name].hi - NUMERIC_PARAMS[name].lo)
        for name, share in picks.items()
    }
)
common = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(
    seed=st.integers(0, 2**31),
    probe=st.sampled_from(sorted(SITES)),
    start=st.integers(START_2020, START_2035).map(lambda t: t - t % 3600),
    overrides=overrides_strategy,
    vented=st.booleans(),
    nitrate_record=st.sampled_from(["nitrate", "nitrate_n"]),
    level_record=st.sampled_from(["depth", "level"]),
)
def test_any_parameters_within_bounds_stay_physical(
    seed: int,
    probe: str,
    start: int,
    overrides: dict[str, object],
    vented: bool,
    nitrate_record: str,
    level_record: str,
) -> None:
    settings_ = {
        **overrides,
        "vented": vented,
        "nitrate_record": nitrate_record,
        "level_record": level_record,
    }
    cycles = year_of(probe, seed, start, settings_)
    ground = SITES[probe].ground_level_m_nhn
    per_n = 4.427 if nitrate_record == "nitrate_n" else 1.0
    nitrate = [v * per_n for v in values(cycles, "nitrate")]
    assert all(0.0 <= v <= 130.0 for v in nitrate)
    level = values(cycles, "level")
    if level_record == "depth":
        assert all(0.05 - 1e-9 <= d <= 60.0 + 1e-9 for d in level)
    else:
        assert all(ground - 60.0 - 1e-9 <= v <= ground - 0.05 + 1e-9 for v in level)
    assert all(2.0 <= v <= 19.0 for v in values(cycles, "temperature"))
    assert all(50.0 <= v <= 3000.0 for v in values(cycles, "conductivity"))
    battery = values(cycles, "battery")
    assert all(0.0 <= v <= 100.0 for v in battery)
    assert battery == sorted(battery, reverse=True)  # never recharges
    for cycle in cycles:
        for sample in cycle.samples:
            assert sample.sent_value is not None and math.isfinite(sample.sent_value)
    assert [c.seq for c in cycles] == [(cycles[0].seq + i) % 2**32 for i in range(len(cycles))]
    sensed = [v * per_n for v in values(cycles, "nitrate", "sent_value")]
    assert all(v >= 0.0 for v in sensed)


@common
@given(seed=st.integers(0, 2**31), probe=st.sampled_from(sorted(SITES)))
def test_default_parameters_stay_in_the_typical_ranges(seed: int, probe: str) -> None:
    cycles = year_of(
        probe, seed, 1767225600, {"nitrate_record": "nitrate", "level_record": "depth"}
    )
    nitrate = values(cycles, "nitrate")
    assert all(9.0 <= v <= 54.0 for v in nitrate)  # baseline 15-45 +- season, trend, pulses
    site = SITES[probe]
    depth = values(cycles, "level")
    assert site.level_min_m_nhn is not None and site.level_max_m_nhn is not None
    # Stays inside the registry's plausible level band (no false level alarms).
    levels = [site.ground_level_m_nhn - d for d in depth]
    assert all(site.level_min_m_nhn <= v <= site.level_max_m_nhn for v in levels)
    assert all(8.5 <= v <= 12.5 for v in values(cycles, "temperature"))
    assert all(300.0 <= v <= 1300.0 for v in values(cycles, "conductivity"))
    # A year of hourly sampling costs 0.05-0.15 %/day x cold factor <= 1.6: never empty.
    assert min(values(cycles, "battery")) > 70.0 - 0.15 * 1.6 * 365


def test_level_is_high_in_spring_and_low_in_autumn() -> None:
    start = 1767225600  # 2026-01-01
    cycles = year_of(
        "LE-01",
        1,
        start,
        {
            "level_record": "level",
            "recharge_m_per_mm": 0.0,
            "level_trend_m_per_year": 0.0,
            "barometric_efficiency": 0.0,
            "pumping_drawdown_m": 0.0,
            "level_seasonal_amp_m": 0.5,
        },
    )
    level = values(cycles, "level")
    april = level[90 * 4]
    october = level[273 * 4]
    assert april - october > 0.9  # peak ~1 April, trough ~1 October, amplitude 0.5 m


def test_nitrate_leaching_peaks_in_winter() -> None:
    start = 1767225600
    cycles = year_of(
        "LE-01",
        1,
        start,
        {
            "nitrate_record": "nitrate",
            "fertilisation_pulse_mg_l": 0.0,
            "nitrate_trend_mg_l_per_year": 0.0,
            "nitrate_seasonal_amp_mg_l": 4.0,
            "nitrate_baseline_mg_l": 30.0,
        },
    )
    nitrate = values(cycles, "nitrate")
    assert max(nitrate) == nitrate[max(range(len(nitrate)), key=nitrate.__getitem__)]
    assert nitrate[349 * 4] == 34.0  # 15 December: baseline + amplitude
    assert nitrate[166 * 4] <= 26.1  # mid-June: baseline - amplitude


def test_unvented_sensors_see_air_pressure() -> None:
    start = 1767225600
    base = {"level_record": "level", "level_noise_m": 0.0}
    vented = year_of("LE-01", 9, start, {**base, "vented": True})
    unvented = year_of("LE-01", 9, start, {**base, "vented": False})
    v = values(vented, "level", "sent_value")
    u = values(unvented, "level", "sent_value")
    assert values(vented, "level") == values(unvented, "level")  # same water
    diffs = [b - a for a, b in zip(v, u, strict=True)]
    assert max(diffs) > 0.1 and min(diffs) < -0.1  # +-10 hPa is +-0.1 m
    assert all(abs(d) <= 0.55 for d in diffs)  # 960-1060 hPa bounds
