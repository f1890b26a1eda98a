"""Grafana's macro and template-variable substitution for InfluxQL, re-implemented so
that every panel query can be run against a real InfluxDB without a Grafana server.

What Grafana (10.x/11.x, InfluxDB data source in InfluxQL mode) does to a raw query:

1. Frontend, `templateSrv.replace` with the data source's `interpolateQueryExpr`:
   - syntaxes `$var`, `${var}`, `${var:format}`, `[[var]]`, `[[var:format]]`;
   - built-ins from the request: `$__interval`, `$__interval_ms`, `$__from`, `$__to`,
     `$__range`, `$__range_s`, `$__range_ms`;
   - default format: a multi-value or include-all variable is regex-escaped value by
     value and, with more than one value, joined as `(a|b)` — so `/^$probe$/` becomes
     `/^(LE-07|WU-01)$/`; a single-value variable is left as is unless it sits inside a
     regex literal (`/$var/`, `/^$var$/`), where it is regex-escaped; numbers pass as is;
   - "All" without a custom all value expands to every option (`(a|b|c)`), a custom all
     value (e.g. `.*`) is inserted raw;
   - unknown variables are left untouched.
2. Backend (pkg/tsdb/influxdb/models/query.go `Build`): `$timeFilter` becomes
   `time >= <from>ms and time <= <to>ms`, then `$interval`, `$__interval_ms`,
   `$__interval` are replaced (the deprecated `$interval` too).

`$__interval` itself comes from the time range divided by the panel's max data points,
rounded by Grafana's table (`roundInterval`) and bounded below by the panel's or data
source's minimum interval: `calculate_interval`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gwmon.config import GwmonError

# Grafana's variableRegex (public/app/features/variables/utils.ts).
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")

# (upper bound exclusive in ms, rounded interval in ms): Grafana's roundInterval.
_ROUND_TABLE: tuple[tuple[int, int], ...] = (
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
)
_YEAR_MS = 31_536_000_000


class MacroError(GwmonError, ValueError):
    """A query or variable cannot be interpolated (e.g. an empty time range)."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The dashboard's time range as absolute epoch milliseconds."""

    from_ms: int
    to_ms: int

    def __post_init__(self) -> None:
        if self.to_ms < self.from_ms:
            msg = f"time range ends ({self.to_ms}) before it starts ({self.from_ms})"
            raise MacroError(msg)

    @classmethod
    def from_seconds(cls, from_s: float, to_s: float) -> TimeRange:
        return cls(int(from_s * 1000), int(to_s * 1000))


@dataclass(frozen=True, slots=True)
class TemplateVariable:
    """The current value(s) of a dashboard variable.

    `values` are the selected values; `options` all values the variable offers (used
    when "All" is selected without a custom all value).
    """

    name: str
    values: Sequence[str]
    multi: bool = False
    include_all: bool = False
    all_selected: bool = False
    all_value: str | None = None
    options: Sequence[str] = field(default_factory=tuple)


def round_interval(interval_ms: float) -> int:
    """Grafana's `roundInterval`: snap a raw interval to a readable one."""
    for bound, rounded in _ROUND_TABLE:
        if interval_ms < bound:
            return rounded
    return _YEAR_MS


def calculate_interval(
    time_range: TimeRange, *, max_data_points: int = 1000, min_interval_ms: int = 0
) -> int:
    """`$__interval_ms` for a panel: range / max data points, rounded, at least the minimum."""
    if max_data_points < 1:
        msg = "max_data_points must be at least 1"
        raise MacroError(msg)
    raw = (time_range.to_ms - time_range.from_ms) / max_data_points
    return max(round_interval(raw), min_interval_ms)


def format_interval(interval_ms: int) -> str:
    """Grafana's text form of an interval (`gtime.FormatInterval`): 1d, 6h, 5m, 30s, 200ms."""
    units = (
        (_YEAR_MS, "y"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    )
    for size, suffix in units:
        if interval_ms >= size:
            return f"{interval_ms // size}{suffix}"
    return "1ms"


def regex_escape(value: str) -> str:
    """Grafana's `escapeRegex`: backslash before regex specials and `/`."""
    return _REGEX_SPECIAL.sub(lambda match: "\\" + match.group(0), value)


def _in_regex_literal(query: str, start: int, end: int) -> bool:
    before = query[:start].rstrip("(^")
    after = query[end:].lstrip(")$")
    return before.endswith("/") and after.startswith("/")


def _selected(variable: TemplateVariable) -> list[str]:
    if variable.all_selected and variable.all_value is None:
        return list(variable.options)
    return list(variable.values)


def _format_value(
    variable: TemplateVariable, fmt: str | None, query: str, start: int, end: int
) -> str:
    if variable.all_selected and variable.all_value is not None:
        return variable.all_value
    values = _selected(variable)
    if not values:
        msg = f"variable {variable.name!r} has no value"
        raise MacroError(msg)
    if fmt is None:
        if variable.multi or variable.include_all:
            escaped = [regex_escape(value) for value in values]
            return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
        value = values[0]
        if _NUMBER.match(value):
            return value
        return regex_escape(value) if _in_regex_literal(query, start, end) else value
    formatters = {
        "raw": lambda: ",".join(values),
        "regex": lambda: (
            regex_escape(values[0])
            if len(values) == 1
            else "(" + "|".join(regex_escape(value) for value in values) + ")"
        ),
        "pipe": lambda: "|".join(values),
        "csv": lambda: ",".join(values),
        "singlequote": lambda: ",".join("'" + value.replace("'", "\\'") + "'" for value in values),
        "doublequote": lambda: ",".join('"' + value.replace('"', '\\"') + '"' for value in values),
    }
    if fmt not in formatters:
        msg = f"format {fmt!r} of variable {variable.name!r} is not supported"
        raise MacroError(msg)
    return formatters[fmt]()


def interpolate(
    query: str,
    *,
    time_range: TimeRange,
    interval_ms: int,
    variables: Mapping[str, TemplateVariable] | Sequence[TemplateVariable] = (),
) -> str:
    """The InfluxQL text Grafana would send to InfluxDB for `query`."""
    by_name = (
        dict(variables)
        if isinstance(variables, Mapping)
        else {variable.name: variable for variable in variables}
    )
    interval_text = format_interval(interval_ms)
    span_ms = time_range.to_ms - time_range.from_ms
    builtins = {
        "__interval": interval_text,
        "__interval_ms": str(interval_ms),
        "__from": str(time_range.from_ms),
        "__to": str(time_range.to_ms),
        "__range_ms": str(span_ms),
        "__range_s": str(span_ms // 1000),
        "__range": f"{span_ms // 1000}s",
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name in builtins:
            return builtins[name]
        variable = by_name.get(name)
        if variable is None:
            return match.group(0)
        return _format_value(variable, fmt, query, match.start(), match.end())

    text = _VARIABLE.sub(replace, query)
    # Backend step, same order as Grafana's Query.Build.
    time_filter = f"time >= {time_range.from_ms}ms and time <= {time_range.to_ms}ms"
    text = text.replace("$timeFilter", time_filter)
    text = text.replace("$interval", interval_text)
    text = text.replace("$__interval_ms", str(interval_ms))
    return text.replace("$__interval", interval_text)


def used_variables(query: str) -> set[str]:
    """Names of the (non-built-in) variables a query refers to."""
    names: set[str] = set()
    for match in _VARIABLE.finditer(query):
        name = match.group(1) or match.group(2) or match.group(4)
        if name and not name.startswith("__") and name not in ("timeFilter", "interval"):
            names.add(name)
    return names
