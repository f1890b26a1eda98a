"""Line protocol (InfluxDB /write): the one place where points become text.

The escaping rules are tested against the real server (tests/storage): InfluxDB 1.x keeps
a backslash in a tag literally (it does not unescape a doubled one), so backslashes are
left as they are, and a trailing one, which would escape the separator, is dropped.
Newlines cannot be part of a tag value or key and become spaces.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

FieldValue = float | int | bool | str


def _clean(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ")


def escape_key(text: str) -> str:
    """A tag key, tag value or field key: comma, equals sign and space escaped."""
    text = _clean(text).rstrip("\\")
    return text.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def escape_measurement(text: str) -> str:
    return _clean(text).rstrip("\\").replace(",", "\\,").replace(" ", "\\ ")


def escape_string_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def format_field(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = "InfluxDB cannot store NaN or infinity"
            raise ValueError(msg)
        return repr(value)  # shortest text that reads back to the same float
    return f'"{escape_string_field(value)}"'


_escape_field_key = functools.lru_cache(maxsize=1024)(escape_key)


@functools.lru_cache(maxsize=65_536)
def series_prefix(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """`measurement,tag=value,...` escaped, tags sorted, empty values left out; cached
    because a fleet writes the same few thousand series over and over."""
    parts = [escape_measurement(measurement)]
    for key, value in sorted(tags):
        cleaned = escape_key(value)
        if cleaned:
            parts.append(f"{escape_key(key)}={cleaned}")
    return ",".join(parts)


def format_fields(fields: Mapping[str, FieldValue]) -> str:
    return ",".join(
        f"{_escape_field_key(key)}={format_field(value)}" for key, value in fields.items()
    )


@dataclass(frozen=True, slots=True)
class Point:
    """One line of line protocol. Build points through `Measurement.point`, which checks
    them against the contract."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int

    def to_line(self) -> str:
        if not self.fields:
            msg = f"point of {self.measurement} has no fields"
            raise ValueError(msg)
        prefix = series_prefix(self.measurement, tuple(self.tags.items()))
        return f"{prefix} {format_fields(self.fields)} {self.time_ns}"


_LINE_TIME = re.compile(r"-?\d{1,19}")
_TAG_UNESCAPE = re.compile(r"\\([,= ])")


def line_time_ns(line: str) -> int | None:
    """The timestamp ending a line of line protocol, None if it has none."""
    last = line.rpartition(" ")[2]
    return int(last) if _LINE_TIME.fullmatch(last) else None


def _unescaped_index(text: str, chars: str, start: int = 0) -> int:
    """Index of the first of `chars` not escaped by a backslash, or len(text)."""
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
        elif char in chars:
            return index
        else:
            index += 1
    return len(text)


def line_tags(line: str) -> dict[str, str]:
    """The tags of a line of line protocol, read as InfluxDB reads them (a backslash
    escapes the next character). Best effort: for naming the probe of a refused line."""
    series = line[: _unescaped_index(line, " ")]
    tags: dict[str, str] = {}
    cut = _unescaped_index(series, ",")  # the measurement ends here
    while cut < len(series):
        end = _unescaped_index(series, ",", cut + 1)
        part = series[cut + 1 : end]
        equals = _unescaped_index(part, "=")
        if equals < len(part):
            key, value = part[:equals], part[equals + 1 :]
            tags[_TAG_UNESCAPE.sub(r"\1", key)] = _TAG_UNESCAPE.sub(r"\1", value)
        cut = end
    return tags
