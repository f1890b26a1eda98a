"""Scenario files (TOML): which probes, their parameters, timed events. See docs/scenarios.md."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal, TypeGuard

from gwmon_sim._errors import ScenarioError
from gwmon_sim._params import (
    LEVEL_RECORDS,
    NITRATE_RECORDS,
    NUMERIC_PARAMS,
    QUANTITIES,
)
from gwmon_sim._registry import PROBE_ID_RE

EventKind = Literal[
    "nitrate_episode",
    "spike",
    "flatline",
    "drift",
    "biofouling",
    "step",
    "dropout",
    "offline",
    "clock_skew",
    "duplicate",
    "malformed",
    "battery_death",
]
MALFORMED_VARIANTS: Final = (
    "invalid_json",
    "not_senml",
    "empty_pack",
    "base_name_mismatch",
    "unknown_unit",
    "non_finite",
    "missing_time",
)
_QUANTITY_ALIASES: Final = {"nitrate_n": "nitrate", "depth": "level"}
_MAX_WIRE_BYTES: Final = 65_536  # a pack's size limit on the wire (docs/wire-format.md)
_NUM = (int, float)


def _is_number(value: object) -> TypeGuard[int | float]:
    """A finite int or float (TOML allows nan and inf; no parameter does)."""
    return isinstance(value, _NUM) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class _ParamRule:
    kind: type | tuple[type, ...]
    default: object
    required: bool = False


# Per event kind: its parameters (besides probe, kind, day, days), types and defaults.
EVENT_PARAMS: Final[dict[str, dict[str, _ParamRule]]] = {
    "nitrate_episode": {
        "target_mg_l": _ParamRule(_NUM, None, required=True),
        "ramp_hours": _ParamRule(_NUM, 24.0),
    },
    "spike": {
        "quantity": _ParamRule(str, "nitrate"),
        "value": _ParamRule(_NUM, None),
        "delta": _ParamRule(_NUM, None),
        "count": _ParamRule(int, 1),
    },
    "flatline": {"quantity": _ParamRule(str, "nitrate")},
    "drift": {
        "quantity": _ParamRule(str, "nitrate"),
        "rate_per_day": _ParamRule(_NUM, None, required=True),
    },
    "biofouling": {
        "quantity": _ParamRule(str, "nitrate"),
        "rate_per_day": _ParamRule(_NUM, 0.3),
    },
    "step": {
        "quantity": _ParamRule(str, "level"),
        "offset": _ParamRule(_NUM, None, required=True),
    },
    "dropout": {
        "quantities": _ParamRule(list, None),
        "probability": _ParamRule(_NUM, 1.0),
    },
    "offline": {},
    "clock_skew": {
        "offset_s": _ParamRule(_NUM, 0.0),
        "drift_s_per_day": _ParamRule(_NUM, 0.0),
    },
    "duplicate": {"probability": _ParamRule(_NUM, 1.0)},
    "malformed": {"variant": _ParamRule(str, "invalid_json")},
    "battery_death": {},
}
EVENT_KINDS: Final = tuple(EVENT_PARAMS)


@dataclass(frozen=True, slots=True)
class Event:
    """One timed event: `kind` on `probe` from `day` (days after start) for `days`.

    `days` None means "until the end of the run" (for `spike`: `count` samples).
    """

    probe: str
    kind: EventKind
    day: float
    days: float | None
    params: Mapping[str, Any] = field(default_factory=dict)

    def window(self, start_s: int) -> tuple[float, float]:
        begin = start_s + self.day * 86_400
        end = math.inf if self.days is None else begin + self.days * 86_400
        return begin, end


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """Firmware/network behaviour shared by all probes of a scenario."""

    max_pack_bytes: int = 16_384
    buffer_capacity: int = 5_000
    reconnect_base_s: float = 0.2
    reconnect_max_s: float = 10.0
    keepalive_s: int = 60
    firmware: str = "gwmon-sim 0.1.0"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed, validated scenario. `start_s` None means "auto" (see `resolve_start`)."""

    name: str
    description: str
    source: str
    start_s: int | None
    days: float
    interval_s: int | None
    seed: int
    probes: tuple[str, ...] | None
    defaults: Mapping[str, object]
    overrides: Mapping[str, Mapping[str, object]]
    events: tuple[Event, ...]
    network: NetworkSettings

    def resolve_start(self, now_s: float) -> int:
        """The simulated start time: fixed in the file, or "auto": the run ends one hour
        after the current full hour, so the last hourly sample is at that full hour (never
        in the future) and dashboards show fresh data; identical within the hour."""
        if self.start_s is not None:
            return self.start_s
        full_hour = int(now_s // 3600) * 3600
        return full_hour + 3600 - math.ceil(self.days * 86_400)

    def probe_settings(self, probe_id: str) -> dict[str, object]:
        merged = dict(self.defaults)
        merged.update(self.overrides.get(probe_id, {}))
        return merged


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped inside the package."""
    folder = resources.files("gwmon_sim") / "scenarios"
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a shipped scenario by name (e.g. "wertvoll-demo") or a TOML file by path."""
    text: str
    source: str
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists() or "/" in str(name_or_path):
        source = str(candidate)
        try:
            text = candidate.read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"cannot read scenario {candidate}: {exc.strerror}"
            raise ScenarioError(msg) from None
    else:
        name = str(name_or_path)
        resource = resources.files("gwmon_sim") / "scenarios" / f"{name}.toml"
        if not resource.is_file():
            msg = (
                f"no shipped scenario named {name!r}; choose one of "
                f"{builtin_scenarios()} or pass a path to a .toml file"
            )
            raise ScenarioError(msg)
        source = f"gwmon_sim/scenarios/{name}.toml"
        text = resource.read_text(encoding="utf-8")
    return parse_scenario(text, source=source)


def parse_scenario(text: str, *, source: str = "<string>") -> Scenario:
    """Parse and validate scenario TOML text; errors name `source`, the key and the fix."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{source}: not valid TOML: {exc}"
        raise ScenarioError(msg) from None
    return _Parser(source).scenario(document)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {key}: {problem}")

    def table(self, document: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = document.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table ([" + key + "])")
        return value

    def scenario(self, document: Mapping[str, Any]) -> Scenario:
        unknown = set(document) - {"scenario", "network", "defaults", "probes", "events"}
        if unknown:
            raise self.fail(
                ",".join(sorted(unknown)),
                "unknown top-level key; use [scenario], [network], [defaults], "
                "[probes.<id>], [[events]]",
            )
        head = self.table(document, "scenario")
        allowed = {"name", "description", "start", "days", "interval_s", "seed", "probes"}
        for key in head:
            if key not in allowed:
                raise self.fail(f"scenario.{key}", f"unknown key; allowed: {sorted(allowed)}")
        name = head.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail("scenario.name", 'is required (e.g. name = "my-test")')
        days = head.get("days")
        if not _is_number(days) or not 0 < days <= 3660:
            raise self.fail("scenario.days", "is required: a number of days in (0, 3660]")
        interval = head.get("interval_s")
        if interval is not None and (
            not isinstance(interval, int) or isinstance(interval, bool) or not interval >= 1
        ):
            raise self.fail("scenario.interval_s", "must be a whole number of seconds >= 1")
        seed = head.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise self.fail("scenario.seed", "must be an integer")
        probes = head.get("probes")
        if probes is not None:
            if not isinstance(probes, list) or not probes:
                raise self.fail("scenario.probes", 'must be a non-empty list (e.g. ["LE-01"])')
            for probe in probes:
                self.check_probe_id("scenario.probes", probe)
        description = head.get("description", "")
        if not isinstance(description, str):
            raise self.fail("scenario.description", "must be a string")
        return Scenario(
            name=name,
            description=description,
            source=self.source,
            start_s=self.start(head.get("start", "auto")),
            days=float(days),
            interval_s=interval,
            seed=seed,
            probes=tuple(probes) if probes is not None else None,
            defaults=self.settings("defaults", self.table(document, "defaults")),
            overrides={
                probe: self.settings(f"probes.{probe}", self.table(document["probes"], probe))
                for probe in self.table(document, "probes")
                if self.check_probe_id("probes", probe)
            },
            events=tuple(
                self.event(index, raw) for index, raw in enumerate(document.get("events", []))
            ),
            network=self.network(self.table(document, "network")),
        )

    def check_probe_id(self, key: str, probe: object) -> bool:
        if not isinstance(probe, str) or not PROBE_ID_RE.fullmatch(probe):
            raise self.fail(key, f"{probe!r} is not a probe_id ([A-Za-z0-9_-]{{1,64}})")
        return True

    def start(self, value: object) -> int | None:
        if value == "auto":
            return None
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise self.fail(
                    "scenario.start", f'{value!r} is not "auto" or an ISO time (2026-10-01T00:00Z)'
                ) from None
        else:
            raise self.fail("scenario.start", 'must be "auto" or an ISO time (2026-10-01T00:00Z)')
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
        if seconds < 2**28 or seconds != int(seconds):
            raise self.fail("scenario.start", "must be a whole second after 1978 (absolute time)")
        return int(seconds)

    def settings(self, key: str, raw: Mapping[str, Any]) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, value in raw.items():
            where = f"{key}.{name}"
            if name in NUMERIC_PARAMS:
                spec = NUMERIC_PARAMS[name]
                if not _is_number(value):
                    raise self.fail(where, f"must be a finite number ({spec.unit})")
                if not spec.lo <= value <= spec.hi:
                    raise self.fail(where, f"{value} is outside [{spec.lo}, {spec.hi}] {spec.unit}")
                out[name] = float(value)
            elif name == "quantities":
                if not isinstance(value, list) or not all(q in QUANTITIES for q in value):
                    raise self.fail(where, f"must be a list drawn from {list(QUANTITIES)}")
                out[name] = tuple(value)
            elif name == "nitrate_record":
                if value not in NITRATE_RECORDS:
                    raise self.fail(where, f"must be one of {list(NITRATE_RECORDS)}")
                out[name] = value
            elif name == "level_record":
                if value not in LEVEL_RECORDS:
                    raise self.fail(where, f"must be one of {list(LEVEL_RECORDS)}")
                out[name] = value
            elif name == "vented":
                if not isinstance(value, bool):
                    raise self.fail(where, "must be true or false")
                out[name] = value
            elif name == "interval_s":
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise self.fail(where, "must be a whole number of seconds >= 1")
                out[name] = value
            else:
                known = [*NUMERIC_PARAMS, "quantities", "nitrate_record", "level_record"]
                known += ["vented", "interval_s"]
                raise self.fail(where, f"unknown parameter; known: {sorted(known)}")
        return out

    def network(self, raw: Mapping[str, Any]) -> NetworkSettings:
        defaults = NetworkSettings()
        values: dict[str, Any] = {}
        for name, value in raw.items():
            where = f"network.{name}"
            if not hasattr(defaults, name):
                raise self.fail(where, f"unknown key; allowed: {list(defaults.__slots__)}")
            default = getattr(defaults, name)
            if isinstance(default, str):
                if not isinstance(value, str):
                    raise self.fail(where, "must be a string")
            elif isinstance(default, int) and (
                not isinstance(value, int) or isinstance(value, bool)
            ):
                raise self.fail(where, "must be a whole number")
            elif not _is_number(value) or value <= 0:
                raise self.fail(where, "must be a positive number")
            values[name] = type(default)(value)
        settings = NetworkSettings(**values)
        if not 512 <= settings.max_pack_bytes <= _MAX_WIRE_BYTES:
            raise self.fail(
                "network.max_pack_bytes", f"must be in [512, {_MAX_WIRE_BYTES}] (wire limit 64 KiB)"
            )
        if settings.reconnect_max_s < settings.reconnect_base_s:
            raise self.fail("network.reconnect_max_s", "must be >= reconnect_base_s")
        return settings

    def event(self, index: int, raw: object) -> Event:
        key = f"events[{index}]"
        if not isinstance(raw, dict):
            raise self.fail(key, "must be a table ([[events]])")
        kind = raw.get("kind")
        if kind not in EVENT_PARAMS:
            raise self.fail(f"{key}.kind", f"{kind!r} is not one of {list(EVENT_KINDS)}")
        probe = raw.get("probe")
        self.check_probe_id(f"{key}.probe", probe)
        assert isinstance(probe, str)
        day = raw.get("day", 0)
        if not _is_number(day) or day < 0:
            raise self.fail(f"{key}.day", "must be a number of days >= 0 after the start")
        days = raw.get("days")
        if days is not None and (not _is_number(days) or days <= 0):
            raise self.fail(f"{key}.days", "must be a positive number of days (or left out)")
        rules = EVENT_PARAMS[kind]
        params: dict[str, Any] = {}
        for name, value in raw.items():
            if name in ("probe", "kind", "day", "days"):
                continue
            rule = rules.get(name)
            if rule is None:
                raise self.fail(
                    f"{key}.{name}", f"not a parameter of {kind}; allowed: {sorted(rules)}"
                )
            if not isinstance(value, rule.kind) or isinstance(value, bool):
                raise self.fail(f"{key}.{name}", f"has the wrong type ({type(value).__name__})")
            if rule.kind == _NUM and not _is_number(value):
                raise self.fail(f"{key}.{name}", "must be a finite number")
            params[name] = value
        for name, rule in rules.items():
            if name not in params:
                if rule.required:
                    raise self.fail(f"{key}.{name}", f"is required for {kind}")
                params[name] = rule.default
        self.check_event_params(key, kind, params)
        return Event(probe, kind, float(day), None if days is None else float(days), params)

    def check_event_params(self, key: str, kind: str, params: dict[str, Any]) -> None:
        if "quantity" in params:
            quantity = _QUANTITY_ALIASES.get(params["quantity"], params["quantity"])
            if quantity not in QUANTITIES:
                raise self.fail(f"{key}.quantity", f"must be one of {list(QUANTITIES)}")
            params["quantity"] = quantity
        if kind == "spike" and (params["value"] is None) == (params["delta"] is None):
            raise self.fail(key, "a spike needs exactly one of value (absolute) or delta")
        if kind == "spike" and params["count"] < 1:
            raise self.fail(f"{key}.count", "must be >= 1")
        if kind == "nitrate_episode" and not 0 <= params["target_mg_l"] <= 500:
            raise self.fail(f"{key}.target_mg_l", "must be in [0, 500] mg/L")
        if kind == "nitrate_episode" and params["ramp_hours"] < 0:
            raise self.fail(f"{key}.ramp_hours", "must be >= 0")
        if "probability" in params and not 0 <= params["probability"] <= 1:
            raise self.fail(f"{key}.probability", "must be in [0, 1]")
        if kind == "dropout" and params["quantities"] is not None:
            names = [_QUANTITY_ALIASES.get(q, q) for q in params["quantities"]]
            if not all(q in QUANTITIES for q in names):
                raise self.fail(f"{key}.quantities", f"must be drawn from {list(QUANTITIES)}")
            params["quantities"] = tuple(names)
        if kind == "malformed" and params["variant"] not in MALFORMED_VARIANTS:
            raise self.fail(f"{key}.variant", f"must be one of {list(MALFORMED_VARIANTS)}")
