"""The SenML decoder: conversions, rejections, bounds on outside input, censored values,
and Hypothesis properties (nothing but PayloadRejected escapes; numbers and censored
values decode exactly or are refused with their reason)."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.ingest import NITRATE_PER_NITRATE_N, RECORDS, PayloadRejected, Reason, decode_pack

NOW = 1_764_140_400.0
NS = 1_000_000_000


def decode(records: Any, probe: str = "LE-07", **kwargs: Any) -> Any:
    payload = records if isinstance(records, bytes) else json.dumps(records).encode()
    return decode_pack(probe, payload, now_s=NOW, **kwargs)


def test_base_fields_apply_to_following_records() -> None:
    pack = decode(
        [
            {"bn": "LE-07:", "bt": NOW - 100, "bu": "mg/L", "bv": 10, "n": "nitrate", "v": 1.5},
            {"n": "nitrate", "v": 2.5, "t": 50},
            {"n": "nitrate_n", "t": 60, "v": 0},
        ]
    )
    assert [(r.time_ns, r.value, r.quantity) for r in pack.readings] == [
        (int((NOW - 100) * NS), 11.5, "nitrate"),
        (int((NOW - 50) * NS), 12.5, "nitrate"),
        (int((NOW - 40) * NS), 44.27, "nitrate"),
    ]
    assert pack.rejections == []


def test_fractional_times_are_exact_to_the_nanosecond() -> None:
    pack = decode(b'[{"bt": 1764140000.123456789, "n": "level", "u": "m", "v": 1}]')
    assert pack.readings[0].time_ns == 1_764_140_000_123_456_789


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        ({"n": "x"}, Reason.NOT_SENML),
        ([1, 2], Reason.NOT_SENML),
        ([{"n": 5, "v": 1}], Reason.NOT_SENML),
        ([{"n": "nitrate", "v": "1"}], Reason.NOT_SENML),
        ([{"n": "nitrate", "v": True}], Reason.NOT_SENML),
        ([{"bver": 11, "n": "nitrate", "v": 1}], Reason.NOT_SENML),
        ([{"n": "nitrate", "v": 1, "crit_": 1}], Reason.NOT_SENML),
        ([], Reason.EMPTY_PACK),
        ([{"bn": "LE-08:", "n": "nitrate", "v": 1}], Reason.BASE_NAME_MISMATCH),
        ([{"bn": "urn:dev:LE-07:", "n": "nitrate", "v": 1}], Reason.BASE_NAME_MISMATCH),
    ],
)
def test_whole_pack_rejections(records: Any, reason: Reason) -> None:
    with pytest.raises(PayloadRejected) as caught:
        decode(records)
    assert caught.value.reason == reason


def test_payload_limits_and_encoding() -> None:
    with pytest.raises(PayloadRejected) as caught:
        decode(b"[" + b" " * 100 + b"]", max_bytes=50)
    assert caught.value.reason == Reason.PAYLOAD_TOO_LARGE
    with pytest.raises(PayloadRejected) as caught:
        decode(b"\xfe\xff")
    assert caught.value.reason == Reason.NOT_UTF8
    with pytest.raises(PayloadRejected) as caught:
        decode(b"[" * 60_000)
    assert caught.value.reason == Reason.INVALID_JSON


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"n": "ph", "u": "pH", "v": 7}, Reason.UNKNOWN_QUANTITY),
        ({"u": "m", "v": 7}, Reason.UNKNOWN_QUANTITY),
        ({"n": "nitrate", "v": 7}, Reason.UNKNOWN_UNIT),
        ({"n": "nitrate", "u": "mg/l", "v": 7}, Reason.UNKNOWN_UNIT),
        ({"n": "battery", "u": "%", "v": 7}, Reason.UNKNOWN_UNIT),
        ({"n": "nitrate", "u": "mg/L"}, Reason.MISSING_VALUE),
        ({"n": "nitrate", "u": "mg/L", "vs": "7"}, Reason.BAD_CENSORED_VALUE),
        ({"n": "nitrate", "u": "kg/m3", "v": 1e308}, Reason.NUMBER_OUT_OF_RANGE),
        ({"n": "nitrate", "u": "mg/L", "v": 1, "bt": 0}, Reason.MISSING_TIME),
        ({"n": "nitrate", "u": "mg/L", "v": 1, "bt": NOW + 301}, Reason.FUTURE_TIME),
        ({"n": "seq", "v": 1.5}, Reason.BAD_SEQUENCE),
        ({"n": "seq", "v": 2**32}, Reason.BAD_SEQUENCE),
        ({"n": "-bad", "v": 1}, Reason.NOT_SENML),
    ],
)
def test_record_rejections_keep_the_rest_of_the_pack(
    record: dict[str, Any], reason: Reason
) -> None:
    good = {"n": "level", "u": "m", "v": 100.0}
    pack = decode(
        [{"bt": NOW}, record, good] if "bt" not in record else [record, {**good, "bt": NOW}]
    )
    assert [r.reason for r in pack.rejections] == [reason]
    assert [r.value for r in pack.readings] == [100.0]


def test_nan_and_infinity_literals_are_rejected_per_record() -> None:
    payload = b'[{"bt": 1764140400, "n": "nitrate", "u": "mg/L", "v": NaN}, {"n": "level", "u": "m", "v": -Infinity}]'
    pack = decode(payload)
    assert [r.reason for r in pack.rejections] == [Reason.NON_FINITE_VALUE] * 2
    assert pack.readings == []


@pytest.mark.parametrize(("name", "spec"), sorted(RECORDS.items()))
def test_every_accepted_unit_converts_to_the_canonical_unit(name: str, spec: Any) -> None:
    for unit_name, unit in spec.units.items():
        pack = decode([{"bt": NOW, "n": name, "u": unit_name, "v": 2}])
        (reading,) = pack.readings
        assert reading.quantity == spec.quantity
        assert reading.value == float(2 * unit.scale + unit.offset)


# -- property: nothing but PayloadRejected escapes ------------------------------------------------
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["LE-07:", "nitrate", "mg/L", "m", "seq", "%EL", "K", "kg/m3"]),
)
field_names = st.sampled_from(
    ["bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut", "x_"]
)
records_strategy = st.dictionaries(field_names, json_scalars, max_size=6)
packs = st.lists(st.one_of(records_strategy, json_scalars), max_size=6)


@settings(max_examples=400, deadline=None)
@given(document=st.one_of(packs, records_strategy, json_scalars))
def test_any_json_document_decodes_or_is_rejected_with_a_reason(document: Any) -> None:
    try:
        payload = json.dumps(document, allow_nan=True).encode()
    except (ValueError, OverflowError):
        return
    try:
        pack = decode_pack("LE-07", payload, now_s=NOW)
    except PayloadRejected as exc:
        assert isinstance(exc.reason, Reason)
        assert exc.detail
        return
    for reading in pack.readings:
        assert math.isfinite(reading.value)
        assert reading.time_ns >= 2**28 * NS
        assert reading.quantity in {
            "nitrate",
            "level",
            "depth",
            "temperature",
            "conductivity",
            "battery",
        }
    for rejection in pack.rejections:
        assert isinstance(rejection.reason, Reason)


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=300))
def test_any_bytes_decode_or_are_rejected_with_a_reason(payload: bytes) -> None:
    try:
        decode_pack("LE-07", payload, now_s=NOW)
    except PayloadRejected as exc:
        assert isinstance(exc.reason, Reason)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=20
    ),
    start=st.integers(min_value=2**28, max_value=int(NOW)),
)
def test_valid_packs_round_trip_every_value(values: list[float], start: int) -> None:
    records = [{"bt": start, "n": "level", "u": "m", "v": values[0]}]
    records += [{"t": i, "n": "level", "u": "m", "v": v} for i, v in enumerate(values[1:], start=1)]
    pack = decode(records)
    assert [r.value for r in pack.readings] == values
    assert [r.time_ns for r in pack.readings] == [(start + i) * NS for i in range(len(values))]


# -- bounds on outside input (issue 14) ----------------------------------------------------------
GOOD_LEVEL = b'{"n": "level", "u": "m", "v": 100.0}'


@pytest.mark.parametrize(
    "record",
    [
        b'{"n": "nitrate", "u": "mg/L", "v": 1, "t": 1e999990}',
        b'{"n": "nitrate", "u": "mg/L", "v": 1, "t": -1e999990}',
        b'{"n": "nitrate", "u": "mg/L", "v": 1e999990}',
        b'{"n": "nitrate", "u": "mg/L", "v": 1.000000000000000000000e999990}',
        b'{"n": "seq", "v": 1e999990}',
        b'{"n": "nitrate", "u": "mg/L", "v": 1, "t": 10000000001}',
        b'{"n": "nitrate", "u": "mg/L", "v": -10000000001}',
        b'{"n": "nitrate", "u": "mg/L", "v": 1, "t": 9' + b"9" * 4300 + b"}",
        b'{"n": "nitrate", "u": "mg/L", "v": 9' + b"9" * 4300 + b"}",
        b'{"n": "nitrate", "u": "mg/L", "v": 0.' + b"1" * 39 + b"}",
    ],
)
def test_numbers_beyond_the_limits_cost_only_their_record(record: bytes) -> None:
    payload = b'[{"bt": 1764140400}, ' + record + b", " + GOOD_LEVEL + b"]"
    pack = decode(payload)
    assert [(r.index, r.reason) for r in pack.rejections] == [(1, Reason.NUMBER_OUT_OF_RANGE)]
    assert [r.value for r in pack.readings] == [100.0]


def test_numbers_at_the_limits_are_accepted() -> None:
    pack = decode(
        b'[{"bt": 1764140400, "n": "conductivity", "u": "uS/cm", "v": 1e10},'
        b' {"n": "conductivity", "u": "uS/cm", "v": -10000000000, "t": 1},'
        b' {"n": "level", "u": "m", "v": 41.80000000000000000000000000000000000, "t": 2}]'
    )
    assert [r.value for r in pack.readings] == [1e10, -1e10, 41.8]


def test_an_unusable_base_time_refuses_the_records_relying_on_it_until_it_is_set_anew() -> None:
    pack = decode(
        b'[{"bt": 1764140400, "n": "level", "u": "m", "v": 1},'
        b' {"bt": 1e999990, "n": "level", "u": "m", "v": 2},'
        b' {"n": "level", "u": "m", "v": 3, "t": 60},'
        b' {"bt": 1764140460, "n": "level", "u": "m", "v": 4}]'
    )
    assert [(r.index, r.reason) for r in pack.rejections] == [
        (1, Reason.NUMBER_OUT_OF_RANGE),
        (2, Reason.NUMBER_OUT_OF_RANGE),
    ]
    assert [(r.time_ns // NS, r.value) for r in pack.readings] == [
        (1_764_140_400, 1.0),
        (1_764_140_460, 4.0),
    ]


@pytest.mark.parametrize("depth", [17, 900, 10_000])
def test_nesting_deeper_than_16_levels_is_invalid_json(depth: int) -> None:
    inner = b"[" * (depth - 2) + b"]" * (depth - 2)
    for payload in (
        b"[" * depth + b"]" * depth,
        b'[{"bt": 1764140400, "n": "level", "u": "m", "v": 1, "x": ' + inner + b"}]",
    ):
        with pytest.raises(PayloadRejected) as caught:
            decode(payload)
        assert caught.value.reason == Reason.INVALID_JSON


def test_nesting_of_16_levels_in_an_unknown_field_is_ignored() -> None:
    inner = b"[" * 14 + b"]" * 14
    pack = decode(b'[{"bt": 1764140400, "n": "level", "u": "m", "v": 1, "x": ' + inner + b"}]")
    assert [r.value for r in pack.readings] == [1.0]


def test_one_leading_byte_order_mark_is_ignored() -> None:
    body = b'[{"bt": 1764140400, "n": "level", "u": "m", "v": 1}]'
    assert [r.value for r in decode(b"\xef\xbb\xbf" + body).readings] == [1.0]
    with pytest.raises(PayloadRejected) as caught:
        decode(b"\xef\xbb\xbf\xef\xbb\xbf" + body)
    assert caught.value.reason == Reason.INVALID_JSON


def test_a_record_naming_a_field_twice_is_refused() -> None:
    pack = decode(
        b'[{"bt": 1764140400, "n": "nitrate", "u": "mg/L", "v": 1, "v": 60}, ' + GOOD_LEVEL + b"]"
    )
    assert [(r.index, r.reason) for r in pack.rejections] == [(0, Reason.NOT_SENML)]
    assert "'v'" in pack.rejections[0].detail
    assert [r.value for r in pack.readings] == [100.0]


@settings(max_examples=300, deadline=None)
@given(
    mantissa=st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
    exponent=st.one_of(
        st.integers(min_value=-30, max_value=30),
        st.integers(min_value=-1_000_000, max_value=1_000_000),
    ),
)
def test_any_exponent_decodes_exactly_or_is_refused_as_out_of_range(
    mantissa: str, exponent: int
) -> None:
    literal = f"{mantissa}e{exponent}"
    payload = f'[{{"bt": 1764140400, "n": "level", "u": "m", "v": {literal}}}]'.encode()
    pack = decode(payload)
    exact = Decimal(literal)
    if len(literal) <= 40 and exact.copy_abs() <= 10**10:
        assert [r.value for r in pack.readings] == [float(exact)]
        assert pack.rejections == []
    else:
        assert [r.reason for r in pack.rejections] == [Reason.NUMBER_OUT_OF_RANGE]


# -- censored values (issue 9 point 2) -----------------------------------------------------------
@pytest.mark.parametrize(
    ("record", "value"),
    [
        ({"n": "nitrate", "u": "mg/L", "vs": "<0.5"}, 0.5),
        ({"n": "nitrate", "u": "mg/L", "vs": "<  12"}, 12.0),
        ({"n": "nitrate", "u": "kg/m3", "vs": "<0.0005"}, 0.5),
        ({"n": "nitrate_n", "u": "mg/L", "vs": "<0.5"}, 2.2135),
        ({"n": "nitrate", "u": "mg/L", "bv": 10, "vs": "<1"}, 1.0),  # bv is for v only
    ],
)
def test_censored_values_are_the_loq_in_canonical_units(
    record: dict[str, Any], value: float
) -> None:
    pack = decode([{"bt": NOW}, record])
    assert pack.rejections == []
    (reading,) = pack.readings
    assert (reading.quantity, reading.value, reading.censored) == ("nitrate", value, True)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"n": "nitrate", "u": "mg/L", "vs": "0.5"}, Reason.BAD_CENSORED_VALUE),
        ({"n": "nitrate", "u": "mg/L", "vs": "<0"}, Reason.BAD_CENSORED_VALUE),
        ({"n": "nitrate", "u": "mg/L", "vs": "<-1"}, Reason.BAD_CENSORED_VALUE),
        ({"n": "nitrate", "u": "mg/L", "vs": "<5e-1"}, Reason.BAD_CENSORED_VALUE),
        ({"n": "nitrate", "u": "mg/L", "vs": "<0,5"}, Reason.BAD_CENSORED_VALUE),
        ({"n": "nitrate", "u": "mg/L", "vs": "<.5"}, Reason.BAD_CENSORED_VALUE),
        ({"n": "nitrate", "u": "mg/L", "vs": " <0.5"}, Reason.BAD_CENSORED_VALUE),
        ({"n": "nitrate", "u": "mg/L", "vs": "<" + "1" * 24}, Reason.BAD_CENSORED_VALUE),
        # Bounded like every number (±1e10); found by tests/fuzz/test_fuzz_mutations.py.
        ({"n": "nitrate", "u": "mg/L", "vs": "<" + "9" * 19}, Reason.BAD_CENSORED_VALUE),
        ({"n": "nitrate", "u": "mg/L", "vs": "<10000000000.5"}, Reason.BAD_CENSORED_VALUE),
        ({"n": "nitrate", "u": "mg/L", "vs": "<0.5", "v": 0.4}, Reason.BAD_CENSORED_VALUE),
        ({"n": "level", "u": "m", "vs": "<0.5"}, Reason.BAD_CENSORED_VALUE),
        ({"n": "seq", "vs": "<1"}, Reason.BAD_CENSORED_VALUE),
        ({"n": "nitrate", "u": "ppm", "vs": "<0.5"}, Reason.UNKNOWN_UNIT),
        ({"n": "nitrate", "u": "mg/L", "vs": "<0.5", "bt": 0}, Reason.MISSING_TIME),
    ],
)
def test_bad_censored_values_are_refused_per_record(record: dict[str, Any], reason: Reason) -> None:
    good = {"n": "level", "u": "m", "v": 100.0}
    pack = decode(
        [{"bt": NOW}, record, good] if "bt" not in record else [record, {**good, "bt": NOW}]
    )
    assert [r.reason for r in pack.rejections] == [reason]
    assert [(r.value, r.censored) for r in pack.readings] == [(100.0, False)]


loq_texts = st.builds(
    lambda whole, fraction: whole + ("." + fraction if fraction else ""),
    st.text("0123456789", min_size=1, max_size=8),
    st.text("0123456789", max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    loq=loq_texts,
    spaces=st.integers(min_value=0, max_value=3),
    name_unit=st.sampled_from(
        [(name, unit) for name in ("nitrate", "nitrate_n") for unit in RECORDS[name].units]
    ),
)
def test_any_loq_converts_exactly_like_a_value(
    loq: str, spaces: int, name_unit: tuple[str, str]
) -> None:
    name, unit_name = name_unit
    pack = decode([{"bt": NOW, "n": name, "u": unit_name, "vs": "<" + " " * spaces + loq}])
    if Decimal(loq) == 0:
        assert [r.reason for r in pack.rejections] == [Reason.BAD_CENSORED_VALUE]
        return
    unit = RECORDS[name].units[unit_name]
    (reading,) = pack.readings
    assert reading.censored
    assert reading.value == float(Decimal(loq) * unit.scale + unit.offset)
    if name == "nitrate_n" and unit_name == "mg/L":
        assert reading.value == float(Decimal(loq) * NITRATE_PER_NITRATE_N)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=30), name=st.sampled_from(["nitrate", "nitrate_n", "level", "seq"]))
def test_any_string_value_is_a_censored_value_or_refused_with_a_reason(
    text: str, name: str
) -> None:
    pack = decode([{"bt": NOW, "n": name, "u": "mg/L" if "nitrate" in name else "m", "vs": text}])
    for reading in pack.readings:
        assert reading.censored
        assert name in {"nitrate", "nitrate_n"}
        assert text.startswith("<")
        assert reading.value > 0
    assert [r.reason for r in pack.rejections] in ([], [Reason.BAD_CENSORED_VALUE])
    assert len(pack.readings) + len(pack.rejections) == 1
