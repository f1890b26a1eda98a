"""Times on the command line: ISO 8601 with a UTC offset, never a naive time.

`--from 2026-10-01T00:00:00+02:00` or `...Z`: a naive `2026-10-01T00:00` would be off
by one or two hours depending on the season, so it is refused with an example. The
same parser as the times in CSV files (`_timestamps.parse_time_ns`), exact to the
nanosecond; here its refusal becomes a ConfigError naming the option.
"""

from __future__ import annotations

from gwmon.config import ConfigError
from gwmon.ingest._timestamps import TimeFormatError, parse_time_ns


def parse_cli_time(text: str, option: str) -> int:
    """`text` as UNIX nanoseconds; ConfigError naming `option` (e.g. "--from") otherwise."""
    try:
        return parse_time_ns(text, what=option)
    except TimeFormatError as exc:
        raise ConfigError(str(exc), source="command line", key=option) from None
