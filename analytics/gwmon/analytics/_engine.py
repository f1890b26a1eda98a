"""Per-probe evaluation in measurement-time order: QC flags, then alarm state machines.

`ProbeEvaluator.feed` takes one reading at a time, strictly in (time, quantity) order,
and is a pure fold: the same readings in the same order always give the same flags and
the same alarm episodes. The observer (`_observer.py`) guarantees that order even when
readings arrive late, twice or shuffled, by replaying from a snapshot (`snapshot` /
`from_snapshot`) whenever a reading lands before the newest one already evaluated.

Alarm times are measurement times: an episode opens at the first reading of the run of
`min_consecutive` readings beyond the threshold, and closes at the first reading of the
run of `release_consecutive` readings past the release value (hysteresis).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import msgspec

from gwmon.analytics._compiled import RunChecks, checks_of, window_lengths
from gwmon.analytics._detectors import FlagLevel, History
from gwmon.analytics._model import AlertKind
from gwmon.analytics._settings import ProbePlan
from gwmon.analytics._window import Window

EpisodeKey = tuple[str, int]  # (kind, opened_ns)
# The flag a value gets when the value it was computed from is flagged bad.
DERIVED_FLAG = "derived"


class Flag(NamedTuple):
    """A QC verdict on one reading: cause (stored as the `flag` tag), detector, detail."""

    flag: str
    detector: str
    detail: str
    level: FlagLevel


@dataclass(slots=True)
class Episode:
    """One alarm from opening to closing, in measurement time. `value` is the peak
    (maximum for high alarms, minimum for low ones) or, for a sensor fault, the first
    flagged value."""

    kind: str
    quantity: str
    opened_ns: int
    open_value: float
    arrival_ns: int | None
    threshold: float | None
    value: float
    last_ns: int
    resolved_ns: int | None = None
    detail: str = ""

    @property
    def key(self) -> EpisodeKey:
        return (self.kind, self.opened_ns)

    def to_dict(self) -> dict[str, Any]:
        # As dataclasses.asdict (same keys in field order), without its deep copy: every
        # field is an int, float, str or None.
        return {name: getattr(self, name) for name in _EPISODE_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Episode:
        return cls(**data)


_EPISODE_FIELDS = tuple(item.name for item in fields(Episode))
Touched = dict[EpisodeKey, Episode]


class ThresholdMachine:
    """Hysteresis alarm on one quantity: opens after `n_open` consecutive QC-good readings
    strictly beyond `threshold` (above it, or below it for a low alarm), closes after
    `n_close` consecutive readings strictly past `release`."""

    __slots__ = (
        "episode",
        "high",
        "kind",
        "n_close",
        "n_open",
        "quantity",
        "rel_n",
        "rel_start",
        "release",
        "run_n",
        "run_peak",
        "run_start",
        "threshold",
    )

    def __init__(
        self,
        kind: str,
        quantity: str,
        *,
        threshold: float,
        hysteresis: float,
        high: bool,
        n_open: int,
        n_close: int,
    ) -> None:
        self.kind = kind
        self.quantity = quantity
        self.threshold = threshold
        self.high = high
        self.release = threshold - hysteresis if high else threshold + hysteresis
        self.n_open = n_open
        self.n_close = n_close
        self.episode: Episode | None = None
        self.run_n = 0
        self.run_start: tuple[int, float, int] | None = None
        self.run_peak = 0.0
        self.rel_n = 0
        self.rel_start = 0

    def _more_extreme(self, value: float, than: float) -> bool:
        return value > than if self.high else value < than

    def feed(
        self,
        time_ns: int,
        value: float,
        arrival_ns: int,
        touched: Touched,
        *,
        censored: bool = False,
    ) -> None:
        """`censored`: the true value is below `value` (a "< LOQ" reading). It counts only
        where that is certain: towards a low alarm, or towards releasing a high one."""
        episode = self.episode
        if episode is None:
            # A threshold is exceeded by a value above it (below it for a low alarm),
            # never by a value equal to it (GrwV: "überschritten"; docs/quality-control.md).
            if censored:
                beyond = not self.high and value <= self.threshold
            else:
                beyond = value > self.threshold if self.high else value < self.threshold
            if not beyond:
                self.run_n = 0
                return
            self.run_n += 1
            if self.run_n == 1:
                self.run_start = (time_ns, value, arrival_ns)
                self.run_peak = value
            elif not censored and self._more_extreme(value, self.run_peak):
                self.run_peak = value
            if self.run_n >= self.n_open:
                assert self.run_start is not None
                start_ns, start_value, start_arrival = self.run_start
                episode = Episode(
                    kind=self.kind,
                    quantity=self.quantity,
                    opened_ns=start_ns,
                    open_value=start_value,
                    arrival_ns=start_arrival,
                    threshold=self.threshold,
                    value=self.run_peak,
                    last_ns=time_ns,
                )
                self.episode = episode
                touched[episode.key] = episode
                self.run_n = 0
                self.run_start = None
                self.rel_n = 0
            return
        if not censored and self._more_extreme(value, episode.value):
            episode.value = value
            episode.last_ns = time_ns
            touched[episode.key] = episode
        if censored:
            released = self.high and value <= self.release
        else:
            released = value < self.release if self.high else value > self.release
        if not released:
            self.rel_n = 0
            return
        self.rel_n += 1
        if self.rel_n == 1:
            self.rel_start = time_ns
        if self.rel_n >= self.n_close:
            episode.resolved_ns = self.rel_start
            touched[episode.key] = episode
            self.episode = None
            self.rel_n = 0

    def state(self) -> dict[str, Any]:
        return {
            "episode": None if self.episode is None else self.episode.to_dict(),
            "run_n": self.run_n,
            "run_start": None if self.run_start is None else list(self.run_start),
            "run_peak": self.run_peak,
            "rel_n": self.rel_n,
            "rel_start": self.rel_start,
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.episode = None if data["episode"] is None else Episode.from_dict(data["episode"])
        start = data["run_start"]
        self.run_start = None if start is None else (int(start[0]), float(start[1]), int(start[2]))
        self.run_n = int(data["run_n"])
        self.run_peak = float(data["run_peak"])
        self.rel_n = int(data["rel_n"])
        self.rel_start = int(data["rel_start"])


class _FaultTrack:
    __slots__ = ("active", "bad_n", "bad_start", "good_n", "good_start")

    def __init__(self) -> None:
        self.active = False
        self.bad_n = 0
        self.bad_start: tuple[int, float, int, str] | None = None
        self.good_n = 0
        self.good_start = 0


class SensorFaultMachine:
    """One sensor-fault episode per probe: open while any quantity has had `n_open` QC-bad
    readings in a row and not yet `n_close` good ones in a row since."""

    __slots__ = ("episode", "n_close", "n_open", "tracks")

    def __init__(self, *, n_open: int, n_close: int) -> None:
        self.n_open = n_open
        self.n_close = n_close
        self.tracks: dict[str, _FaultTrack] = {}
        self.episode: Episode | None = None

    def feed(
        self,
        time_ns: int,
        quantity: str,
        value: float,
        arrival_ns: int,
        *,
        bad: str | None,
        touched: Touched,
    ) -> None:
        track = self.tracks.get(quantity)
        if track is None:
            if bad is None:
                return
            track = self.tracks[quantity] = _FaultTrack()
        if bad is not None:
            track.good_n = 0
            if track.active:
                return
            track.bad_n += 1
            if track.bad_n == 1:
                track.bad_start = (time_ns, value, arrival_ns, bad)
            if track.bad_n >= self.n_open:
                track.active = True
                track.bad_n = 0
                if self.episode is None:
                    assert track.bad_start is not None
                    start_ns, start_value, start_arrival, detail = track.bad_start
                    episode = Episode(
                        kind=AlertKind.SENSOR_FAULT.value,
                        quantity=quantity,
                        opened_ns=start_ns,
                        open_value=start_value,
                        arrival_ns=start_arrival,
                        threshold=None,
                        value=start_value,
                        last_ns=time_ns,
                        detail=detail,
                    )
                    self.episode = episode
                    touched[episode.key] = episode
            return
        if not track.active:
            track.bad_n = 0
            return
        track.good_n += 1
        if track.good_n == 1:
            track.good_start = time_ns
        if track.good_n >= self.n_close:
            track.active = False
            track.good_n = 0
            if self.episode is not None and not any(t.active for t in self.tracks.values()):
                self.episode.resolved_ns = track.good_start
                touched[self.episode.key] = self.episode
                self.episode = None

    def state(self) -> dict[str, Any]:
        return {
            "episode": None if self.episode is None else self.episode.to_dict(),
            "tracks": {
                quantity: {
                    "active": track.active,
                    "bad_n": track.bad_n,
                    "bad_start": None if track.bad_start is None else list(track.bad_start),
                    "good_n": track.good_n,
                    "good_start": track.good_start,
                }
                for quantity, track in self.tracks.items()
            },
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.episode = None if data["episode"] is None else Episode.from_dict(data["episode"])
        self.tracks = {}
        for quantity, raw in data["tracks"].items():
            track = _FaultTrack()
            track.active = bool(raw["active"])
            track.bad_n = int(raw["bad_n"])
            start = raw["bad_start"]
            track.bad_start = (
                None
                if start is None
                else (int(start[0]), float(start[1]), int(start[2]), str(start[3]))
            )
            track.good_n = int(raw["good_n"])
            track.good_start = int(raw["good_start"])
            self.tracks[quantity] = track


def _int_param(plan: ProbePlan, kind: str, name: str) -> int:
    value = plan.alarms[kind][name]
    assert isinstance(value, int)
    return value


def _float_param(plan: ProbePlan, kind: str, name: str) -> float:
    value = plan.alarms[kind][name]
    assert isinstance(value, int | float)
    return float(value)


class ProbeEvaluator:
    """QC and alarms of one probe, fed in measurement-time order (see module docstring)."""

    # One per probe in `gwmon run`: slots, not a dict per instance (issue 11, target 4).
    __slots__ = (
        "_interval",
        "_nitrate_loq",
        "_qc",
        "_run_qc",
        "all_finite",
        "by_kind",
        "last_verdict",
        "machines",
        "plan",
        "pos",
        "quantified",
        "sensor",
        "touched",
        "window_len",
        "windows",
    )

    def __init__(self, plan: ProbePlan) -> None:
        self.plan = plan
        probe = plan.probe
        self.windows: dict[str, Window] = {}
        self._qc = checks_of(plan)
        # Bound on the first quiet run (`_quiet.py`; numpy is imported then, not at start-up).
        self._run_qc: Mapping[str, RunChecks] | None = None
        self.window_len = window_lengths(plan)
        self._interval = probe.expected_interval_s
        self.machines: dict[str, list[ThresholdMachine]] = {}
        self.by_kind: dict[str, ThresholdMachine] = {}

        def add(kind: AlertKind, quantity: str, threshold: float, *, high: bool) -> None:
            machine = ThresholdMachine(
                kind.value,
                quantity,
                threshold=threshold,
                hysteresis=_float_param(plan, kind.value, "hysteresis"),
                high=high,
                n_open=_int_param(plan, kind.value, "min_consecutive"),
                n_close=_int_param(plan, kind.value, "release_consecutive"),
            )
            self.machines.setdefault(quantity, []).append(machine)
            self.by_kind[kind.value] = machine

        add(AlertKind.BREACH, "nitrate", probe.nitrate_breach_mg_l, high=True)
        add(AlertKind.WARNING, "nitrate", probe.nitrate_warning_mg_l, high=True)
        if probe.level_min_m_nhn is not None:
            add(AlertKind.LEVEL_LOW, "level", probe.level_min_m_nhn, high=False)
        if probe.level_max_m_nhn is not None:
            add(AlertKind.LEVEL_HIGH, "level", probe.level_max_m_nhn, high=True)
        self.sensor = SensorFaultMachine(
            n_open=_int_param(plan, "sensor_fault", "min_consecutive"),
            n_close=_int_param(plan, "sensor_fault", "release_consecutive"),
        )
        self.pos: tuple[int, str] | None = None
        self.touched: Touched = {}
        # Per quantity: how many readings at the end of its window are quantified (not
        # below the LOQ); detectors that skip below-LOQ readings see only those.
        self.quantified: dict[str, int] = {}
        # Per quantity whose last reading was bad: its time, bad-flag description and
        # whether it was left out of the history: what a value derived from it at the
        # same time inherits (depth -> level).
        self.last_verdict: dict[str, tuple[int, str | None, bool]] = {}
        self._nitrate_loq = probe.nitrate_loq_mg_l
        # False once a non-finite value was fed or restored: `snapshot_json` then takes
        # `json.dumps` (the ingest refuses NaN and infinity, so this should not happen).
        self.all_finite = True

    def below_loq(self, quantity: str, value: float, *, censored: bool) -> bool:
        """A laboratory's "< LOQ" value, or a nitrate number below the registry's LOQ."""
        loq = self._nitrate_loq
        return censored or (quantity == "nitrate" and loq is not None and value < loq)

    def _inherited(self, time_ns: int, derived_from: str) -> tuple[tuple[Flag, ...], bool]:
        """A bad flag on the reading a value was derived from at the same time is
        inherited (flag `derived`), and hides the value if it hid its source. Readings
        of one time are fed in quantity order, so "depth" comes before "level"."""
        source = self.last_verdict.get(derived_from)
        if source is not None and source[0] == time_ns and source[1] is not None:
            flag = Flag(DERIVED_FLAG, DERIVED_FLAG, f"derived from {source[1]}", "bad")
            return (flag,), source[2]
        return (), False

    def feed(
        self,
        time_ns: int,
        quantity: str,
        value: float,
        arrival_ns: int,
        *,
        censored: bool = False,
        derived_from: str | None = None,
    ) -> tuple[Flag, ...]:
        """Evaluate one reading; returns its QC flags (empty when it passed).

        `censored`: the reading is "< value" (below the limit of quantification).
        `derived_from`: the quantity this value was computed from at the same time (a
        level from a depth): see `_inherited`."""
        flags: tuple[Flag, ...] = ()
        hidden = False
        if value - value != 0.0:  # NaN or infinite (x - x is 0.0 for every finite x)
            self.all_finite = False
        if derived_from is not None:
            flags, hidden = self._inherited(time_ns, derived_from)
        loq = self._nitrate_loq
        below = censored or (loq is not None and quantity == "nitrate" and value < loq)
        checks = self._qc.get(quantity)
        if checks:
            window = self.windows.get(quantity)
            if window is None:
                window = self.windows[quantity] = Window()
            size = len(window.times)
            quantified = min(self.quantified.get(quantity, size), size)
            quantified_start = size - quantified  # what detectors skipping below-LOQ see
            interval = self._interval
            for columns, skips, cause, name, level, hides, detector, params in checks:
                if skips:
                    if below:
                        continue
                    start = quantified_start
                else:
                    start = 0
                if columns is not None:
                    detail = columns(window, start, time_ns, value, interval)
                else:
                    history: History = window[start:] if start else window
                    detail = detector.check(params, history, time_ns, value, interval)
                if detail is not None:
                    flags += (Flag(cause, name, detail, level),)
                    hidden = hidden or hides
            if not hidden:
                times, values = window.times, window.values
                times.append(time_ns)
                values.append(value)
                quantified = 0 if below else quantified + 1
                if size + 1 > self.window_len[quantity]:
                    del times[0], values[0]
                    quantified = min(quantified, size)
                self.quantified[quantity] = quantified
        bad: str | None = None
        for flag in flags:
            if flag.level == "bad":
                bad = f"{quantity} flagged {flag.flag}: {flag.detail}"
                break
        if bad is not None:
            self.last_verdict[quantity] = (time_ns, bad, hidden)
        elif quantity in self.last_verdict:
            del self.last_verdict[quantity]  # a good reading: nothing to inherit
        sensor = self.sensor
        if bad is not None or quantity in sensor.tracks:  # else the machine does nothing
            sensor.feed(time_ns, quantity, value, arrival_ns, bad=bad, touched=self.touched)
        if bad is None:
            for machine in self.machines.get(quantity, ()):
                if (
                    machine.episode is None
                    and not machine.run_n
                    and not censored
                    and (value <= machine.threshold if machine.high else value >= machine.threshold)
                ):
                    continue  # not beyond and no run: `ThresholdMachine.feed` changes nothing
                machine.feed(time_ns, value, arrival_ns, self.touched, censored=censored)
        self.pos = (time_ns, quantity)
        return flags

    def snapshot(self) -> dict[str, Any]:
        """The state as JSON-ready data (`from_snapshot` takes it back)."""
        return {
            "pos": None if self.pos is None else list(self.pos),
            "windows": {q: list(w) for q, w in self.windows.items()},
            "machines": {kind: machine.state() for kind, machine in self.by_kind.items()},
            "sensor": self.sensor.state(),
            "quantified": dict(self.quantified),
            "last_verdict": {q: list(v) for q, v in self.last_verdict.items()},
        }

    def snapshot_json(self) -> bytes:
        """`snapshot()` as JSON, the form the state file keeps. msgspec writes it about
        seven times faster than `json.dumps` (issue 11: a checkpoint every tenth of the
        horizon, the `current` row of every probe in every batch) and reads back the same
        data, but it would write a non-finite float as `null`, which `from_snapshot`
        could not restore: an evaluator that ever held one (`all_finite`) takes
        `json.dumps` (`NaN`) as before."""
        data = self.snapshot()
        if self.all_finite:
            try:
                return _ENCODER.encode(data)
            except (OverflowError, TypeError):  # e.g. an int beyond 64 bits: json can
                pass
        return json.dumps(data).encode()

    @classmethod
    def from_snapshot(cls, plan: ProbePlan, data: dict[str, Any] | None) -> ProbeEvaluator:
        evaluator = cls(plan)
        if not data:
            return evaluator
        evaluator.all_finite = _finite(data)
        pos = data["pos"]
        evaluator.pos = None if pos is None else (int(pos[0]), str(pos[1]))
        for quantity, items in data["windows"].items():
            limit = evaluator.window_len.get(quantity, 0)
            window = [(int(t), float(v)) for t, v in items]
            evaluator.windows[quantity] = Window(window[-limit:] if limit else [])
        for kind, state in data["machines"].items():
            machine = evaluator.by_kind.get(kind)
            if machine is not None:  # a threshold removed from the registry drops its state
                machine.restore(state)
        evaluator.sensor.restore(data["sensor"])
        # Snapshots from before these were kept: every reading counts as quantified.
        evaluator.quantified = {
            quantity: int(count) for quantity, count in data.get("quantified", {}).items()
        }
        evaluator.last_verdict = {
            quantity: (int(t), None if bad is None else str(bad), bool(hidden))
            for quantity, (t, bad, hidden) in data.get("last_verdict", {}).items()
        }
        return evaluator


_ENCODER = msgspec.json.Encoder()


def _finite(data: object) -> bool:
    """Whether every float in snapshot data (from the state file) is finite."""
    if isinstance(data, float):
        return math.isfinite(data)
    if isinstance(data, dict):
        return all(_finite(item) for item in data.values())
    if isinstance(data, list | tuple):
        return all(_finite(item) for item in data)
    return True
