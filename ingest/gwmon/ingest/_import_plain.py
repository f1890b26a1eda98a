"""The plain rows of an import file, decoded column by column (`CsvReader` hands every
block of the file to `PlainRowDecoder`): the rows it takes are decoded exactly as
`decode_columns` decodes their SenML pack on its one-pass path (`_pack.py`); every other
row is left to the careful path. tests/ingest/test_import_plain.py holds the two ways
against each other with Hypothesis."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise, repeat
from operator import attrgetter
from typing import TYPE_CHECKING

import orjson

from gwmon.ingest._bounded import NUMBER_LIMIT, seconds_to_ns, to_decimal
from gwmon.ingest._pack import PackColumns
from gwmon.ingest._registry import Probe
from gwmon.ingest._senml import ABSOLUTE_TIME_MIN_S, RECORDS, Unit

if TYPE_CHECKING:
    from gwmon.ingest._import_csv import Layout

TIME_CACHE_SIZE = 100_000  # a year of 15-minute values has 35,040 distinct times
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_PLAIN_MAX_CHARS = 200  # a longer row takes the careful path (which bounds its length)
# As the one-pass decoder (`_pack.py`): a number literal of at most 16 characters is
# parsed by orjson exactly as the careful decoder parses it.
_PLAIN_NUMBER_CHARS = 16
_NOT_PLAIN = 0  # the time of a row the careful path decides (no time is 0 s)
_NS_PER_S = 1_000_000_000
_ABSOLUTE_TIME_MIN_NS = ABSOLUTE_TIME_MIN_S * _NS_PER_S
_NUMBER_TYPES = {int, float}


@dataclass(frozen=True, slots=True, eq=False)
class _PlainUnit:
    """A record name with one of its units, as the decoder maps them (`RECORDS`)."""

    quantity: str
    record_name: str
    unit: Unit


# record name -> unit -> _PlainUnit; "seq" is no quantity of a row (the careful path says so)
_PLAIN_UNITS: dict[str, dict[str, _PlainUnit]] = {
    name: {
        unit_name: _PlainUnit(spec.quantity, name, unit) for unit_name, unit in spec.units.items()
    }
    for name, spec in RECORDS.items()
}
_UNIT = attrgetter("unit")
_QUANTITY = attrgetter("quantity")
_RECORD_NAME = attrgetter("record_name")


@dataclass(slots=True)
class PlainRows:
    """Consecutive plain rows of one probe, decoded column by column as `decode_columns`
    decodes their pack; `lines[i]`, `texts[i]` are the row of reading i."""

    probe: Probe
    columns: PackColumns
    lines: list[int]
    texts: list[str]


@dataclass(slots=True)
class PlainBlock:
    """The plain rows of a block as parallel columns; `positions[i]` is row i's line in
    the block (increasing)."""

    positions: Sequence[int]
    probe_ids: list[str]
    probes: list[Probe]
    times_ns: list[int]
    units: list[_PlainUnit]
    numbers: list[int | float]
    texts: list[str]
    arrival_ns: int

    def rows(self, start: int, end: int, first_line: int) -> PlainRows:
        """Rows start..end-1 (one probe, consecutive lines) as `PlainRows`."""
        units = self.units[start:end]
        numbers = self.numbers[start:end]
        # As `_pack._decode_plain`: the number as parsed if the unit is the canonical
        # one, else converted exactly and rounded once.
        if all(unit.unit.identity for unit in set(units)):
            values = list(map(float, numbers))
        else:
            values = [
                float(number) if plain.unit.identity else plain.unit.apply(to_decimal(number))
                for plain, number in zip(units, numbers, strict=True)
            ]
        probe = self.probes[start]
        low = self.positions[start]
        columns = PackColumns(
            probe.probe_id,
            self.arrival_ns,
            quantities=list(map(_QUANTITY, units)),
            times_ns=self.times_ns[start:end],
            values=values,
            record_names=list(map(_RECORD_NAME, units)),
            censored=[False] * (end - start),
        )
        lines = list(range(first_line + low, first_line + low + end - start))
        return PlainRows(probe, columns, lines, self.texts[start:end])


def runs(block: PlainBlock) -> list[tuple[int, int]]:
    """(start, end) of each run of rows of one probe on consecutive lines."""
    positions, ids = block.positions, block.probe_ids
    count = len(ids)
    contiguous = positions[-1] - positions[0] == count - 1
    if contiguous and ids.count(ids[0]) == count:
        return [(0, count)]
    cuts = [
        index
        for index in range(1, count)
        if ids[index] != ids[index - 1] or positions[index] != positions[index - 1] + 1
    ]
    edges = [0, *cuts, count]
    return list(pairwise(edges))


def _plain_numbers(texts: list[str], delimiter: str) -> list[int | float | None]:
    """Each value as the one-pass decoder parses its literal (orjson, at most 16
    characters, within ±1e10), None for one the careful path decides. The whole column is
    parsed as one JSON array when that cannot merge or split values: no brackets (no
    quotes: a quoted row is no plain row), the decimal commas turned into points."""
    body = delimiter.join(texts)  # no value holds the delimiter: the line was split by it
    if delimiter != ",":
        if "," in body:
            if "." in body:  # points and commas: value by value, as `value_field`
                return list(map(_plain_number, texts))
            body = body.replace(",", ".")  # a value with 2+ commas is then no number
        body = body.replace(delimiter, ",")
    if (
        max(map(len, texts)) <= _PLAIN_NUMBER_CHARS
        and "[" not in body
        and "]" not in body
        and "{" not in body
        and "}" not in body
    ):
        try:
            parsed = orjson.loads(f"[{body}]")
        except orjson.JSONDecodeError:
            parsed = None
        if (
            parsed is not None
            and len(parsed) == len(texts)
            and set(map(type, parsed)) <= _NUMBER_TYPES
            and min(parsed) >= -NUMBER_LIMIT
            and max(parsed) <= NUMBER_LIMIT
        ):
            return parsed  # type: ignore[no-any-return]
    return list(map(_plain_number, texts))


def _plain_number(text: str) -> int | float | None:
    """One value as `value_field` reads it, then as the one-pass decoder parses it."""
    text = text.strip()
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    if len(text) > _PLAIN_NUMBER_CHARS or not JSON_NUMBER.fullmatch(text):
        return None
    try:
        number = orjson.loads(text)
    except orjson.JSONDecodeError:  # beyond a float (1e400)
        return None
    if type(number) not in _NUMBER_TYPES or not -NUMBER_LIMIT <= number <= NUMBER_LIMIT:
        return None
    return number  # type: ignore[no-any-return]


class PlainRowDecoder:
    """Finds and decodes the plain rows of a block (see the module docstring): a
    registered probe (`probes`), a time `literal_of` reads (as `time_literal`), not beyond
    `clock()` + `future_margin_s`."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        literal_of: Callable[[str], str],
        *,
        clock: Callable[[], float] = time.time,
        future_margin_s: float = 300.0,
    ) -> None:
        self._probes = dict(probes)
        self._literal = literal_of
        self.clock = clock
        self.future_margin_s = future_margin_s
        self._plain_times: dict[str, int] = {}

    def block(
        self, lines: list[str], layout: Layout, *, crlf: bool, quoted: bool
    ) -> PlainBlock | None:
        """The rows of `lines` that are plain (see the class docstring), as columns;
        `crlf`, `quoted`: whether a line holds a carriage return, a quote."""
        count = len(lines)
        if not count:
            return None
        text_lines = [line.rstrip("\r") for line in lines] if crlf else lines
        delimiter = layout.delimiter
        fields_per_row = len(layout.columns)
        delimiters = list(map(str.count, text_lines, repeat(delimiter, count)))
        chosen: list[int] | None = None  # positions of the candidates; None: all lines
        candidates = text_lines
        if (
            delimiters.count(fields_per_row - 1) != count
            or max(map(len, text_lines)) > _PLAIN_MAX_CHARS
            or quoted
        ):
            chosen = [
                position
                for position, line in enumerate(text_lines)
                if delimiters[position] == fields_per_row - 1
                and len(line) <= _PLAIN_MAX_CHARS
                and '"' not in line
            ]
            candidates = [text_lines[position] for position in chosen]
            if not candidates:
                return None
        cells = delimiter.join(candidates).split(delimiter)
        probe_ids = cells[layout.probe_at :: fields_per_row]
        times = self._plain_times_of(cells[layout.time_at :: fields_per_row])
        units = list(
            map(
                dict.get,
                map(_PLAIN_UNITS.get, cells[layout.quantity_at :: fields_per_row], repeat({})),
                cells[layout.unit_at :: fields_per_row],
            )
        )
        numbers = _plain_numbers(cells[layout.value_at :: fields_per_row], delimiter)
        probes = list(map(self._probes.get, probe_ids))
        now_s = self.clock()
        # As `decode_columns`: a time within a millisecond of now + the margin is for the
        # careful decoder to decide exactly.
        latest_ns = int((now_s + self.future_margin_s) * _NS_PER_S) - 1_000_000
        if max(times) > latest_ns:
            times = [time_ns if time_ns <= latest_ns else _NOT_PLAIN for time_ns in times]
        positions: Sequence[int] = range(count) if chosen is None else chosen
        if not all(probes) or _NOT_PLAIN in times or not all(units) or None in numbers:
            keep = [
                index
                for index, (probe, time_ns, unit, number) in enumerate(
                    zip(probes, times, units, numbers, strict=True)
                )
                if probe is not None and time_ns and unit is not None and number is not None
            ]
            if not keep:
                return None
            positions = [positions[index] for index in keep]
            probe_ids = [probe_ids[index] for index in keep]
            probes = [probes[index] for index in keep]
            times = [times[index] for index in keep]
            units = [units[index] for index in keep]
            numbers = [numbers[index] for index in keep]
            candidates = [candidates[index] for index in keep]
        return PlainBlock(
            positions=positions,
            probe_ids=probe_ids,
            probes=probes,  # type: ignore[arg-type]  # no None left
            times_ns=times,
            units=units,  # type: ignore[arg-type]
            numbers=numbers,  # type: ignore[arg-type]
            texts=candidates,
            arrival_ns=int(now_s * _NS_PER_S),
        )

    def _plain_times_of(self, texts: list[str]) -> list[int]:
        """The time in ns of each text, `_NOT_PLAIN` for one the careful path decides."""
        times = list(map(self._plain_times.get, texts))
        if None in times:
            if len(self._plain_times) >= TIME_CACHE_SIZE:
                self._plain_times.clear()
            for index in [index for index, found in enumerate(times) if found is None]:
                text = texts[index]
                found = self._plain_times.get(text)
                if found is None:
                    found = self._plain_times[text] = self._plain_time(text)
                times[index] = found
        return times  # type: ignore[return-value]  # no None left

    def _plain_time(self, text: str) -> int:
        """As the one-pass decoder reads the time literal of `text` (`_pack._plain_ns`)."""
        try:
            literal = self._literal(text)
        except ValueError:
            return _NOT_PLAIN
        if len(literal) > _PLAIN_NUMBER_CHARS:
            return _NOT_PLAIN
        seconds = orjson.loads(literal)  # a JSON number by construction
        if not -NUMBER_LIMIT <= seconds <= NUMBER_LIMIT:
            return _NOT_PLAIN
        time_ns = seconds_to_ns(seconds)
        return time_ns if time_ns >= _ABSOLUTE_TIME_MIN_NS else _NOT_PLAIN
