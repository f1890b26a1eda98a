"""Line protocol (InfluxDB /write): the one place where points become text.

The escaping rules are tested against the real server (tests/storage): InfluxDB 1.x keeps
a backslash in a tag literally (it does not unescape a doubled one), so backslashes are
left as they are, and a trailing one, which would escape the separator, is dropped.
Newlines cannot be part of a tag value or key and become spaces.
"""

from __future__ import annotations

import functools
import math
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
