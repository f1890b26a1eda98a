"""Per-probe physics and sensor parameters: names, allowed bounds and typical ranges.

A scenario may set any of these per probe (`[probes.<id>]`) or for all (`[defaults]`).
A parameter not set is drawn, per probe and seed, uniformly from its *typical* range
(docs/physics.md gives the sources). Values outside the *allowed* bounds are rejected.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, Literal

from gwmon_sim._registry import SiteInfo
from gwmon_sim._rng import seeded

Quantity = Literal["nitrate", "level", "temperature", "conductivity", "battery"]
QUANTITIES: Final[tuple[Quantity, ...]] = (
    "nitrate",
    "level",
    "temperature",
    "conductivity",
    "battery",
)
NITRATE_RECORDS: Final = ("nitrate", "nitrate_n")
LEVEL_RECORDS: Final = ("depth", "level")


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """Allowed [lo, hi] and typical [typical_lo, typical_hi] of one numeric parameter."""

    lo: float
    hi: float
    typical_lo: float
    typical_hi: float
    unit: str
    doc: str


NUMERIC_PARAMS: Final[dict[str, ParamSpec]] = {
    "nitrate_baseline_mg_l": ParamSpec(0.5, 100.0, 15.0, 45.0, "mg/L NO3", "site baseline nitrate"),
    "nitrate_seasonal_amp_mg_l": ParamSpec(
        0.0, 10.0, 1.0, 4.0, "mg/L NO3", "half peak-to-peak of the leaching cycle (peak mid-Dec)"
    ),
    "nitrate_trend_mg_l_per_year": ParamSpec(
        -5.0, 5.0, -1.5, 1.0, "mg/L NO3 per year", "long-term trend"
    ),
    "fertilisation_pulse_mg_l": ParamSpec(
        0.0, 10.0, 0.5, 3.0, "mg/L NO3", "peak of the yearly fertilisation pulse"
    ),
    "nitrate_noise_rel": ParamSpec(
        0.0, 0.1, 0.01, 0.02, "fraction", "sensor noise (1 sigma) relative to the value"
    ),
    "depth_mean_m": ParamSpec(
        1.5, 50.0, 3.0, 10.0, "m below ground", "mean depth to water (default: registry range)"
    ),
    "level_seasonal_amp_m": ParamSpec(
        0.0, 1.5, 0.2, 0.6, "m", "half peak-to-peak of the level cycle (high ~1 April)"
    ),
    "level_trend_m_per_year": ParamSpec(-1.0, 1.0, -0.15, 0.05, "m per year", "long-term trend"),
    "recharge_m_per_mm": ParamSpec(
        0.0, 0.02, 0.002, 0.008, "m per mm", "rise per mm of effective rain"
    ),
    "recharge_recession_days": ParamSpec(
        2.0, 120.0, 10.0, 40.0, "days", "time constant of the recession after recharge"
    ),
    "pumping_drawdown_m": ParamSpec(
        0.0, 3.0, 0.05, 0.4, "m", "drawdown while the waterworks pumps (0 without waterworks)"
    ),
    "barometric_efficiency": ParamSpec(
        0.0, 1.0, 0.2, 0.7, "1", "fraction of an air-pressure change seen in the water level"
    ),
    "level_noise_m": ParamSpec(0.0, 0.05, 0.002, 0.005, "m", "sensor noise (1 sigma)"),
    "temperature_mean_c": ParamSpec(5.0, 16.0, 9.5, 11.5, "Cel", "mean groundwater temperature"),
    "temperature_amp_c": ParamSpec(
        0.0, 3.0, 0.1, 0.6, "K", "seasonal amplitude (peak ~late October)"
    ),
    "conductivity_mean_us_cm": ParamSpec(
        100.0, 2500.0, 400.0, 1100.0, "uS/cm", "mean electrical conductivity"
    ),
    "battery_start_pct": ParamSpec(1.0, 100.0, 70.0, 100.0, "%", "battery at scenario start"),
    "battery_drain_pct_per_day": ParamSpec(
        0.0, 20.0, 0.05, 0.15, "% per day", "discharge at 15 degC air (faster in cold)"
    ),
}

#: probes are unvented (absolute pressure, uncompensated) with this probability by default
UNVENTED_SHARE: Final = 0.25
#: probes report nitrate as NO3-N with this probability by default
NITRATE_N_SHARE: Final = 0.2
DEFAULT_QUANTITIES: Final[tuple[Quantity, ...]] = QUANTITIES


@dataclass(frozen=True, slots=True)
class ProbeParams:
    """Every parameter of one simulated probe, resolved (no defaults left open)."""

    probe_id: str
    ground_level_m_nhn: float
    has_waterworks: bool
    interval_s: int
    quantities: tuple[Quantity, ...]
    nitrate_record: str
    level_record: str
    vented: bool
    numbers: dict[str, float]

    def __getitem__(self, name: str) -> float:
        return self.numbers[name]


def _default_depth(site: SiteInfo, rng: random.Random) -> float:
    if site.level_min_m_nhn is not None and site.level_max_m_nhn is not None:
        mid = (site.level_min_m_nhn + site.level_max_m_nhn) / 2
        depth = site.ground_level_m_nhn - mid
        if 1.5 <= depth <= 50.0:
            return round(depth, 3)
    spec = NUMERIC_PARAMS["depth_mean_m"]
    return round(rng.uniform(spec.typical_lo, spec.typical_hi), 3)


def resolve_params(
    site: SiteInfo,
    settings: dict[str, object],
    *,
    seed: int,
    interval_s: int,
) -> ProbeParams:
    """Fill in every parameter not in `settings` (already validated) from seed and site."""
    rng = seeded(seed, site.probe_id, "params")
    numbers: dict[str, float] = {}
    for name, spec in NUMERIC_PARAMS.items():
        # Draw for every parameter, used or not, so one override does not shift the others.
        drawn = rng.uniform(spec.typical_lo, spec.typical_hi)
        if name == "depth_mean_m":
            drawn = _default_depth(site, rng)
        if name == "pumping_drawdown_m" and not site.waterworks:
            drawn = 0.0
        value = settings.get(name, drawn)
        assert isinstance(value, int | float)
        numbers[name] = float(value)
    unvented_draw = rng.random() < UNVENTED_SHARE
    nitrate_n_draw = rng.random() < NITRATE_N_SHARE
    vented = settings.get("vented", not unvented_draw)
    nitrate_record = settings.get("nitrate_record", "nitrate_n" if nitrate_n_draw else "nitrate")
    level_record = settings.get("level_record", "depth")
    quantities = settings.get("quantities", DEFAULT_QUANTITIES)
    own_interval = settings.get("interval_s", interval_s)
    assert isinstance(vented, bool)
    assert isinstance(nitrate_record, str)
    assert isinstance(level_record, str)
    assert isinstance(quantities, tuple | list)
    assert isinstance(own_interval, int)
    return ProbeParams(
        probe_id=site.probe_id,
        ground_level_m_nhn=site.ground_level_m_nhn,
        has_waterworks=bool(site.waterworks),
        interval_s=own_interval,
        quantities=tuple(q for q in QUANTITIES if q in quantities),
        nitrate_record=nitrate_record,
        level_record=level_record,
        vented=vented,
        numbers=numbers,
    )
