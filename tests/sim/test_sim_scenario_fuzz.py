"""Property: any TOML text either parses to a valid Scenario or raises ScenarioError with
the source name — nothing else escapes the scenario parser."""

from __future__ import annotations

import json
import math
import tomllib

from hypothesis import given, settings
from hypothesis import strategies as st

import gwmon_sim
from gwmon_sim import EVENT_KINDS, EXAMPLE_TOML, NUMERIC_PARAMS, ScenarioError, SimSettings

KEYS = sorted(
    {
        "name", "description", "start", "days", "interval_s", "seed", "probes", "kind",
        "probe", "day", "target_mg_l", "ramp_hours", "quantity", "value", "delta", "count",
        "rate_per_day", "offset", "quantities", "probability", "offset_s", "drift_s_per_day",
        "variant", "max_pack_bytes", "buffer_capacity", "reconnect_base_s",
        "reconnect_max_s", "keepalive_s", "firmware", "nitrate_record", "level_record",
        "vented", "junk", *NUMERIC_PARAMS,
    }
)  # fmt: skip
WORDS = ["LE-01", "TH-02", "nitrate", "level", "depth", "auto", "2026-09-01T00:00:00Z", "x"]


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


scalars = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from([*WORDS, *EVENT_KINDS, *gwmon_sim.MALFORMED_VARIANTS]),
    st.text(max_size=8),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))
tables = st.sampled_from(
    ["[scenario]", "[network]", "[defaults]", "[probes.LE-01]", "[[events]]", "[other]"]
)
documents = st.lists(
    st.tuples(tables, st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=6)),
    max_size=5,
).map(
    lambda sections: "\n".join(
        header + "\n" + "\n".join(f"{key} = {toml_value(value)}" for key, value in body)
        for header, body in sections
    )
)


@settings(max_examples=300, deadline=None)
@given(text=documents)
def test_any_document_parses_or_raises_scenario_error(text: str) -> None:
    try:
        scenario = gwmon_sim.parse_scenario(text, source="fuzz.toml")
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz.toml")
        return
    assert scenario.name and 0 < scenario.days <= 3660
    assert_finite(scenario)


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(EVENT_KINDS),
    day=st.floats(0, 10),
    extra=st.dictionaries(st.sampled_from(KEYS), scalars, max_size=3),
)
def test_events_parse_or_raise(kind: str, day: float, extra: dict[str, object]) -> None:
    body = {"probe": "LE-01", "kind": kind, "day": day, **extra}
    text = "[scenario]\nname = 'f'\ndays = 1\n[[events]]\n" + "\n".join(
        f"{k} = {toml_value(v)}" for k, v in body.items()
    )
    try:
        scenario = gwmon_sim.parse_scenario(text, source="ev.toml")
    except ScenarioError as exc:
        assert str(exc).startswith("ev.toml")
        return
    assert scenario.events[0].kind == body["kind"]
    assert_finite(scenario)


def assert_finite(scenario: gwmon_sim.Scenario) -> None:
    numbers: list[object] = [scenario.days, *vars_of(scenario.network)]
    for event in scenario.events:
        assert event.kind in EVENT_KINDS and event.day >= 0
        numbers += [event.day, event.days, *event.params.values()]
    for settings_ in [scenario.defaults, *scenario.overrides.values()]:
        numbers += list(settings_.values())
    for number in numbers:
        if isinstance(number, float):
            assert math.isfinite(number)


def vars_of(network: gwmon_sim.NetworkSettings) -> list[object]:
    return [getattr(network, name) for name in network.__slots__]


def test_example_toml_is_valid_and_holds_the_defaults() -> None:
    section = tomllib.loads(EXAMPLE_TOML)["sim"]
    assert SimSettings(**section) == SimSettings()
    assert SimSettings().speed_value == math.inf
