"""Times on the command line: ISO 8601 with an offset round-trip to the nanosecond;
naive, malformed, overlong and out-of-range times are refused naming the option."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwmon.config import ConfigError
from gwmon.ingest import TimeFormatError, parse_cli_time, parse_time_ns

NS = 1_000_000_000


@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 30)),
    st.integers(-14 * 60, 14 * 60),
)
def test_aware_times_round_trip(moment: datetime, offset_min: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_min)))
    expected = int(aware.replace(microsecond=0).timestamp()) * NS + aware.microsecond * 1000
    assert parse_cli_time(aware.isoformat(), "--from") == expected


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 30)))
def test_naive_times_are_refused(moment: datetime) -> None:
    with pytest.raises(ConfigError, match=r"--to .* has no UTC offset"):
        parse_cli_time(moment.isoformat(), "--to")


@given(st.text(max_size=60))
def test_any_text_parses_or_is_refused_with_the_option(text: str) -> None:
    try:
        parse_cli_time(text, "--from")
    except ConfigError as exc:
        assert "--from" in str(exc)


def test_examples() -> None:
    assert parse_cli_time("2026-10-01T00:00:00+02:00", "--from") == (
        int(datetime(2026, 9, 30, 22, tzinfo=UTC).timestamp()) * NS
    )
    assert parse_cli_time("2026-09-30T22:00:00z", "--from") == parse_cli_time(
        "2026-09-30T22:00:00Z", "--from"
    )
    with pytest.raises(ConfigError, match=r"outside the years 1900\.\.2200"):
        parse_cli_time("2300-01-01T00:00:00Z", "--from")
    with pytest.raises(ConfigError, match="longer than 40 characters"):
        parse_cli_time("2026-10-01T00:00:00+02:00" + " " * 10 + "x" * 10, "--from")
    with pytest.raises(ConfigError, match="is not an ISO 8601 time"):
        parse_cli_time("gestern", "--from")


def test_fractions_are_exact_to_the_nanosecond() -> None:
    # The command line and the CSV files share one parser: no truncation to microseconds.
    assert parse_cli_time("2026-09-30T22:00:00.123456789Z", "--from") == (
        int(datetime(2026, 9, 30, 22, tzinfo=UTC).timestamp()) * NS + 123_456_789
    )


@given(st.text(max_size=60))
def test_the_command_line_and_csv_files_read_a_time_alike(text: str) -> None:
    try:
        in_csv: int | str = parse_time_ns(text)
    except TimeFormatError as exc:
        in_csv = str(exc).removeprefix("time")
    try:
        on_cli: int | str = parse_cli_time(text, "--from")
    except ConfigError as exc:
        on_cli = str(exc).removeprefix("--from")
    assert on_cli == in_csv
