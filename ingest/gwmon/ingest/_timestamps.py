"""ISO 8601 times with a UTC offset, as operators write them in CSV files and on the
command line (`2026-03-01T10:20:00+01:00`, `2026-03-01 09:20Z`).

A time without offset is refused: a field visit in Leipzig at "10:20" is 09:20 UTC in
winter and 08:20 UTC in summer, and guessing wrong shifts a dip by an hour against the
logger. Parsed to integer nanoseconds exactly (fractions up to 9 digits), without
going through floating point.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_NS = 1_000_000_000
MAX_TIME_CHARS = 40
# Years gwmon accepts: before 1900 there were no loggers, after 2200 InfluxDB's
# nanosecond times (int64, up to 2262) end.
FIRST_YEAR, LAST_YEAR = 1900, 2200

_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
    r"(?P<offset>[Zz]|[+-]\d{2}:?\d{2})"
)
_EXAMPLE = "2026-03-01T10:20:00+01:00"


class TimeFormatError(ValueError):
    """A text that is not an ISO 8601 time with offset; the message says how to write it."""


def parse_time_ns(text: str, what: str = "time") -> int:
    """`text` (ISO 8601 with offset) as UNIX nanoseconds; TimeFormatError otherwise, its
    message starting with `what` (e.g. "time" in a CSV file, "--from" on the command line)."""
    cleaned = text.strip()
    if len(cleaned) > MAX_TIME_CHARS:
        msg = f"{what} is longer than {MAX_TIME_CHARS} characters (write e.g. {_EXAMPLE})"
        raise TimeFormatError(msg)
    match = _ISO.fullmatch(cleaned)
    if match is None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?)?", cleaned):
            msg = f"{what} {cleaned!r} has no UTC offset; write it with one, e.g. {_EXAMPLE} or Z"
        else:
            msg = f"{what} {cleaned!r} is not an ISO 8601 time with offset, e.g. {_EXAMPLE}"
        raise TimeFormatError(msg)
    offset = match["offset"].upper()
    try:
        moment = datetime.fromisoformat(
            f"{match['date']}T{match['hour']}:{match['minute']}:{match['second'] or '00'}"
            + ("+00:00" if offset == "Z" else offset)
        )
    except ValueError as exc:
        msg = f"{what} {cleaned!r} is not a valid date or time ({exc})"
        raise TimeFormatError(msg) from None
    if not FIRST_YEAR <= moment.astimezone(UTC).year <= LAST_YEAR:
        msg = f"{what} {cleaned!r} is outside the years {FIRST_YEAR}..{LAST_YEAR}"
        raise TimeFormatError(msg)
    whole_seconds = int(moment.timestamp())  # exact: no fraction went into `moment`
    fraction = int((match["fraction"] or "0").ljust(9, "0"))
    return whole_seconds * _NS + fraction


def format_time_ns(time_ns: int) -> str:
    """UTC ISO 8601 text of a nanosecond time (`2026-03-01T09:20:00Z`), exact: the
    fraction is printed when there is one, so the text parses back to the same time."""
    seconds, fraction = divmod(time_ns, _NS)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"
