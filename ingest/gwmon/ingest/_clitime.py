"""Times on the command line: ISO 8601 with a UTC offset, never a naive time.

`--from 2026-10-01T00:00:00+02:00` or `...Z`: a naive `2026-10-01T00:00` would be off
by one or two hours depending on the season, so it is refused with an example.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gwmon.config import ConfigError

_NS = 1_000_000_000
_MAX_CHARS = 40
_EXAMPLE = "2026-10-01T00:00:00+02:00"
FIRST_YEAR, LAST_YEAR = 1900, 2200  # InfluxDB's nanosecond times end in 2262


def parse_cli_time(text: str, option: str) -> int:
    """`text` as UNIX nanoseconds; ConfigError naming `option` (e.g. "--from") otherwise."""
    cleaned = text.strip()
    if len(cleaned) > _MAX_CHARS:
        msg = f"{option}: longer than {_MAX_CHARS} characters (write e.g. {_EXAMPLE})"
        raise ConfigError(msg, source="command line", key=option)
    try:
        moment = datetime.fromisoformat(cleaned.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        msg = f"{option} {cleaned!r} is not an ISO 8601 time (write e.g. {_EXAMPLE} or ...Z)"
        raise ConfigError(msg, source="command line", key=option) from None
    if moment.tzinfo is None:
        msg = f"{option} {cleaned!r} has no UTC offset; write it with one, e.g. {_EXAMPLE} or Z"
        raise ConfigError(msg, source="command line", key=option)
    if not FIRST_YEAR <= moment.astimezone(UTC).year <= LAST_YEAR:
        msg = f"{option} {cleaned!r} is outside the years {FIRST_YEAR}..{LAST_YEAR}"
        raise ConfigError(msg, source="command line", key=option)
    whole = moment.replace(microsecond=0)
    return int(whole.timestamp()) * _NS + moment.microsecond * 1000
