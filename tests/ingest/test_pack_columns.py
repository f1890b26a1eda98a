"""The one-pass decoder of plain packs against the careful decoder: whatever the one-pass
path returns is exactly what the careful one returns, and plain packs take it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.ingest import decode_pack
from gwmon.ingest._pack import PackColumns, _decode_plain, _not_in_the_future, decode_columns
from gwmon.ingest._senml import decode_carefully

PROBE = "LE-07"
NOW = 1_764_140_400.0
NS = 1_000_000_000

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


def _rarely(draw: st.DrawFn) -> bool:
    return draw(st.integers(0, 79)) == 41  # not an end: Hypothesis favours those


@st.composite
def _number_literal(draw: st.DrawFn) -> str:
    """Mostly a short number; now and then one on or beyond a limit of the decoder."""
    if not _rarely(draw):
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


def _odd_value() -> st.SearchStrategy[str]:
    return st.one_of(
        _number_literal(),
        st.sampled_from(['"1"', "true", "null", "[1]", '{"a":1}', '"<0.5"', '"x\\u003a"']),
    )


def _odd_string(choices: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(choices).map(json.dumps),
        st.sampled_from(['"x\\u003a"', '"caf\\u00e9"', "5", "null", '"a:b"']),
    )


@st.composite
def _record(draw: st.DrawFn, first: bool) -> str:
    """Mostly a valid record of a plain pack; now and then one field is odd, missing,
    named twice or unknown."""
    name = draw(st.sampled_from([*NAMES, "seq"]))
    fields: list[tuple[str, str]] = []
    if first and not _rarely(draw):
        fields.append(("bn", json.dumps(f"{PROBE}:")))
    elif _rarely(draw):
        fields.append(("bn", draw(_odd_string([f"{PROBE}:", "LE-08:"]))))
    if first and not _rarely(draw):
        fields.append(("bt", draw(st.sampled_from(["1764140000", "1764140000.5", "1764139999"]))))
    elif _rarely(draw):
        fields.append(("bt", draw(_number_literal())))
    if _rarely(draw):
        fields.append(("bu", draw(_odd_string(UNITS))))
    if not _rarely(draw):
        fields.append(("n", json.dumps(name) if not _rarely(draw) else draw(_odd_string(NAMES))))
    if name != "seq" and not _rarely(draw):
        unit = json.dumps(UNIT_OF[name]) if not _rarely(draw) else draw(_odd_string(UNITS))
        fields.append(("u", unit))
    if not _rarely(draw):
        if name == "seq":
            fields.append(("v", str(draw(st.integers(0, 2**32 + 5)))))
        else:
            fields.append(
                ("v", draw(_number_literal()) if not _rarely(draw) else draw(_odd_value()))
            )
    if draw(st.booleans()):
        fields.append(("t", draw(_number_literal())))
    if _rarely(draw):
        fields.append((draw(st.sampled_from(["bv", "vs", "s", "x", "crit_", "bver"])), "1"))
    if fields and _rarely(draw):
        fields.append(draw(st.sampled_from(fields)))  # a field named twice
    order = draw(st.permutations(fields)) if _rarely(draw) else fields
    return "{" + ",".join(f'"{key}":{value}' for key, value in order) + "}"


@st.composite
def _pack_text(draw: st.DrawFn) -> bytes:
    records = [draw(_record(first=index == 0)) for index in range(draw(st.integers(1, 8)))]
    space = draw(st.sampled_from(["", " "]))
    return ("[" + f",{space}".join(records) + "]").encode()


def _plain(payload: bytes) -> PackColumns | None:
    columns = _decode_plain(PROBE, payload, int(NOW * NS))
    if columns is None or not _not_in_the_future(columns, NOW, 300.0):
        return None
    return columns


def _careful(payload: bytes) -> Any:
    return decode_carefully(PROBE, payload, now_s=NOW)


@settings(max_examples=1500, deadline=None)
@given(payload=_pack_text())
def test_the_one_pass_path_returns_what_the_careful_decoder_returns(payload: bytes) -> None:
    plain = _plain(payload)
    if plain is None:
        return
    careful = _careful(payload)  # must not raise: the one-pass path accepted it
    assert plain.as_pack() == careful
    assert careful.rejections == []


@st.composite
def _plain_pack(draw: st.DrawFn) -> bytes:
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


@settings(max_examples=300, deadline=None)
@given(payload=_plain_pack())
def test_plain_packs_take_the_one_pass_path_and_decode_as_carefully(payload: bytes) -> None:
    plain = _plain(payload)
    assert plain is not None
    assert plain.as_pack() == _careful(payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","v":1,"v":2}]',
        b'[{"bn":"LE-07:","bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","v":1}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","v":1.00000000000000001}]',
        b'[{"bn":"LE-07:","bt":1764140000.123456789,"n":"level","u":"m","v":1}]',
        b'\xef\xbb\xbf[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","v":1}]',
        b'[{"bn":"LE-07\\u003a","bt":1764140000,"n":"nitrate","u":"mg/L","v":1}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","v":NaN}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","v":1,"x":[[1]]}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","vs":"<0.5"}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"seq","u":null,"v":1}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":null}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","v":01}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","v":1.}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","v":.5}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","v":+1}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"mg/L","v":1}] x',
        b"[]",
    ],
)
def test_what_is_not_plain_goes_the_careful_way(payload: bytes) -> None:
    assert _plain(payload) is None
    try:
        expected: Any = _careful(payload)
    except Exception as exc:  # noqa: BLE001 - the same refusal through the public path
        with pytest.raises(type(exc)):
            decode_pack(PROBE, payload, now_s=NOW)
        return
    assert decode_pack(PROBE, payload, now_s=NOW) == expected


def test_columns_keep_the_exact_values_of_the_contract() -> None:
    payload = json.dumps(
        [
            {"bn": f"{PROBE}:", "bt": 1_764_140_000, "n": "nitrate_n", "u": "mg/L", "v": 10},
            {"n": "depth", "u": "m", "v": 8.13},
        ]
    ).encode()
    columns = decode_columns(PROBE, payload, now_s=NOW)
    assert columns.values == [44.27, 8.13]
    assert columns.quantities == ["nitrate", "depth"]
    assert columns.times_ns == [1_764_140_000 * NS] * 2


@pytest.mark.parametrize("offset_s", [-1, 0, 1, 0.5, 0.0000001])
def test_the_future_margin_is_exact_on_both_paths(offset_s: float) -> None:
    # now + 300 s is the latest time accepted; the careful path refuses anything later.
    payload = json.dumps(
        [{"bn": f"{PROBE}:", "bt": 1_764_140_700, "t": offset_s, "n": "level", "u": "m", "v": 1}]
    ).encode()
    careful = _careful(payload)
    assert decode_pack(PROBE, payload, now_s=NOW) == careful
    assert len(careful.readings) == (1 if offset_s <= 0 else 0)
