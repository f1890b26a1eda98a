"""Hypothesis: the dips CSV parser, the time parser and the correction engine."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.analytics.records import (
    Correction,
    CorrectionKind,
    CorrectionState,
    RawValue,
    correct,
)
from gwmon.ingest import DipsFileError, format_time_ns, parse_dips, parse_time_ns
from gwmon.ingest._dips import DIP_COLUMNS

NS = 1_000_000_000
FIRST_NS = parse_time_ns("1900-01-01T00:00:00Z")
LAST_NS = parse_time_ns("2200-12-31T23:59:59Z")

probe_ids = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
texts = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30)
    .map(str.strip)
    .filter(str.isprintable)
)
depths = st.integers(-5000, 100_000).map(lambda cm: float(Decimal(cm) / 100))
times = st.integers(
    parse_time_ns("2000-01-01T00:00:00Z") // NS, parse_time_ns("2100-01-01T00:00:00Z") // NS
)
offsets = st.sampled_from(["Z", "+01:00", "+02:00", "-05:30", "+0100"])
rows = st.lists(
    st.tuples(probe_ids, times, offsets, depths, texts.filter(bool), texts),
    max_size=15,
    unique_by=lambda row: (row[0], row[1]),
)


def _iso(seconds: int, offset: str) -> str:
    """`seconds` written in the zone `offset` (as a spreadsheet in that zone would)."""
    if offset == "Z":
        return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sign = -1 if offset.startswith("-") else 1
    digits = offset.lstrip("+-").replace(":", "")
    zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    local = datetime.fromtimestamp(seconds, tz=zone).strftime("%Y-%m-%dT%H:%M:%S")
    return local + offset


@given(rows, st.booleans(), st.booleans())
@settings(max_examples=200, deadline=None)
def test_dips_file_round_trip(
    generated: list[tuple[str, int, str, float, str, str]], excel: bool, crlf: bool
) -> None:
    """Rows written in either dialect parse back to the same dips, with no problem."""
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=";" if excel else ",", lineterminator="\r\n" if crlf else "\n"
    )
    writer.writerow(DIP_COLUMNS)
    for probe, seconds, offset, depth, by, note in generated:
        depth_text = repr(depth).replace(".", ",") if excel else repr(depth)
        writer.writerow([probe, _iso(seconds, offset), depth_text, by, note])
    data = (("\ufeff" if excel else "") + buffer.getvalue()).encode("utf-8")
    parsed = parse_dips(data)
    assert parsed.problems == ()
    assert [(r.probe_id, r.time_ns, r.depth_below_mp_m, r.by, r.note) for r in parsed.rows] == [
        (probe, seconds * NS, depth, by, note) for probe, seconds, _, depth, by, note in generated
    ]
    assert [r.line for r in parsed.rows] == list(range(2, len(generated) + 2))


@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
@settings(max_examples=300, deadline=None)
def test_dips_parser_refuses_or_reports_by_line(data: bytes) -> None:
    """Any input: a DipsFileError, or good rows plus one `line N:` problem per bad row."""
    try:
        parsed = parse_dips(b"probe_id,time,depth_below_mp_m,by,note\n" + data)
    except DipsFileError:
        return
    header = b"probe_id,time,depth_below_mp_m,by,note\n"
    line_count = len((header + data).decode("utf-8-sig").splitlines())
    for problem in parsed.problems:
        number = int(problem.split(":")[0].removeprefix("line "))
        assert 2 <= number <= line_count
    assert len(parsed.rows) + len(parsed.problems) <= line_count


@given(st.integers(FIRST_NS, LAST_NS))
def test_times_format_and_parse_back_exactly(time_ns: int) -> None:
    assert parse_time_ns(format_time_ns(time_ns)) == time_ns


# -- the correction engine -----------------------------------------------------------------------
raw_series = st.lists(
    st.tuples(st.integers(0, 100), st.integers(-20_000, 20_000), st.booleans()),
    min_size=1,
    max_size=30,
    unique_by=lambda item: item[0],
).map(lambda items: [RawValue(t * NS, c / 100, cen) for t, c, cen in sorted(items)])


@st.composite
def operations(draw: st.DrawFn, count: int = 6) -> list[Correction]:
    chosen = []
    for sequence in range(1, draw(st.integers(0, count)) + 1):
        kind = draw(st.sampled_from(list(CorrectionKind)))
        start = draw(st.integers(0, 100))
        end = draw(st.integers(start, 100))
        value = None if kind == CorrectionKind.DELETE else draw(st.integers(-500, 500)) / 100
        chosen.append(_operation(sequence, kind, start, end, value))
    return chosen


def _operation(
    sequence: int, kind: CorrectionKind, start: int, end: int, value: float | None
) -> Correction:
    return Correction(
        correction_id=f"P.level.c{sequence}",
        probe="P",
        quantity="level",
        kind=kind,
        state=CorrectionState.ACTIVE,
        sequence=sequence,
        from_ns=start * NS,
        to_ns=end * NS,
        value=value,
        by="h",
        why="y",
        created_at_s=float(sequence),
    )


def _reverted(operation: Correction) -> Correction:
    return operation.reverted(by="r", why="w", at_s=1.0)


@given(raw_series, operations(), st.randoms(use_true_random=False))
@settings(max_examples=300)
def test_reverting_every_operation_gives_back_the_raw_series(
    raw: list[RawValue], chosen: list[Correction], rnd: random.Random
) -> None:
    """Apply, then revert in any order: after each revert the series is what the
    remaining operations give; after the last, exactly the raw series."""
    states = {c.correction_id: c for c in chosen}
    order = list(states)
    rnd.shuffle(order)
    for correction_id in order:
        states[correction_id] = _reverted(states[correction_id])
        remaining = [c for c in states.values() if c.active]
        assert correct(raw, states.values()) == correct(raw, remaining)
    result = correct(raw, states.values())
    assert [(p.time_ns, p.value, p.raw_value, p.censored) for p in result] == [
        (r.time_ns, r.value, r.value, r.censored) for r in raw
    ]
    assert not any(p.deleted or p.applied for p in result)


@given(raw_series, operations(), st.randoms(use_true_random=False))
@settings(max_examples=300)
def test_the_order_of_operations_with_disjoint_periods_does_not_matter(
    raw: list[RawValue], chosen: list[Correction], rnd: random.Random
) -> None:
    disjoint: list[Correction] = []
    for operation in chosen:
        if all(operation.to_ns < o.from_ns or operation.from_ns > o.to_ns for o in disjoint):
            disjoint.append(operation)
    sequences = [o.sequence for o in disjoint]
    rnd.shuffle(sequences)
    renumbered = [
        _operation(s, o.kind, o.from_ns // NS, o.to_ns // NS, o.value)
        for s, o in zip(sequences, disjoint, strict=True)
    ]
    by_id = {o.correction_id: o for o in renumbered}
    before = correct(raw, disjoint)
    after = correct(raw, renumbered)
    assert [(p.value, p.deleted) for p in before] == [(p.value, p.deleted) for p in after]
    ids = {
        o.correction_id: by_id[n.correction_id] for o, n in zip(disjoint, renumbered, strict=True)
    }
    assert all(len(p.applied) <= 1 for p in before)
    assert [tuple(ids[i].kind for i in p.applied) for p in before] == [
        tuple(by_id[i].kind for i in p.applied) for p in after
    ]


@given(raw_series, operations(), st.randoms(use_true_random=False))
@settings(max_examples=300)
def test_offsets_and_deletes_commute_even_when_they_overlap(
    raw: list[RawValue], chosen: list[Correction], rnd: random.Random
) -> None:
    kept = [o for o in chosen if o.kind != CorrectionKind.DRIFT]
    sequences = [o.sequence for o in kept]
    rnd.shuffle(sequences)
    renumbered = [
        _operation(s, o.kind, o.from_ns // NS, o.to_ns // NS, o.value)
        for s, o in zip(sequences, kept, strict=True)
    ]
    before, after = correct(raw, kept), correct(raw, renumbered)
    assert [(p.value, p.deleted) for p in before] == [(p.value, p.deleted) for p in after]


def test_hand_computed_drift_and_offset_on_one_reading() -> None:
    raw = [RawValue(t * NS, 10.0) for t in (0, 25, 50, 100, 101)]
    drift = _operation(1, CorrectionKind.DRIFT, 0, 100, 0.08)
    shift = _operation(2, CorrectionKind.OFFSET, 50, 101, -0.01)
    values = correct(raw, [shift, drift])  # applied by sequence, not list order
    assert [p.value for p in values] == [10.0, 10.02, 10.03, 10.07, 9.99]
    assert [p.applied for p in values] == [
        ("P.level.c1",),
        ("P.level.c1",),
        ("P.level.c1", "P.level.c2"),
        ("P.level.c1", "P.level.c2"),
        ("P.level.c2",),
    ]


def test_a_stray_quote_spoils_only_its_own_row() -> None:
    """Found by the property above: a quote left open must not swallow the next lines."""
    data = (
        b"probe_id,time,depth_below_mp_m,by,note\n"
        b'P-1,2026-01-01T00:00:00Z,3.2,"A,\n'
        b'P-1,2026-01-01T01:00:00Z,3.3,B,"x"y\n'
        b"P-1,2026-01-01T02:00:00Z,3.4,C,\n"
    )
    parsed = parse_dips(data)
    assert [row.line for row in parsed.rows] == [4]
    assert [problem.split(":")[0] for problem in parsed.problems] == ["line 2", "line 3"]
    assert all("not a CSV row" in problem for problem in parsed.problems)


def test_oversized_files_are_refused_before_parsing() -> None:
    header = b"probe_id,time,depth_below_mp_m,by,note\n"
    with pytest.raises(DipsFileError, match="more than 8388608: split it"):
        parse_dips(header + b"x" * (8 * 1024 * 1024))
    with pytest.raises(DipsFileError, match="more than 100000 rows"):
        parse_dips(header + b"P-1,2026-01-01T00:00:00Z,1,A,\n" * 101_001)
    with pytest.raises(DipsFileError, match="not UTF-8"):
        parse_dips(header + b"P-1,\xff\n")
    with pytest.raises(DipsFileError, match="has unknown column"):
        parse_dips(b"probe_id,time,depth_below_mp_m,by,note,extra\n")
