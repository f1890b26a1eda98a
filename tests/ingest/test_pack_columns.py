"""The one-pass decoder of plain packs against the careful decoder: whatever the one-pass
path returns is exactly what the careful one returns, and plain packs take it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.ingest import decode_pack
from gwmon.ingest._batch import Batch, StoredReadings
from gwmon.ingest._pack import (
    PackColumns,
    _decode_plain,
    _not_in_the_future,
    _parse_plain,
    decode_columns,
)
from gwmon.ingest._pack import _by_columns as _by_columns_of
from gwmon.ingest._pack import _by_records as _by_records_of
from gwmon.ingest._senml import decode_carefully
from pack_strategies import PROBE, column_pack, pack_text, plain_pack

NOW = 1_764_140_400.0
NS = 1_000_000_000


def _plain(payload: bytes) -> PackColumns | None:
    columns = _decode_plain(PROBE, payload, int(NOW * NS))
    if columns is None or not _not_in_the_future(columns, NOW, 300.0):
        return None
    return columns


def _careful(payload: bytes) -> Any:
    return decode_carefully(PROBE, payload, now_s=NOW)


def _typed(columns: PackColumns) -> bool:
    """Values floats and times ints, as the careful decoder makes them (`==` would take
    an int 600 for the float 600.0, which the line formats refuse)."""
    return all(type(value) is float for value in columns.values) and all(
        type(time_ns) is int for time_ns in columns.times_ns
    )


@settings(max_examples=1500, deadline=None)
@given(payload=st.one_of(pack_text(), column_pack(twisted=True)))
def test_the_one_pass_path_returns_what_the_careful_decoder_returns(payload: bytes) -> None:
    plain = _plain(payload)
    if plain is None:
        return
    careful = _careful(payload)  # must not raise: the one-pass path accepted it
    assert plain.as_pack() == careful
    assert _typed(plain)
    assert careful.rejections == []


@settings(max_examples=300, deadline=None)
@given(payload=plain_pack())
def test_plain_packs_take_the_one_pass_path_and_decode_as_carefully(payload: bytes) -> None:
    plain = _plain(payload)
    assert plain is not None
    assert plain.as_pack() == _careful(payload)
    assert _typed(plain)


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


def _by_columns(payload: bytes) -> PackColumns | None:
    records = _parse_plain(payload)
    return None if records is None else _by_columns_of(PROBE, payload, int(NOW * NS), records)


def _by_records(payload: bytes) -> PackColumns | None:
    records = _parse_plain(payload)
    return None if records is None else _by_records_of(PROBE, payload, int(NOW * NS), records)


@settings(max_examples=1500, deadline=None)
@given(payload=st.one_of(pack_text(), column_pack(twisted=True)))
def test_the_column_pass_returns_what_the_careful_decoder_returns(payload: bytes) -> None:
    columns = _by_columns(payload)
    if columns is None or not _not_in_the_future(columns, NOW, 300.0):
        return
    careful = _careful(payload)  # must not raise: the column pass accepted it
    assert columns.as_pack() == careful
    assert _typed(columns)
    assert careful.rejections == []
    assert _by_records(payload) == columns


@settings(max_examples=400, deadline=None)
@given(payload=column_pack())
def test_packs_of_the_common_layout_take_the_column_pass(payload: bytes) -> None:
    columns = _by_columns(payload)
    assert columns is not None
    assert columns.as_pack() == _careful(payload)
    assert _typed(columns)


@pytest.mark.parametrize(
    "payload",
    [
        # a base field after the first record, a field named twice, seq, a converted unit,
        # a float offset, a base-only record: not the column layout (the record pass or
        # the careful decoder decides)
        b'[{"bn":"LE-07:","bt":1764140000,"n":"level","u":"m","v":1},'
        b'{"bt":1764140001,"n":"level","u":"m","v":2}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"level","u":"m","v":1},'
        b'{"bn":"LE-07:","n":"level","u":"m","v":2}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"level","u":"m","v":1,"t":5,"t":6}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"level","u":"m","u":"m","v":1}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"seq","v":1.5}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"seq","v":4294967296}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"nitrate","u":"kg/m3","v":1}]',
        b'[{"bn":"LE-07:","bt":1764140000,"n":"level","u":"m","v":1,"t":0.5}]',
        b'[{"bn":"LE-07:","bt":1764140000},{"n":"level","u":"m","v":1}]',
        b'[{"bn":"LE-07:","bu":"m","bt":1764140000,"n":"level","v":1},{"n":"nitrate","v":1}]',
        b'[{"bn":"LE-07:","n":"level","u":"m","v":1}]',
    ],
)
def test_what_the_column_pass_leaves_to_the_others(payload: bytes) -> None:
    assert _by_columns(payload) is None
    assert decode_pack(PROBE, payload, now_s=NOW) == _careful(payload)


def test_the_column_pass_takes_the_firmware_packs_with_their_sequence_marks() -> None:
    # The firmware's layout (firmware-sim): a seq record in front of every cycle.
    payload = (
        b'[{"bn":"LE-07:","bt":1764000000,"n":"seq","v":41},'
        b'{"n":"nitrate","u":"mg/L","v":20.3},{"n":"level","u":"m","v":137},'
        b'{"t":900,"n":"seq","u":"count","v":42.0},{"t":900,"n":"nitrate","u":"mg/L","v":20.4}]'
    )
    columns = _by_columns(payload)
    assert columns is not None
    assert columns.as_pack() == _careful(payload)
    assert _typed(columns)
    assert [mark.seq for mark in columns.sequence] == [41, 42]
    assert columns.values == [20.3, 137.0, 20.4]
    assert columns.times_ns == [1_764_000_000 * NS] * 2 + [1_764_000_900 * NS]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(["nitrate", "level", "temperature"]), max_size=6)),
    st.sets(st.integers(0, 40)),
)
def test_stored_readings_columns_are_the_stored_readings_in_order(
    packs: list[list[str]], refused_at: set[int]
) -> None:
    """`StoredReadings.columns()` (what the analytics read) stands for exactly the
    readings `StoredReadings` holds: the refused lines' readings left out, in order."""
    batch = Batch()
    for number, quantities in enumerate(packs):
        columns = PackColumns(f"P-{number % 3}", number * NS)
        for index, quantity in enumerate(quantities):
            columns.append(quantity, (number * 10 + index) * NS, float(index), quantity, False)
        batch.add_readings(columns, [f"line {number} {i}" for i in range(len(quantities))])
    refused = {index: "refused" for index in refused_at if index < len(batch.lines)}
    stored = StoredReadings(batch, refused)
    from_columns = [reading for columns in stored.columns() for reading in columns.readings()]
    assert from_columns == list(stored) == batch.stored_readings(refused)
    assert all(len(columns) for columns in stored.columns())
