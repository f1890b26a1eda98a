"""Hypothesis strategies of SenML pack texts for probe LE-07: mostly plain packs, now
and then a field odd, missing, named twice or unknown (the decoder tests)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

PROBE = "LE-07"

NAMES = ["nitrate", "nitrate_n", "level", "depth", "temperature", "conductivity", "battery"]
UNITS = ["mg/L", "kg/m3", "m", "Cel", "K", "uS/cm", "S/m", "%EL", "ppm", ""]


UNIT_OF = {
    "nitrate": "mg/L",
    "nitrate_n": "kg/m3",
    "level": "m",
    "depth": "m",
    "temperature": "K",
    "conductivity": "S/m",
    "battery": "%EL",
}


def rarely(draw: st.DrawFn) -> bool:
    return draw(st.integers(0, 79)) == 41  # not an end: Hypothesis favours those


@st.composite
def number_literal(draw: st.DrawFn) -> str:
    """Mostly a short number; now and then one on or beyond a limit of the decoder."""
    if not rarely(draw):
        return draw(
            st.one_of(
                st.integers(-1000, 1000).map(str),
                st.decimals(-1000, 1000, places=2, allow_nan=False).map(str),
            )
        )
    digits = st.text("0123456789", min_size=1, max_size=22)
    literal: str = draw(
        st.one_of(
            st.integers(-(10**12), 10**12).map(str),
            st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
            st.builds(lambda a, b: f"{int(a)}.{b}", digits, digits),
            st.builds(lambda a, e: f"{a}e{e}", st.integers(-99, 99), st.integers(-30, 30)),
            st.sampled_from(["1764140000.123456789", "-0.0", "-1e-7", "3.5e2", "0.1"]),
            st.sampled_from(["1e999990", "9" * 41, "NaN", "Infinity", "4294967296", "1.5"]),
        )
    )
    return literal


def odd_value() -> st.SearchStrategy[str]:
    return st.one_of(
        number_literal(),
        st.sampled_from(['"1"', "true", "null", "[1]", '{"a":1}', '"<0.5"', '"x\\u003a"']),
    )


def odd_string(choices: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(choices).map(json.dumps),
        st.sampled_from(['"x\\u003a"', '"caf\\u00e9"', "5", "null", '"a:b"']),
    )


@st.composite
def record(draw: st.DrawFn, first: bool) -> str:
    """Mostly a valid record of a plain pack; now and then one field is odd, missing,
    named twice or unknown."""
    name = draw(st.sampled_from([*NAMES, "seq"]))
    fields: list[tuple[str, str]] = []
    if first and not rarely(draw):
        fields.append(("bn", json.dumps(f"{PROBE}:")))
    elif rarely(draw):
        fields.append(("bn", draw(odd_string([f"{PROBE}:", "LE-08:"]))))
    if first and not rarely(draw):
        fields.append(("bt", draw(st.sampled_from(["1764140000", "1764140000.5", "1764139999"]))))
    elif rarely(draw):
        fields.append(("bt", draw(number_literal())))
    if rarely(draw):
        fields.append(("bu", draw(odd_string(UNITS))))
    if not rarely(draw):
        fields.append(("n", json.dumps(name) if not rarely(draw) else draw(odd_string(NAMES))))
    if name != "seq" and not rarely(draw):
        unit = json.dumps(UNIT_OF[name]) if not rarely(draw) else draw(odd_string(UNITS))
        fields.append(("u", unit))
    if not rarely(draw):
        if name == "seq":
            fields.append(("v", str(draw(st.integers(0, 2**32 + 5)))))
        else:
            fields.append(("v", draw(number_literal()) if not rarely(draw) else draw(odd_value())))
    if draw(st.booleans()):
        fields.append(("t", draw(number_literal())))
    if rarely(draw):
        fields.append((draw(st.sampled_from(["bv", "vs", "s", "x", "crit_", "bver"])), "1"))
    if fields and rarely(draw):
        fields.append(draw(st.sampled_from(fields)))  # a field named twice
    order = draw(st.permutations(fields)) if rarely(draw) else fields
    return "{" + ",".join(f'"{key}":{value}' for key, value in order) + "}"


@st.composite
def pack_text(draw: st.DrawFn) -> bytes:
    records = [draw(record(first=index == 0)) for index in range(draw(st.integers(1, 8)))]
    space = draw(st.sampled_from(["", " "]))
    return ("[" + f",{space}".join(records) + "]").encode()


@st.composite
def plain_pack(draw: st.DrawFn) -> bytes:
    units = {
        "nitrate": ["mg/L", "kg/m3"],
        "nitrate_n": ["mg/L"],
        "level": ["m"],
        "depth": ["m"],
        "temperature": ["Cel", "K"],
        "conductivity": ["uS/cm", "S/m"],
        "battery": ["%EL"],
    }
    records: list[dict[str, Any]] = [{"bn": f"{PROBE}:", "bt": 1_764_130_000}]
    for index in range(draw(st.integers(1, 30))):
        name = draw(st.sampled_from([*NAMES, "seq"]))
        record: dict[str, Any] = {"t": index * 60, "n": name}
        if name == "seq":
            record["v"] = draw(st.integers(0, 2**32 - 1))
        else:
            record["u"] = draw(st.sampled_from(units[name]))
            record["v"] = draw(
                st.one_of(st.integers(-1000, 1000), st.decimals(-1000, 1000, places=3))
            )
        records.append(record)
    text = json.dumps(records, default=float)
    return text.encode()


# Names and the units in which they are stored as sent (no conversion).
AS_SENT_UNITS = {
    "nitrate": "mg/L",
    "level": "m",
    "depth": "m",
    "temperature": "Cel",
    "conductivity": "uS/cm",
    "battery": "%EL",
    "pressure_abs": "hPa",
}


_TWISTS = (
    ("v", "1.5"),  # a field named twice: the parser keeps the last one
    ("u", '"m"'),
    ("t", "7"),
    ("n", '"level"'),
    ("bt", "1764000001"),  # a base field after the first record
    ("bn", '"LE-07:"'),
    ("bu", '"m"'),
    ("bu", '"a:b"'),
    ("t", "0.5"),  # a float offset
    ("u", '"kg/m3"'),  # a unit that is converted
    ("n", '"seq"'),
)


@st.composite
def column_pack(draw: st.DrawFn, twisted: bool = False) -> bytes:
    """A pack of the common layout (the bench's, the firmware's with seq records): base
    fields on the first record, then names, units as stored (or the base unit), values
    and integer time offsets; spaced or not, keys in any order. `twisted`: now and then
    one record gets one more field (`_TWISTS`), which takes it out of that layout."""
    base_unit = draw(st.sampled_from([None, *AS_SENT_UNITS.values()]))
    choices = [*sorted(AS_SENT_UNITS), "seq"]
    names = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=40))
    records: list[dict[str, Any]] = []
    for index, name in enumerate(names):
        record: dict[str, Any] = {"n": name}
        if name == "seq":  # the firmware's sample counter, now and then with a unit
            record["v"] = draw(st.integers(0, 2**32 - 1) | st.sampled_from([0.0, 7.0, 2**32 - 1.0]))
            if draw(st.integers(0, 9)) == 0:
                record["u"] = draw(st.sampled_from(["count", "m"]))
            if twisted and draw(st.integers(0, 7)) == 0:  # not a sequence number
                record["v"] = draw(st.sampled_from([2**32, -1, 1.5]))
            if index and draw(st.booleans()):
                record["t"] = draw(st.integers(-86_400, 86_400))
            records.append(record)
            continue
        if AS_SENT_UNITS[name] != base_unit or draw(st.booleans()):
            record["u"] = AS_SENT_UNITS[name]
        if twisted and rarely(draw):
            record.pop("u", None)  # then the base unit, or none, applies
        record["v"] = draw(
            st.one_of(
                st.integers(-(10**6), 10**6),
                st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False).map(
                    lambda value: (
                        float(repr(value)[:15]) if "e" not in repr(value) else round(value, 3)
                    )
                ),
            )
        )
        if index and draw(st.booleans()):
            record["t"] = draw(st.integers(-86_400, 86_400))
        if draw(st.booleans()):
            record = dict(draw(st.permutations(list(record.items()))))
        records.append(record)
    head: dict[str, Any] = {
        "bn": f"{PROBE}:",
        "bt": draw(st.integers(1_763_000_000, 1_764_000_000)),
    }
    if base_unit is not None:
        head["bu"] = base_unit
    records[0] = {**head, **records[0]}
    separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    text = json.dumps(records, separators=separators)
    if twisted and draw(st.booleans()):
        key, value = draw(st.sampled_from(_TWISTS))
        # Insert it after the opening brace of one record (a key of any record).
        starts = [index for index, char in enumerate(text) if char == "{"]
        at = draw(st.sampled_from(starts)) + 1
        text = f'{text[:at]}"{key}"{separators[1]}{value}{separators[0]}{text[at:]}'
    return text.encode()
