"""Natural (true) values of one probe's site: groundwater level and nitrate physics.

Everything is a deterministic function of the seed and the simulated time, advanced
cycle by cycle (the state of the recharge and pumping responses carries over). Sources
for every range and shape: docs/physics.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gwmon_sim._params import ProbeParams
from gwmon_sim._rng import seeded
from gwmon_sim._scenario import Event

DAY_S: Final = 86_400
YEAR_S: Final = 365.25 * DAY_S
EPOCH_2000_S: Final = 946_684_800  # 2000-01-01T00:00Z, origin of the seasonal phase
M_PER_HPA: Final = 100.0 / (999.7 * 9.80665)  # 1 hPa of air pressure ~ 0.0102 m of water
P_REF_HPA: Final = 1013.25
#: the waterworks pump from 05:00 to 21:00 UTC
PUMP_HOURS: Final = (5, 21)
PUMP_TAU_S: Final = 3 * 3600.0
NITRATE_MAX_MG_L: Final = 500.0
LEVEL_MIN_DEPTH_M: Final = 0.05
LEVEL_MAX_DEPTH_M: Final = 60.0


def year_phase(t: float) -> float:
    """Fraction of the (tropical) year since 1 January, in [0, 1)."""
    return ((t - EPOCH_2000_S) / YEAR_S) % 1.0


def seasonal(t: float, peak_day_of_year: float) -> float:
    """cos-shaped yearly cycle in [-1, 1] with its maximum on `peak_day_of_year`."""
    return math.cos(2 * math.pi * (year_phase(t) - peak_day_of_year / 365.25))


def effective_rain_share(t: float) -> float:
    """Share of rain that reaches the groundwater: ~1 in winter, ~0.1 in summer (ET)."""
    return min(1.0, max(0.1, 0.55 + 0.45 * seasonal(t, 20)))


def air_temperature_c(t: float) -> float:
    """Regional mean air temperature (Leipzig: annual ~10 degC, July ~19.5, January ~0.5)."""
    return 10.0 + 9.5 * seasonal(t, 200)


class Weather:
    """Regional weather shared by all probes of a run: air pressure and daily rain."""

    PRESSURE_SD_HPA: Final = 9.0
    PRESSURE_TAU_H: Final = 72.0
    RAIN_DAY_PROBABILITY: Final = 0.45
    RAIN_MEAN_MM: Final = 3.5

    def __init__(self, seed: int, start_s: int) -> None:
        self._hour0 = start_s // 3600
        self._day0 = start_s // DAY_S
        self._pressure_rng = seeded(seed, "weather", "pressure")
        self._rain_rng = seeded(seed, "weather", "rain")
        self._pressure: list[float] = [self._pressure_rng.gauss(0.0, self.PRESSURE_SD_HPA)]
        self._rain: list[float] = []
        self._phi = math.exp(-1.0 / self.PRESSURE_TAU_H)
        self._innovation_sd = self.PRESSURE_SD_HPA * math.sqrt(1 - self._phi**2)

    def _pressure_at_hour(self, index: int) -> float:
        while len(self._pressure) <= index:
            last = self._pressure[-1]
            step = self._pressure_rng.gauss(0.0, self._innovation_sd)
            self._pressure.append(self._phi * last + step)
        return self._pressure[index]

    def pressure_hpa(self, t: float) -> float:
        """Air pressure at `t`: synoptic AR(1) around 1013.25 hPa plus the 12-hour tide."""
        hours = max(0.0, t / 3600 - self._hour0)
        index = int(hours)
        frac = hours - index
        synoptic = (1 - frac) * self._pressure_at_hour(index) + frac * self._pressure_at_hour(
            index + 1
        )
        tide = 0.8 * math.cos(2 * math.pi * ((t % DAY_S) / 3600 - 10) / 12)
        return min(1060.0, max(960.0, P_REF_HPA + synoptic + tide))

    def rain_mm(self, day_index: int) -> float:
        """Rain of absolute day `day_index` (UNIX days), falling at noon UTC."""
        offset = day_index - self._day0
        if offset < 0:
            return 0.0
        while len(self._rain) <= offset:
            wet = self._rain_rng.random() < self.RAIN_DAY_PROBABILITY
            amount = self._rain_rng.expovariate(1 / self.RAIN_MEAN_MM)
            self._rain.append(round(amount, 1) if wet else 0.0)
        return self._rain[offset]

    @property
    def mean_effective_rain_mm_per_day(self) -> float:
        return self.RAIN_DAY_PROBABILITY * self.RAIN_MEAN_MM * 0.55


@dataclass(frozen=True, slots=True)
class TrueState:
    """Physical values at one instant (canonical units)."""

    level_m_nhn: float
    nitrate_mg_l: float
    temperature_c: float
    conductivity_us_cm: float
    battery_pct: float
    pressure_hpa: float


def _pump_on(t: float) -> bool:
    hour = (t % DAY_S) / 3600
    return PUMP_HOURS[0] <= hour < PUMP_HOURS[1]


class SitePhysics:
    """True values of one site, advanced in time order (`advance(t)` with t never decreasing)."""

    def __init__(
        self,
        params: ProbeParams,
        weather: Weather,
        *,
        start_s: int,
        seed: int,
        episodes: Sequence[Event] = (),
    ) -> None:
        self.params = params
        self.weather = weather
        self.start_s = start_s
        self.seed = seed
        self.episodes = [(e.window(start_s), e.params) for e in episodes]
        self._t = float(start_s)
        tau = params["recharge_recession_days"] * DAY_S
        self._recharge_mean = (
            params["recharge_m_per_mm"] * weather.mean_effective_rain_mm_per_day * tau / DAY_S
        )
        self._recharge = self._recharge_mean
        pump_share = (PUMP_HOURS[1] - PUMP_HOURS[0]) / 24
        self._drawdown_mean = params["pumping_drawdown_m"] * pump_share
        self._drawdown = params["pumping_drawdown_m"] if _pump_on(start_s) else 0.0
        self._battery = params["battery_start_pct"]
        self._pulses: dict[int, tuple[float, float]] = {}

    # -- nitrate --------------------------------------------------------------
    def _pulse(self, year: int) -> tuple[float, float]:
        """(arrival time, amplitude) of the fertilisation pulse applied in `year`."""
        if year not in self._pulses:
            rng = seeded(self.seed, self.params.probe_id, "fertilisation", year)
            applied_day = rng.uniform(60, 120)  # March-April
            lag_days = rng.uniform(20, 60)
            start_of_year = EPOCH_2000_S + (year - 2000) * YEAR_S
            arrival = start_of_year + (applied_day + lag_days) * DAY_S
            self._pulses[year] = (arrival, rng.uniform(0.6, 1.0))
        return self._pulses[year]

    def _fertilisation(self, t: float) -> float:
        peak = self.params["fertilisation_pulse_mg_l"]
        if peak == 0:
            return 0.0
        year = 2000 + int((t - EPOCH_2000_S) // YEAR_S)
        total = 0.0
        for y in (year - 1, year):
            arrival, share = self._pulse(y)
            if t >= arrival:
                x = (t - arrival) / (15 * DAY_S)  # peaks 15 days after arrival
                total += peak * share * x * math.exp(1 - x)
        return total

    def _episode(self, t: float, natural: float) -> float:
        value = natural
        for (begin, end), params in self.episodes:
            if t < begin or t >= end + params["ramp_hours"] * 3600:
                continue
            ramp = max(params["ramp_hours"] * 3600, 1.0)
            envelope = min(1.0, (t - begin) / ramp)
            if t >= end:
                envelope = max(0.0, 1 - (t - end) / ramp)
            value += (params["target_mg_l"] - value) * envelope
        return value

    def nitrate(self, t: float) -> float:
        p = self.params
        years = (t - self.start_s) / YEAR_S
        natural = (
            p["nitrate_baseline_mg_l"]
            + p["nitrate_seasonal_amp_mg_l"] * seasonal(t, 349)
            + p["nitrate_trend_mg_l_per_year"] * years
            + self._fertilisation(t)
        )
        return min(NITRATE_MAX_MG_L, max(0.0, self._episode(t, natural)))

    # -- level ------------------------------------------------------------------
    def _advance_responses(self, t: float) -> None:
        p = self.params
        dt = t - self._t
        if dt <= 0:
            return
        tau = p["recharge_recession_days"] * DAY_S
        recharge = self._recharge * math.exp(-dt / tau)
        first_day = int(self._t // DAY_S)
        for day in range(first_day, int(t // DAY_S) + 1):
            rain_time = day * DAY_S + DAY_S / 2
            if self._t < rain_time <= t:
                effective = self.weather.rain_mm(day) * effective_rain_share(rain_time)
                recharge += p["recharge_m_per_mm"] * effective * math.exp(-(t - rain_time) / tau)
        self._recharge = recharge
        target = p["pumping_drawdown_m"] if _pump_on(t) else 0.0
        self._drawdown = target + (self._drawdown - target) * math.exp(-dt / PUMP_TAU_S)
        cold = 1 + 0.04 * max(0.0, 15 - air_temperature_c(t))
        self._battery = max(0.0, self._battery - p["battery_drain_pct_per_day"] * cold * dt / DAY_S)
        self._t = t

    def level(self, t: float, pressure_hpa: float) -> float:
        p = self.params
        ground = p.ground_level_m_nhn
        years = (t - self.start_s) / YEAR_S
        level = (
            ground
            - p["depth_mean_m"]
            + p["level_seasonal_amp_m"] * seasonal(t, 91)
            + p["level_trend_m_per_year"] * years
            + (self._recharge - self._recharge_mean)
            - (self._drawdown - self._drawdown_mean)
            - p["barometric_efficiency"] * (pressure_hpa - P_REF_HPA) * M_PER_HPA
        )
        return min(ground - LEVEL_MIN_DEPTH_M, max(ground - LEVEL_MAX_DEPTH_M, level))

    # -- all --------------------------------------------------------------------
    def drain_battery(self, to_pct: float) -> None:
        """Force the battery down (battery_death fault); never raises it."""
        self._battery = min(self._battery, max(0.0, to_pct))

    @property
    def battery_pct(self) -> float:
        return self._battery

    def advance(self, t: float) -> TrueState:
        """True state at `t` (t must not go back in time)."""
        self._advance_responses(t)
        p = self.params
        pressure = self.weather.pressure_hpa(t)
        nitrate = self.nitrate(t)
        conductivity = p["conductivity_mean_us_cm"] * (1 + 0.03 * seasonal(t, 349)) + 2.0 * (
            nitrate - p["nitrate_baseline_mg_l"]
        )
        return TrueState(
            level_m_nhn=self.level(t, pressure),
            nitrate_mg_l=nitrate,
            temperature_c=p["temperature_mean_c"] + p["temperature_amp_c"] * seasonal(t, 298),
            conductivity_us_cm=min(3000.0, max(50.0, conductivity)),
            battery_pct=self._battery,
            pressure_hpa=pressure,
        )
