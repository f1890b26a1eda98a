"""The status decoder (gw/v1/<probe_id>/status): fields, bounds shared with data packs,
and Hypothesis properties that nothing but PayloadRejected escapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.ingest import PayloadRejected, Reason, StatusUpdate, decode_status

NOW = 1_764_140_400.0
NS = 1_000_000_000
ARRIVAL_NS = int(NOW * NS)
STATUS_REASONS = {
    Reason.PAYLOAD_TOO_LARGE,
    Reason.NOT_UTF8,
    Reason.INVALID_JSON,
    Reason.BAD_STATUS,
}


def decode(document: Any, **kwargs: Any) -> StatusUpdate:
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    return decode_status("LE-07", payload, now_s=NOW, **kwargs)


def test_a_full_status_is_decoded() -> None:
    status = decode({"online": True, "firmware": "1.4.2", "battery": 87, "t": NOW - 60})
    assert status == StatusUpdate(
        probe="LE-07",
        online=True,
        firmware="1.4.2",
        battery=87.0,
        time_ns=ARRIVAL_NS - 60 * NS,
        time_from_probe=True,
    )


@pytest.mark.parametrize(
    "document",
    [
        {"online": False},
        {"online": False, "firmware": None, "battery": None, "t": None, "extra": [1, {"a": 2}]},
        {"online": False, "t": 12},  # a clock not set yet
        {"online": False, "t": NOW + 301},  # ahead by more than future_margin_s
        b'\xef\xbb\xbf{"online": false}',
    ],
)
def test_the_arrival_time_is_used_without_a_plausible_probe_time(document: Any) -> None:
    status = decode(document)
    assert (status.online, status.time_ns, status.time_from_probe) == (False, ARRIVAL_NS, False)


def test_nanosecond_status_times_are_exact() -> None:
    status = decode(b'{"online": true, "t": 1764140000.123456789}')
    assert status.time_ns == 1_764_140_000_123_456_789


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[true]", Reason.BAD_STATUS),
        (b'{"firmware": "1.0"}', Reason.BAD_STATUS),
        (b'{"online": "yes"}', Reason.BAD_STATUS),
        (b'{"online": 1}', Reason.BAD_STATUS),
        (b'{"online": true, "online": false}', Reason.BAD_STATUS),
        (b'{"online": true, "firmware": 142}', Reason.BAD_STATUS),
        (b'{"online": true, "firmware": ""}', Reason.BAD_STATUS),
        (b'{"online": true, "firmware": "' + b"1" * 65 + b'"}', Reason.BAD_STATUS),
        (b'{"online": true, "firmware": "1.4\\n"}', Reason.BAD_STATUS),
        (b'{"online": true, "battery": -0.5}', Reason.BAD_STATUS),
        (b'{"online": true, "battery": 100.5}', Reason.BAD_STATUS),
        (b'{"online": true, "battery": true}', Reason.BAD_STATUS),
        (b'{"online": true, "battery": NaN}', Reason.BAD_STATUS),
        (b'{"online": true, "battery": 1e999990}', Reason.BAD_STATUS),
        (b'{"online": true, "battery": 9' + b"9" * 4300 + b"}", Reason.BAD_STATUS),
        (b'{"online": true, "t": "2025-11-26T07:00:00Z"}', Reason.BAD_STATUS),
        (b'{"online": true, "t": 1e999990}', Reason.BAD_STATUS),
        (b'{"online": true, "t": -Infinity}', Reason.BAD_STATUS),
        (b'{"online": true, "t": 10000000001}', Reason.BAD_STATUS),
        (b'{"online": true', Reason.INVALID_JSON),
        (b"", Reason.INVALID_JSON),
        (b'\xef\xbb\xbf\xef\xbb\xbf{"online": true}', Reason.INVALID_JSON),
        (b'{"online": true, "x": ' + b"[" * 16 + b"]" * 16 + b"}", Reason.INVALID_JSON),
        (b'{"online": true, "x": ' + b"[" * 1000 + b"]" * 1000 + b"}", Reason.INVALID_JSON),
        (b"[" * 1000 + b"]" * 1000, Reason.INVALID_JSON),
        (b'{"a": ' * 900 + b"1" + b"}" * 900, Reason.INVALID_JSON),
        (b'{"online": true, "firmware": "\xff"}', Reason.NOT_UTF8),
    ],
)
def test_bad_status_messages_are_refused_with_their_reason(payload: bytes, reason: Reason) -> None:
    with pytest.raises(PayloadRejected) as caught:
        decode(payload)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_nesting_of_16_levels_is_accepted_in_an_unknown_field() -> None:
    status = decode(b'{"online": true, "x": ' + b"[" * 15 + b"]" * 15 + b"}")
    assert status.online


def test_the_payload_size_limit_applies_to_status_messages() -> None:
    payload = json.dumps({"online": True, "firmware": "1.0"}).encode()
    assert decode(payload, max_bytes=len(payload)).online
    with pytest.raises(PayloadRejected) as caught:
        decode(payload + b" ", max_bytes=len(payload))
    assert caught.value.reason == Reason.PAYLOAD_TOO_LARGE
    assert caught.value.probe == "LE-07"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=70),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
status_documents = st.dictionaries(
    st.sampled_from(["online", "firmware", "battery", "t", "x"]), json_values, max_size=5
)


@settings(max_examples=400, deadline=None)
@given(document=st.one_of(status_documents, json_values))
def test_any_json_document_is_a_status_or_refused_with_a_reason(document: Any) -> None:
    payload = json.dumps(document, allow_nan=True).encode()
    try:
        status = decode_status("LE-07", payload, now_s=NOW)
    except PayloadRejected as exc:
        assert exc.reason in STATUS_REASONS
        assert exc.detail
        return
    assert isinstance(document, dict)
    assert status.online is document["online"]
    assert status.firmware is None or 1 <= len(status.firmware) <= 64
    assert status.battery is None or 0 <= status.battery <= 100
    assert 2**28 * NS <= status.time_ns <= ARRIVAL_NS + 300 * NS


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=300))
def test_any_bytes_are_a_status_or_refused_with_a_reason(payload: bytes) -> None:
    try:
        decode_status("LE-07", payload, now_s=NOW)
    except PayloadRejected as exc:
        assert exc.reason in STATUS_REASONS
