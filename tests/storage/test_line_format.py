"""`Measurement.line_format`, the hot path's lines: byte for byte what `point().to_line()`
makes, for any tag text and value; checked against the contract like a point."""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwmon.storage import (
    READING,
    SEQUENCE,
    ContractError,
    LineFormat,
    float_block_at_times,
    float_lines_at_times,
)
from gwmon.storage._schema import float_texts

tag_text = st.text(min_size=0, max_size=20)
finite = st.floats(allow_nan=False, allow_infinity=False)


def lines_and_block(
    formats: Sequence[LineFormat],
    first: Sequence[float],
    rest_at: Mapping[int, Sequence[float]],
    times_ns: Sequence[int],
) -> list[str]:
    """`float_lines_at_times`, after checking that `float_block_at_times` (the ingest's
    path) gives the same lines as one block of UTF-8 text."""
    lines = float_lines_at_times(formats, first, rest_at, times_ns)
    block = float_block_at_times(formats, first, rest_at, times_ns)
    assert block == "".join(f"{line}\n" for line in lines).encode()
    return lines


@given(
    probe=tag_text,
    site=tag_text,
    municipality=tag_text,
    quantity=tag_text,
    value=finite,
    lag=finite,
    censored=st.booleans(),
    time_ns=st.integers(-(2**63), 2**63 - 1),
)
def test_reading_lines_are_those_of_the_point(
    probe: str,
    site: str,
    municipality: str,
    quantity: str,
    value: float,
    lag: float,
    censored: bool,
    time_ns: int,
) -> None:
    tags = {"probe": probe, "site": site, "municipality": municipality, "quantity": quantity}
    fields: dict[str, float | bool] = {"value": value, "lag_s": lag}
    if censored:
        fields["censored"] = True
    line_format = READING.line_format(tags, tuple(fields))
    expected = READING.point(tags, fields, time_ns).to_line()
    assert line_format.line(tuple(fields.values()), time_ns) == expected


@given(site=tag_text, seq=st.integers(0, 2**32 - 1), lag=finite)
def test_sequence_lines_are_those_of_the_point(site: str, seq: int, lag: float) -> None:
    tags = {"probe": "LE-01", "site": site, "municipality": "Wurzen"}
    line_format = SEQUENCE.line_format(tags, ("seq", "lag_s"))
    expected = SEQUENCE.point(tags, {"seq": seq, "lag_s": lag}, 7).to_line()
    assert line_format.line((seq, lag), 7) == expected


TAGS = {"probe": "LE-01", "site": "s", "municipality": "m", "quantity": "nitrate"}


@pytest.mark.parametrize(
    "values",
    [(1, 2.0), (1.0, math.nan), (math.inf, 1.0), (True, 1.0), ("1", 1.0), (1.0,), (1.0, 2.0, 3.0)],
)
def test_values_of_the_wrong_type_are_refused(values: tuple[object, ...]) -> None:
    line_format = READING.line_format(TAGS, ("value", "lag_s"))
    with pytest.raises(ContractError):
        line_format.line(values, 1)  # type: ignore[arg-type]


def test_formats_are_checked_against_the_contract_once() -> None:
    with pytest.raises(ContractError, match="no tag"):
        READING.line_format({**TAGS, "colour": "red"}, ("value", "lag_s"))
    with pytest.raises(ContractError, match="no field"):
        READING.line_format(TAGS, ("value", "lag_s", "colour"))
    with pytest.raises(ContractError, match="required"):
        READING.line_format(TAGS, ("value",))
    with pytest.raises(ContractError, match="twice"):
        READING.line_format(TAGS, ("value", "lag_s", "value"))
    with pytest.raises(ContractError):
        SEQUENCE.line_format(TAGS, ("seq", "lag_s"))


def _lines_one_by_one_and_at_times(
    rows: list[tuple[str, float, float, int]],
) -> tuple[list[str], list[str]]:
    """The lines of `rows` (quantity, value, lag, time) made one by one by `line` and in
    bulk by `float_lines_at_times`; a time's lag is that of its first row (in the bulk
    path lag_s depends on the time only, as a reading's does)."""
    formats = {
        quantity: READING.line_format({**TAGS, "quantity": quantity}, ("value", "lag_s"))
        for quantity, *_ in rows
    }
    chosen = [formats[quantity] for quantity, *_ in rows]
    values = [row[1] for row in rows]
    times = [row[3] for row in rows]
    lags: dict[int, tuple[float]] = {}
    for _, _, lag, time_ns in rows:
        lags.setdefault(time_ns, (lag,))
    expected = [
        line_format.line((value, lags[time_ns][0]), time_ns)
        for line_format, value, time_ns in zip(chosen, values, times, strict=True)
    ]
    return expected, lines_and_block(chosen, values, lags, times)


# The assertions of the former `float_lines` tests (a bulk path nothing used any more,
# removed), held against the bulk path the ingest uses: any times, any finite floats.
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["nitrate", "level", "a b,c=d"]), finite, finite, st.integers()),
        max_size=30,
    )
)
def test_lines_at_any_times_are_the_lines_one_by_one(
    rows: list[tuple[str, float, float, int]],
) -> None:
    expected, lines = _lines_one_by_one_and_at_times(rows)
    assert lines == expected


def test_lines_at_times_of_huge_finite_values_are_written() -> None:
    line_format = READING.line_format(TAGS, ("value", "lag_s"))
    lines = lines_and_block([line_format] * 2, [1e308, 1e308], {1: (1.0,), 2: (1e308,)}, [1, 2])
    assert lines == [line_format.line((1e308, 1.0), 1), line_format.line((1e308, 1e308), 2)]


# Floats the bulk formatter writes with orjson (no magnitude below 1e-4), over their
# whole range, without filtering: as sign x digits x a power of ten from 1e-4 on, and as
# bit patterns with a binary exponent from 2**-13 (1.2e-4) to the largest finite one.
def _float_of_bits(sign: int, exponent: int, mantissa: int) -> float:
    bits = sign << 63 | exponent << 52 | mantissa
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


bulk_floats = st.builds(
    lambda sign, digits, exponent: sign * digits * 10.0**exponent,
    st.sampled_from([1.0, -1.0]),
    st.floats(min_value=1.0, max_value=10.0),
    st.integers(-4, 300),
) | st.builds(
    _float_of_bits,
    st.integers(0, 1),
    st.integers(1023 - 13, 2046),
    st.integers(0, 2**52 - 1),
)


@given(st.lists(bulk_floats, min_size=1, max_size=50))
def test_bulk_float_texts_are_repr_over_the_whole_range(column: list[float]) -> None:
    assert float_texts(column) == [repr(value) for value in column]


@given(st.lists(finite, max_size=50))
def test_float_texts_of_any_finite_floats_are_repr(column: list[float]) -> None:
    assert float_texts(column) == [repr(value) for value in column]


def test_float_texts_at_the_edges_of_the_bulk_range() -> None:
    edges = [1e-4, -1e-4, 9.999999999999999e-05, 1e-05, 0.0, -0.0, 1e15, 1e16, 1e22, 5e-324]
    for column in ([value] for value in edges):
        assert float_texts(column) == [repr(column[0])]
    assert float_texts(edges) == [repr(value) for value in edges]


@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["nitrate", "level"]), bulk_floats, bulk_floats, st.integers()),
        max_size=30,
    )
)
def test_bulk_lines_at_times_are_the_lines_one_by_one(
    rows: list[tuple[str, float, float, int]],
) -> None:
    expected, lines = _lines_one_by_one_and_at_times(rows)
    assert lines == expected


@given(
    site=tag_text,
    rows=st.lists(
        st.tuples(
            st.sampled_from(["nitrate", "level", "a b,c=d", "50%", "ü\\"]),
            finite | bulk_floats,
            st.integers(-3, 3),
        ),
        max_size=40,
    ),
    lag_of=st.lists(finite | bulk_floats, min_size=7, max_size=7),
    base_ns=st.integers(-(2**62), 2**62),
)
def test_lines_at_times_are_the_lines_one_by_one(
    site: str,
    rows: list[tuple[str, float, int]],
    lag_of: list[float],
    base_ns: int,
) -> None:
    # Few distinct times, as in a pack (several quantities measured at once).
    formats = {
        quantity: READING.line_format(
            {**TAGS, "site": site, "quantity": quantity}, ("value", "lag_s")
        )
        for quantity, *_ in rows
    }
    chosen = [formats[quantity] for quantity, *_ in rows]
    values = [value for _, value, _ in rows]
    times = [base_ns + step * 1_000_000_000 for *_, step in rows]
    lags = {time_ns: (lag_of[(time_ns - base_ns) // 1_000_000_000 + 3],) for time_ns in times}
    expected = [
        line_format.line((value, lags[time_ns][0]), time_ns)
        for line_format, value, time_ns in zip(chosen, values, times, strict=True)
    ]
    assert lines_and_block(chosen, values, lags, times) == expected


def test_lines_at_times_of_three_fields_and_of_one() -> None:
    three = READING.line_format(TAGS, ("value", "lag_s", "air_pressure_hpa"))
    assert lines_and_block([three] * 2, [1.5, 2.5], {7: (0.25, 3.0)}, [7, 7]) == [
        three.line((1.5, 0.25, 3.0), 7),
        three.line((2.5, 0.25, 3.0), 7),
    ]
    assert lines_and_block([], [], {}, []) == []


@pytest.mark.parametrize(
    ("values", "lags", "times"),
    [
        ([1.0, math.nan], {1: (1.0,)}, [1, 1]),
        ([math.inf], {1: (1.0,)}, [1]),
        ([1e308, 1e308, math.nan], {1: (1.0,)}, [1, 1, 1]),  # the sum overflows first
        ([1.0, 2], {1: (1.0,)}, [1, 1]),
        ([1.0], {1: (math.inf,)}, [1]),
        ([1], {1: (1.0,)}, [1]),
        ([True], {1: (1.0,)}, [1]),
        ([1.0], {1: (1,)}, [1]),
        ([1.0], {1: (1.0,)}, [2]),  # no lag for the time
        ([1.0], {1: (1.0, 2.0)}, [1]),  # a field too many
        ([1.0], {1.0: (1.0,)}, [1.0]),
        ([1.0, 2.0], {1: (1.0,)}, [1]),
    ],
)
def test_lines_at_times_refuse_what_a_line_refuses(
    values: list[float], lags: dict[int, tuple[float, ...]], times: list[int]
) -> None:
    line_format = READING.line_format(TAGS, ("value", "lag_s"))
    with pytest.raises(ContractError):
        float_lines_at_times([line_format] * len(values), values, lags, times)
    with pytest.raises(ContractError):
        float_block_at_times([line_format] * len(values), values, lags, times)


def test_lines_at_times_need_float_fields_of_the_same_names() -> None:
    two = READING.line_format(TAGS, ("value", "lag_s"))
    three = READING.line_format(TAGS, ("value", "lag_s", "air_pressure_hpa"))
    sequence = SEQUENCE.line_format(
        {"probe": "P", "site": "s", "municipality": "m"}, ("seq", "lag_s")
    )
    with pytest.raises(ContractError, match="same float fields"):
        lines_and_block([two, three], [1.0, 1.0], {1: (1.0,)}, [1, 1])
    with pytest.raises(ContractError, match="same float fields"):
        lines_and_block([sequence], [1.0], {1: (1.0,)}, [1])
    with pytest.raises(ContractError, match="same float fields"):
        float_block_at_times([two, three], [1.0, 1.0], {1: (1.0,)}, [1, 1])
