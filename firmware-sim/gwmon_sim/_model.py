"""One probe's firmware sampling loop without the network: sensors, faults, sequence counter.

`ProbeModel.sample(t)` is called once per sampling cycle in time order and returns the
`Cycle` the firmware would buffer: the records it will send (after sensor noise and
faults) and, for the ground truth, the true and the healthy-sensor values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from gwmon_sim._params import ProbeParams, Quantity
from gwmon_sim._physics import DAY_S, M_PER_HPA, P_REF_HPA, SitePhysics, TrueState, Weather
from gwmon_sim._rng import seeded
from gwmon_sim._scenario import Event

NO3_PER_NO3_N: Final = 4.427  # molar mass NO3 / N = 62.004 / 14.007
SEQ_MODULUS: Final = 2**32
UNITS: Final = {
    "nitrate": "mg/L",
    "nitrate_n": "mg/L",
    "level": "m",
    "depth": "m",
    "temperature": "Cel",
    "conductivity": "uS/cm",
    "battery": "%EL",
}
#: decimals each record is rounded to (the sensor's resolution)
DECIMALS: Final = {
    "nitrate": 1,
    "nitrate_n": 2,
    "level": 3,
    "depth": 3,
    "temperature": 2,
    "conductivity": 0,
    "battery": 1,
}
#: below this battery level the probe browns out and stops for good
BATTERY_DEAD_PCT: Final = 0.5
_VALUE_FAULTS: Final = ("spike", "flatline", "drift", "biofouling", "step")


@dataclass(frozen=True, slots=True)
class Sample:
    """One quantity of one cycle. Values are in the record's unit (`unit`)."""

    quantity: Quantity
    record: str
    unit: str
    true_value: float
    sensor_value: float
    sent_value: float | None  # None: not sent (dropout)
    faults: tuple[str, ...] = ()


@dataclass(slots=True)
class Cycle:
    """What one sampling cycle put into the probe's buffer."""

    probe_id: str
    seq: int
    t: int  # true measurement time (UNIX s)
    t_stamp: int  # time the probe's clock wrote into the payload
    samples: list[Sample]
    faults: list[str] = field(default_factory=list)  # cycle-wide faults (offline, ...)


@dataclass(slots=True)
class _Active:
    event: Event
    begin: float
    end: float
    remaining: int = 0  # spike samples left
    frozen: dict[str, float] = field(default_factory=dict)  # flatline values
    battery_at_begin: float | None = None


class ProbeModel:
    """Sensors + faults of one probe on top of its site physics."""

    def __init__(
        self,
        params: ProbeParams,
        weather: Weather,
        *,
        start_s: int,
        seed: int,
        events: Sequence[Event] = (),
    ) -> None:
        self.params = params
        self.probe_id = params.probe_id
        self.start_s = start_s
        episodes = [e for e in events if e.kind == "nitrate_episode"]
        self.physics = SitePhysics(params, weather, start_s=start_s, seed=seed, episodes=episodes)
        self._faults = [
            _Active(e, *e.window(start_s), remaining=int(e.params.get("count", 1)))
            for e in events
            if e.kind != "nitrate_episode"
        ]
        self._noise = seeded(seed, self.probe_id, "noise")
        self._fault_rng = seeded(seed, self.probe_id, "faults")
        self.seq = seeded(seed, self.probe_id, "seq").randrange(0, 10_000)
        self.dead = False
        self._manual_spikes: list[tuple[Quantity, float]] = []

    # -- queries used by the network side ------------------------------------------
    def _window_active(self, kind: str, t: float) -> list[_Active]:
        return [a for a in self._faults if a.event.kind == kind and a.begin <= t < a.end]

    def scheduled_offline(self, t: float) -> bool:
        return bool(self._window_active("offline", t))

    def duplicate(self, t: float) -> bool:
        return any(
            self._fault_rng.random() < a.event.params["probability"]
            for a in self._window_active("duplicate", t)
        )

    def malformed_variant(self, t: float) -> str | None:
        active = self._window_active("malformed", t)
        return str(active[0].event.params["variant"]) if active else None

    def inject_spike(self, quantity: Quantity, value: float) -> None:
        """Make the next cycle's `quantity` read `value` (canonical unit)."""
        self._manual_spikes.append((quantity, value))

    # -- sampling ---------------------------------------------------------------------
    def _sensor(self, state: TrueState) -> dict[Quantity, float]:
        p = self.params
        noise = self._noise
        # Draw every noise term every cycle so faults never shift the noise sequence.
        n_nitrate = noise.gauss(0.0, 1.0)
        n_level = noise.gauss(0.0, 1.0)
        n_temp = noise.gauss(0.0, 1.0)
        n_cond = noise.gauss(0.0, 1.0)
        level = state.level_m_nhn + n_level * p["level_noise_m"]
        if not p.vented:
            # Unvented absolute-pressure transducer, compensated with a fixed reference.
            level += (state.pressure_hpa - P_REF_HPA) * M_PER_HPA
        return {
            "nitrate": max(0.0, state.nitrate_mg_l * (1 + n_nitrate * p["nitrate_noise_rel"])),
            "level": level,
            "temperature": state.temperature_c + 0.02 * n_temp,
            "conductivity": max(1.0, state.conductivity_us_cm * (1 + 0.005 * n_cond)),
            "battery": state.battery_pct,
        }

    def _apply_value_faults(
        self, t: float, sensor: dict[Quantity, float]
    ) -> tuple[dict[Quantity, float], dict[Quantity, list[str]]]:
        sent = dict(sensor)
        tags: dict[Quantity, list[str]] = {q: [] for q in sensor}
        for active in self._faults:
            kind = active.event.kind
            if kind not in _VALUE_FAULTS or not active.begin <= t < active.end:
                continue
            quantity: Quantity = active.event.params["quantity"]
            if quantity not in sent:
                continue
            days = (t - active.begin) / DAY_S
            params = active.event.params
            if kind == "spike":
                if active.remaining <= 0:
                    continue
                active.remaining -= 1
                value = params["value"]
                sent[quantity] = value if value is not None else sent[quantity] + params["delta"]
            elif kind == "flatline":
                sent[quantity] = active.frozen.setdefault(quantity, sent[quantity])
            elif kind == "drift":
                sent[quantity] += params["rate_per_day"] * days
            elif kind == "biofouling":
                sent[quantity] += params["rate_per_day"] * days * days / (days + 7)
            elif kind == "step":
                sent[quantity] += params["offset"]
            tags[quantity].append(kind)
        for quantity, value in self._manual_spikes:
            if quantity in sent:
                sent[quantity] = value
                tags[quantity].append("spike")
        self._manual_spikes.clear()
        return sent, tags

    def _record(self, quantity: Quantity, value: float) -> tuple[str, float]:
        p = self.params
        if quantity == "nitrate" and p.nitrate_record == "nitrate_n":
            return "nitrate_n", round(value / NO3_PER_NO3_N, DECIMALS["nitrate_n"])
        if quantity == "level" and p.level_record == "depth":
            return "depth", round(p.ground_level_m_nhn - value, DECIMALS["depth"])
        return quantity, round(value, DECIMALS[quantity])

    def _battery_death(self, t: float) -> None:
        # The window only starts the drain: a dead battery stays dead after it.
        for active in (a for a in self._faults if a.event.kind == "battery_death"):
            if t < active.begin:
                continue
            if active.battery_at_begin is None:
                active.battery_at_begin = self.physics.battery_pct
            duration = (active.event.days or 1.0) * DAY_S
            share = min(1.0, (t - active.begin) / duration)
            self.physics.drain_battery(active.battery_at_begin * (1 - share))

    def _stamp(self, t: int) -> int:
        stamp = float(t)
        for active in self._window_active("clock_skew", t):
            days = (t - active.begin) / DAY_S
            stamp += active.event.params["offset_s"] + active.event.params["drift_s_per_day"] * days
        return round(stamp)

    def sample(self, t: int) -> Cycle | None:
        """Run one sampling cycle at true time `t`; None once the battery is dead."""
        if self.dead:
            return None
        self._battery_death(t)
        state = self.physics.advance(t)
        if state.battery_pct <= BATTERY_DEAD_PCT:
            self.dead = True
            return None
        sensor = self._sensor(state)
        sent, tags = self._apply_value_faults(t, sensor)
        dropped: set[Quantity] = set()
        for active in self._window_active("dropout", t):
            if self._fault_rng.random() < active.event.params["probability"]:
                names = active.event.params["quantities"]
                dropped.update(q for q in self.params.quantities if names is None or q in names)
        true_values: dict[Quantity, float] = {
            "nitrate": state.nitrate_mg_l,
            "level": state.level_m_nhn,
            "temperature": state.temperature_c,
            "conductivity": state.conductivity_us_cm,
            "battery": state.battery_pct,
        }
        samples: list[Sample] = []
        for quantity in self.params.quantities:
            record, true_value = self._record(quantity, true_values[quantity])
            _, sensor_value = self._record(quantity, sensor[quantity])
            _, sent_value = self._record(quantity, sent[quantity])
            faults = list(tags[quantity])
            if quantity in dropped:
                faults.append("dropout")
            if not math.isfinite(sent_value):
                sent_value = sensor_value
            samples.append(
                Sample(
                    quantity=quantity,
                    record=record,
                    unit=UNITS[record],
                    true_value=true_value,
                    sensor_value=sensor_value,
                    sent_value=None if quantity in dropped else sent_value,
                    faults=tuple(faults),
                )
            )
        cycle = Cycle(self.probe_id, self.seq, t, self._stamp(t), samples)
        if cycle.t_stamp != t:
            cycle.faults.append("clock_skew")
        self.seq = (self.seq + 1) % SEQ_MODULUS
        return cycle
