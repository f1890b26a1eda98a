"""The types a measurement of the storage contract is made of.

A `Measurement` names its tags and fields once, with their types and meaning; writers
build points through it (names and types are checked) and readers refer to its columns
through it (a typo is an error at build time, not an empty panel at 3 a.m.).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Literal

import orjson

from gwmon.storage._line import FieldValue, Point, escape_key, format_field, series_prefix

FieldType = Literal["float", "integer", "boolean", "string"]

_PYTHON_TYPE: dict[FieldType, tuple[type, ...]] = {
    "float": (float,),
    "integer": (int,),
    "boolean": (bool,),
    "string": (str,),
}


class ContractError(ValueError):
    """A point or a query does not match the storage contract (a programming error)."""


@dataclass(frozen=True, slots=True)
class Tag:
    """An indexed string column: part of a point's identity (measurement + tags + time)."""

    name: str
    doc: str


@dataclass(frozen=True, slots=True)
class Field:
    """A value column. `required` fields are in every point the contract writes."""

    name: str
    type: FieldType
    doc: str
    required: bool = False

    def accepts(self, value: FieldValue) -> bool:
        if isinstance(value, bool):
            return self.type == "boolean"
        if self.type == "float":
            return isinstance(value, float) and math.isfinite(value)
        return isinstance(value, _PYTHON_TYPE[self.type])


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measurement: its tags, fields, who writes it and what its time means."""

    name: str
    doc: str
    time: str
    written_by: str
    tags: tuple[Tag, ...]
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        names = [tag.name for tag in self.tags] + [field.name for field in self.fields]
        if len(names) != len(set(names)):
            msg = f"measurement {self.name}: a column name is used twice"
            raise ContractError(msg)

    @property
    def tag_names(self) -> frozenset[str]:
        return frozenset(tag.name for tag in self.tags)

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(field.name for field in self.fields)

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        msg = f"measurement {self.name} has no field {name!r}"
        raise ContractError(msg)

    def column(self, name: str) -> str:
        """`name` if it is a tag or field of this measurement, else ContractError."""
        if name in self.tag_names or name in self.field_names:
            return name
        msg = f"measurement {self.name} has no tag or field {name!r}"
        raise ContractError(msg)

    def point(
        self, tags: Mapping[str, str], fields: Mapping[str, FieldValue], time_ns: int
    ) -> Point:
        """A point of this measurement; names and types are checked against the contract.

        Empty tag values are allowed here and left out of the line (InfluxDB refuses
        them); a missing required field or a value of the wrong type is a ContractError.
        """
        unknown_tags = set(tags) - self.tag_names
        if unknown_tags:
            msg = f"measurement {self.name} has no tag(s) {sorted(unknown_tags)}"
            raise ContractError(msg)
        for name, value in fields.items():
            if not self.field(name).accepts(value):
                spec = self.field(name)
                msg = f"{self.name}.{name} must be a {spec.type}, got {value!r}"
                raise ContractError(msg)
        missing = [
            field.name for field in self.fields if field.required and field.name not in fields
        ]
        if missing:
            msg = f"point of {self.name} lacks required field(s) {missing}"
            raise ContractError(msg)
        return Point(self.name, tags, fields, time_ns)

    def line_format(self, tags: Mapping[str, str], fields: Sequence[str]) -> LineFormat:
        """Lines of one series of this measurement that always carry the same `fields`,
        in this order: for the ingest's hot path. Checked against the contract here, once
        (tag and field names, required fields); `LineFormat.line` checks only each value's
        type, and makes the same line as `point(tags, fields, time_ns).to_line()`."""
        unknown_tags = set(tags) - self.tag_names
        if unknown_tags:
            msg = f"measurement {self.name} has no tag(s) {sorted(unknown_tags)}"
            raise ContractError(msg)
        layout = _layout_of(self, tuple(fields))
        # Not through series_prefix's cache: a format keeps its prefix for its life, and a
        # fleet's formats would only crowd the series that Point.to_line looks up there.
        prefix = series_prefix.__wrapped__(self.name, tuple(tags.items()))
        return LineFormat(prefix, layout)


def _finite_float(value: object) -> bool:
    return type(value) is float and math.isfinite(value)


def _integer(value: object) -> bool:
    return type(value) is int


def _boolean(value: object) -> bool:
    return type(value) is bool


def _string(value: object) -> bool:
    return type(value) is str


_VALUE_CHECKS: dict[FieldType, Callable[[object], bool]] = {
    "float": _finite_float,
    "integer": _integer,
    "boolean": _boolean,
    "string": _string,
}


def _literal(text: str) -> str:
    return text.replace("%", "%%")


class _Layout:
    """What the line formats of one measurement with one list of fields share (a fleet
    has thousands of series but a few field lists): the fields, their checks, the
    escaped keys and the printf-style rest of a line after the first field's key."""

    __slots__ = ("checks", "end", "fields", "float_only", "measurement", "rest_keys", "tail")

    def __init__(self, measurement: str, fields: tuple[Field, ...]) -> None:
        if not fields:
            msg = f"a line of {measurement} needs at least one field"
            raise ContractError(msg)
        self.measurement = measurement
        self.fields = fields
        self.checks = tuple(_VALUE_CHECKS[field.type] for field in fields)
        self.float_only = all(field.type == "float" for field in fields)
        keys = [escape_key(field.name) for field in fields]
        # ",key=" before each field after the first, for lines joined from texts
        # (`float_lines_at_times`).
        self.rest_keys = tuple(f",{key}=" for key in keys[1:])
        # The end of a line after the first field's value, for `float_block_at_times`.
        self.end = "".join(f"{_literal(key)}%s" for key in self.rest_keys) + " %s\n"
        # A printf-style template (the fastest formatting in CPython) of everything after
        # the head: %r of a float is its repr, as in format_field; a '%' in a key is
        # doubled so that it stays text. The head (prefix and first key) is not part of
        # it, so a site's '%' never needs escaping.
        value = "%r" if self.float_only else "%s"
        self.tail = value + "".join(f"{_literal(key)}{value}" for key in self.rest_keys) + " %s"


_LAYOUTS: dict[tuple[Measurement, tuple[str, ...]], _Layout] = {}


def _layout_of(measurement: Measurement, names: tuple[str, ...]) -> _Layout:
    """The one `_Layout` of `measurement` with the fields `names` (checked against the
    contract when first asked for)."""
    key = (measurement, names)
    found = _LAYOUTS.get(key)
    if found is not None:
        return found
    specs = tuple(measurement.field(name) for name in names)
    if len(set(names)) != len(names):
        msg = f"line format of {measurement.name} names a field twice: {list(names)}"
        raise ContractError(msg)
    missing = [
        field.name for field in measurement.fields if field.required and field.name not in names
    ]
    if missing:
        msg = f"line format of {measurement.name} lacks required field(s) {missing}"
        raise ContractError(msg)
    found = _LAYOUTS[key] = _Layout(measurement.name, specs)
    return found


class LineFormat:
    """Lines of one series with a fixed list of fields (see `Measurement.line_format`):
    the escaped series prefix and field keys are built once, from the same functions
    `Point.to_line` uses, so the lines are byte for byte the same. A format holds only
    its head (`prefix first_key=`); the rest is shared by every series with the same
    fields (`_Layout`)."""

    __slots__ = ("_head", "_head_bytes", "_layout")

    def __init__(self, prefix: str, layout: _Layout) -> None:
        self._layout = layout
        self._head = f"{prefix} {escape_key(layout.fields[0].name)}="
        self._head_bytes = self._head.encode()  # for blocks of lines (UTF-8)

    @property
    def fields(self) -> tuple[Field, ...]:
        return self._layout.fields

    def line(self, values: Sequence[FieldValue], time_ns: int) -> str:
        """One line; ContractError if a value has the wrong type (or is not finite)."""
        layout = self._layout
        if len(values) != len(layout.checks) or type(time_ns) is not int:
            msg = f"{layout.measurement}: {len(values)} values for {len(layout.checks)} fields"
            raise ContractError(msg)
        if layout.float_only:
            for value in values:
                # `value - value` is NaN for NaN and the infinities, else 0.0.
                if type(value) is not float or value - value != 0.0:
                    self._refuse(values)
            return self._head + layout.tail % (*values, time_ns)
        for check, value in zip(layout.checks, values, strict=True):
            if not check(value):
                self._refuse(values)
        return self._head + layout.tail % (*map(format_field, values), time_ns)

    def _refuse(self, values: Sequence[FieldValue]) -> None:
        layout = self._layout
        for field, check, value in zip(layout.fields, layout.checks, values, strict=True):
            if not check(value):
                msg = f"{layout.measurement}.{field.name} must be a {field.type}, got {value!r}"
                raise ContractError(msg)


def _all_finite_floats(column: Sequence[object]) -> bool:
    """Every item a float (not a subclass) and finite; in bulk, at C speed."""
    if not column:
        return True
    if set(map(type, column)) != {float}:
        return False
    try:
        # fsum is exact: finite unless an item is NaN or infinite (or the sum overflows,
        # which it reports, so the items are then looked at one by one).
        return math.isfinite(math.fsum(column))  # type: ignore[arg-type]
    except (OverflowError, ValueError):
        return all(math.isfinite(value) for value in column)  # type: ignore[arg-type]


_LAYOUT_OF = attrgetter("_layout")


def _checked_rest(
    formats: Sequence[LineFormat],
    first: Sequence[float],
    rest_at: Mapping[int, Sequence[float]],
    times_ns: Sequence[int],
) -> tuple[_Layout | None, list[float]]:
    """The one layout of `formats` (None for no lines) and the values of `rest_at` in
    order; ContractError unless the arguments make lines of the contract."""
    count = len(times_ns)
    if len(formats) != count or len(first) != count:
        msg = "float_lines_at_times: formats, values and times differ in length"
        raise ContractError(msg)
    layouts = set(map(_LAYOUT_OF, formats))
    rest_keys = {layout.rest_keys for layout in layouts}
    if len(rest_keys) > 1 or any(not layout.float_only for layout in layouts):
        msg = "float_lines_at_times: every format must have the same float fields"
        raise ContractError(msg)
    keys = next(iter(rest_keys)) if rest_keys else ()
    rest_values = list(chain.from_iterable(rest_at.values()))
    if (
        set(map(type, times_ns)) - {int}
        or set(map(type, rest_at)) - {int}
        or set(map(len, rest_at.values())) - {len(keys)}
        or not _all_finite_floats(first)
        or not _all_finite_floats(rest_values)
    ):
        msg = "float_lines_at_times: a value is not a finite float or a time not an integer"
        raise ContractError(msg)
    return next(iter(layouts)) if layouts else None, rest_values


def _line_ends(
    end: str, width: int, rest_at: Mapping[int, Sequence[float]], rest_values: list[float]
) -> dict[int, str]:
    """The end of a line (",key=value" for every further field, the time, a newline)
    per time of `rest_at`."""
    texts = iter(float_texts(rest_values))
    rows = zip(*[texts] * width, rest_at, strict=True)  # a time's texts, then it
    return dict(zip(rest_at, map(end.__mod__, rows), strict=True))


def float_lines_at_times(
    formats: Sequence[LineFormat],
    first: Sequence[float],
    rest_at: Mapping[int, Sequence[float]],
    times_ns: Sequence[int],
) -> list[str]:
    """Line i in `formats[i]` with field 0 `first[i]`, the other fields `rest_at[t]`
    and time t = `times_ns[i]`: the same lines as `formats[i].line(...)` one by one, for
    formats whose fields are all floats (the same field names after the first).

    For fields that depend on the time only (a reading's `lag_s`): the end of a line is
    written once per distinct time, however many lines share it (a cycle of several
    quantities). ContractError if a value is not a finite float or a time is missing."""
    layout, rest_values = _checked_rest(formats, first, rest_at, times_ns)
    if layout is None:
        return []
    ends = _line_ends(layout.end, len(layout.rest_keys), rest_at, rest_values)
    try:
        line_ends = [ends[time_ns] for time_ns in times_ns]
    except KeyError:
        msg = "float_lines_at_times: a time has no values in rest_at"
        raise ContractError(msg) from None
    heads = [line_format._head for line_format in formats]
    # One join and one split instead of a formatted string per line: no text of the
    # contract holds a newline (tags and keys are escaped, floats have none).
    text = "".join(chain.from_iterable(zip(heads, float_texts(first), line_ends, strict=True)))
    lines = text.split("\n")
    lines.pop()  # after the last newline
    return lines


def float_block_at_times(
    formats: Sequence[LineFormat],
    first: Sequence[float],
    rest_at: Mapping[int, Sequence[float]],
    times_ns: Sequence[int],
) -> bytes:
    """The lines of `float_lines_at_times` as one block of UTF-8 text, each line ending
    in a newline (`LineBuffer.add_block`): no `str` per line, nothing to encode later."""
    layout, rest_values = _checked_rest(formats, first, rest_at, times_ns)
    if layout is None:
        return b""
    # The ends of the lines, one per time: their values' and times' texts from orjson
    # (two calls for all of them), each end one bytes formatting.
    width = len(layout.rest_keys)
    texts = iter(float_bytes(rest_values))
    rows = zip(*[texts] * width, _int_bytes(list(rest_at)), strict=True)
    ends = dict(zip(rest_at, map(layout.end.encode().__mod__, rows), strict=True))
    try:
        line_ends = list(map(ends.__getitem__, times_ns))
    except KeyError:
        msg = "float_lines_at_times: a time has no values in rest_at"
        raise ContractError(msg) from None
    heads = [line_format._head_bytes for line_format in formats]
    return b"".join(chain.from_iterable(zip(heads, float_bytes(first), line_ends, strict=True)))


def _int_bytes(column: list[int]) -> list[bytes]:
    """`str` of every int of `column` as ASCII bytes: orjson's text for 64-bit ints
    (the same digits), `str` beyond."""
    try:
        return orjson.dumps(column)[1:-1].split(b",") if column else []
    except orjson.JSONEncodeError:  # an int beyond 64 bits
        return [str(number).encode() for number in column]


def _orjson_writes_floats_as_repr() -> bool:
    """Whether this orjson writes floats of magnitude >= 1e-4 as `repr` does (checked
    once at import; tests/storage holds the two against each other over all floats)."""
    samples = [0.0, -0.0, 1e-4, -2.5e-4, 0.1, 20.3, 600.0, 86_585_247.46787968]
    samples += [1e15, 9_999_999_999_999_998.0, 1e16, 1.5e16, 1e22, -1.7976931348623157e308]
    return orjson.dumps(samples).decode() == "[" + ",".join(map(repr, samples)) + "]"


_ORJSON_FLOATS = _orjson_writes_floats_as_repr()
# Below this magnitude repr writes "1e-05" where orjson writes "0.00001" or "1e-5".
_ORJSON_MIN_MAGNITUDE = 1e-4


def float_texts(column: Sequence[float]) -> list[str]:
    """`repr` of every float of `column` (finite, checked by the caller), as in
    `format_field`: written by orjson in one call where that gives the same text (no
    magnitude below 1e-4, not even zero), which costs a third of `repr` one by one."""
    if not column:
        return []
    if _ORJSON_FLOATS and min(map(abs, column)) >= _ORJSON_MIN_MAGNITUDE:
        return orjson.dumps(column).decode()[1:-1].split(",")
    return list(map(repr, column))


def float_bytes(column: Sequence[float]) -> list[bytes]:
    """`float_texts(column)` as ASCII bytes (orjson's own output where it is repr's)."""
    if not column:
        return []
    if _ORJSON_FLOATS and min(map(abs, column)) >= _ORJSON_MIN_MAGNITUDE:
        return orjson.dumps(column)[1:-1].split(b",")
    return [repr(value).encode() for value in column]
