"""The SenML decoder: conversions, rejections, and a Hypothesis property that nothing but
PayloadRejected ever escapes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.ingest import RECORDS, PayloadRejected, Reason, decode_pack

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
