"""The import file (docs/import.md): CSV rows `probe,time,quantity,value,unit` turned into
SenML packs of the wire contract, so that imported values go through the same decoder
(units, bounds, censored values, times) as the values probes send; plain rows are
decoded column by column by the same rules instead (`CsvReader`).

Every problem of a row is a `RowProblem` with its line number; the row is skipped and the
file goes on. Only an unusable file as a whole (not found, no or a wrong header) raises
`ImportFileError`.
"""

from __future__ import annotations

import csv
import functools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import BinaryIO

from gwmon.config import GwmonError
from gwmon.ingest._bounded import Reason
from gwmon.ingest._import_plain import (
    JSON_NUMBER,
    TIME_CACHE_SIZE,
    PlainRowDecoder,
    PlainRows,
)
from gwmon.ingest._import_plain import runs as plain_runs
from gwmon.ingest._registry import Probe, Registry
from gwmon.ingest._senml import SEQUENCE_RECORD

COLUMNS = ("probe", "time", "quantity", "value", "unit")
MAX_LINE_BYTES = 1_000  # a row of this layout is far shorter; longer ones are refused
PACK_RECORDS = 1_000  # consecutive rows of one probe decoded as one pack
PACK_MAX_BYTES = PACK_RECORDS * (MAX_LINE_BYTES + 64)  # the decoder's size bound for a pack
_BLOCK_BYTES = 1 << 18  # the file is read in blocks of about 6,000 rows

# Reasons of row problems found before the decoder (the decoder's own are `Reason`s).
BAD_ROW = "bad_row"
BAD_TIME = "bad_time"
BAD_VALUE = "bad_value"
UNKNOWN_PROBE = "unknown_probe"
NOT_UTF8 = "not_utf8"

_UTF8_BOM = b"\xef\xbb\xbf"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIX_SECONDS = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,9})?")
_GERMAN_TIME = re.compile(
    r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})"
    r"[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
)


class ImportFileError(GwmonError):
    """The import file cannot be used at all (the message says why and how to fix it)."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One row that was not imported: its line in the file, why, and the row itself."""

    line: int
    reason: str
    detail: str
    text: str


@dataclass(slots=True)
class CsvPack:
    """Consecutive rows of one probe as one SenML pack; `lines[i]` is the file's line
    number of record i."""

    probe: Probe
    records: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def payload(self) -> bytes:
        head = f'{{"bn":{json.dumps(self.probe.probe_id + ":")},'
        return ("[" + head + ",{".join(self.records) + "]").encode()


@dataclass(frozen=True, slots=True)
class Layout:
    """How the file is written: the plain layout (`,`) or Excel's "CSV UTF-8" with `;`
    and decimal commas; `columns[i]` is the column name of field i."""

    delimiter: str
    columns: tuple[str, ...]
    probe_at: int = field(init=False)
    time_at: int = field(init=False)
    quantity_at: int = field(init=False)
    value_at: int = field(init=False)
    unit_at: int = field(init=False)

    def __post_init__(self) -> None:
        for name in COLUMNS:
            if name in self.columns:
                object.__setattr__(self, f"{name}_at", self.columns.index(name))

    def index(self, name: str) -> int:
        return self.columns.index(name)


def read_layout(header: str, path: Path) -> Layout:
    delimiter = ";" if header.count(";") > header.count(",") else ","
    try:
        columns = tuple(
            name.strip().lower() for name in next(csv.reader([header], delimiter=delimiter))
        )
    except csv.Error:  # e.g. a stray carriage return
        columns = ()
    missing = [name for name in COLUMNS if name not in columns]
    unknown = [name for name in columns if name not in COLUMNS]
    if missing or unknown or len(set(columns)) != len(columns):
        msg = (
            f"{path}: the header is {header.strip()!r}; it must name the columns "
            f"{','.join(COLUMNS)} (any order, ',' or ';' between them), see docs/import.md"
        )
        raise ImportFileError(msg)
    return Layout(delimiter, columns)


def time_literal(text: str, timezone: tzinfo | None) -> str:
    """The UNIX seconds of a row's time as a JSON number literal, exact to the
    microsecond (ISO 8601; UNIX seconds; `26.11.2025 07:00` as Excel writes it). A time
    without a UTC offset needs `timezone`. Raises ValueError saying what is wrong."""
    text = text.strip()
    if _UNIX_SECONDS.fullmatch(text):
        return text
    german = _GERMAN_TIME.fullmatch(text)
    try:
        if german:
            moment = datetime(
                int(german["year"]),
                int(german["month"]),
                int(german["day"]),
                int(german["hour"]),
                int(german["minute"]),
                int(german["second"] or 0),
            )
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        msg = f"time {text[:40]!r} is not ISO 8601 (e.g. 2025-11-26T07:00:00Z) or UNIX seconds"
        raise ValueError(msg) from None
    if moment.tzinfo is None:
        moment = _localised(moment, text, timezone)
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    seconds, fraction = divmod(micros, 1_000_000)
    return str(seconds) if not fraction else f"{seconds}.{fraction:06d}".rstrip("0")


def _localised(moment: datetime, text: str, timezone: tzinfo | None) -> datetime:
    if timezone is None:
        msg = (
            f"time {text[:40]!r} has no UTC offset; write it with one (2025-11-26T07:00:00Z, "
            "+01:00) or give the file's time zone with --timezone Europe/Berlin"
        )
        raise ValueError(msg)
    first, second = moment.replace(tzinfo=timezone), moment.replace(tzinfo=timezone, fold=1)
    if first.utcoffset() != second.utcoffset():
        msg = f"local time {text[:40]!r} is ambiguous or skipped (clock change); give its offset"
        raise ValueError(msg)
    if first.astimezone(UTC).astimezone(timezone).replace(tzinfo=None) != moment:
        msg = f"local time {text[:40]!r} does not exist (the clock skipped it)"
        raise ValueError(msg)
    return first


def value_field(text: str) -> str:
    """`"v":12.5` or, below the limit of quantification, `"vs":"<0.5"`; a decimal comma
    is read as a point. Raises ValueError for anything that is not a number."""
    text = text.strip()
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    if text.startswith("<"):
        return f'"vs":{json.dumps(text)}'  # the decoder checks it like a probe's "vs"
    if not JSON_NUMBER.fullmatch(text):
        msg = f"value {text[:40]!r} is not a number (e.g. 12.5 or 12,5; <0.5 below the LOQ)"
        raise ValueError(msg)
    return f'"v":{text}'


@functools.lru_cache(maxsize=1024)
def _json_text(text: str) -> str:
    return json.dumps(text.strip(), ensure_ascii=False)


class CsvReader:
    """Reads an import file into packs (see module docstring); problems go to
    `on_problem`. `bytes_read` follows the file for a progress bar.

    The file is read in blocks. The plain rows of a block (the layout's five fields, no
    quotes, a registered probe, a time and a short number the one-pass decoder of
    `_pack.py` would take, a known name and unit, not in the future) are decoded column
    by column into `PlainRows`, as `decode_columns` decodes their pack; every other row
    goes the careful way (`CsvPack`, through the decoder), in file order.
    `plain=False` sends every row the careful way (the reference the tests hold the
    plain path against)."""

    def __init__(
        self,
        path: Path,
        registry: Registry,
        *,
        timezone: tzinfo | None,
        on_problem: Callable[[RowProblem], None],
        clock: Callable[[], float] = time.time,
        future_margin_s: float = 300.0,
        plain: bool = True,
    ) -> None:
        self.path = path
        self.registry = registry
        self.timezone = timezone
        self.on_problem = on_problem
        self.plain = plain
        self.bytes_read = 0
        self.rows = 0
        self._times: dict[str, str] = {}
        self._plain_rows = PlainRowDecoder(
            registry.probes,
            functools.partial(time_literal, timezone=timezone),
            clock=clock,
            future_margin_s=future_margin_s,
        )
        self._pack: CsvPack | None = None  # the careful rows' pack being filled

    def packs(self) -> Iterator[CsvPack | PlainRows]:
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            msg = f"{self.path}: cannot be read ({exc.strerror}); check the path"
            raise ImportFileError(msg) from None
        with handle:
            layout, number = self._header(handle)
            yield from self._blocks(handle, layout, number)

    def _header(self, handle: BinaryIO) -> tuple[Layout, int]:
        """The layout from the first line that is not empty or a comment, and its number."""
        number = 0
        for raw in handle:
            number += 1
            self.bytes_read += len(raw)
            text = self._text(number, raw)
            if text is None or not text.strip() or text.startswith("#"):
                continue
            return read_layout(text, self.path), number
        msg = f"{self.path}: the file is empty; it needs the header {','.join(COLUMNS)}"
        raise ImportFileError(msg)

    def _blocks(
        self, handle: BinaryIO, layout: Layout, number: int
    ) -> Iterator[CsvPack | PlainRows]:
        remainder = b""
        skipping = False  # inside a line too long to keep: only its head is kept
        while chunk := handle.read(_BLOCK_BYTES):
            self.bytes_read += len(chunk)
            if skipping:
                end = chunk.find(b"\n")
                if end < 0:
                    continue
                chunk, skipping = chunk[end:], False
            data = remainder + chunk if remainder else chunk
            cut = data.rfind(b"\n") + 1
            remainder = data[cut:]
            if len(remainder) > MAX_LINE_BYTES:  # refused by its length alone
                remainder, skipping = remainder[: MAX_LINE_BYTES + 1], True
            if cut:
                yield from self._block(number + 1, data[:cut], layout)
                number += data.count(b"\n", 0, cut)
        if remainder:  # the last line, without a newline
            yield from self._careful(number + 1, remainder, layout)
        if self._pack is not None:
            yield self._pack
            self._pack = None

    def _block(self, first: int, body: bytes, layout: Layout) -> Iterator[CsvPack | PlainRows]:
        """The lines of `body` (each ends with a newline), line `first` first."""
        raws: list[bytes] | None = None
        if body.isascii():
            lines = body.decode("ascii").split("\n")
        else:  # a line with other bytes is no plain row; the careful path reads it
            raws = body.split(b"\n")
            lines = [raw.decode("ascii") if raw.isascii() else "" for raw in raws]
        lines.pop()  # after the last newline
        plain = (
            self._plain_rows.block(lines, layout, crlf=b"\r" in body, quoted=b'"' in body)
            if self.plain
            else None
        )
        runs = plain_runs(plain) if plain is not None else []
        done = 0
        for start, end in runs:
            assert plain is not None
            low = plain.positions[start]
            for position in range(done, low):
                yield from self._careful_line(first, position, lines, raws, layout)
            if self._pack is not None:
                yield self._pack
                self._pack = None
            yield plain.rows(start, end, first)
            self.rows += end - start
            done = low + end - start
        for position in range(done, len(lines)):
            yield from self._careful_line(first, position, lines, raws, layout)

    def _careful_line(
        self, first: int, position: int, lines: list[str], raws: list[bytes] | None, layout: Layout
    ) -> Iterator[CsvPack]:
        raw = raws[position] if raws is not None else lines[position].encode("ascii")
        yield from self._careful(first + position, raw + b"\n", layout)

    def _careful(self, number: int, raw: bytes, layout: Layout) -> Iterator[CsvPack]:
        """One line the careful way: a problem, nothing (empty, a comment) or a record of
        the pack being filled (the pack is yielded when it is full or the probe changes)."""
        text = self._text(number, raw)
        if text is None:
            self.rows += 1
            return
        if not text.strip() or text.startswith("#"):
            return
        self.rows += 1
        row = self._row(number, text, layout)
        if row is None:
            return
        probe, record = row
        pack = self._pack
        if pack is not None and (pack.probe is not probe or len(pack.records) >= PACK_RECORDS):
            yield pack
            pack = None
        if pack is None:
            pack = self._pack = CsvPack(probe)
        pack.records.append(record)
        pack.lines.append(number)
        pack.texts.append(text)

    # -- the careful way -----------------------------------------------------------------------
    def _text(self, number: int, raw: bytes) -> str | None:
        if number == 1 and raw.startswith(_UTF8_BOM):
            raw = raw[len(_UTF8_BOM) :]
        shown = raw[:200].decode("utf-8", errors="replace").rstrip("\r\n")
        if len(raw) > MAX_LINE_BYTES:
            self._problem(number, BAD_ROW, f"longer than {MAX_LINE_BYTES} bytes", shown)
            return None
        try:
            return raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            detail = f"byte {exc.start + 1} is not UTF-8; export the file as 'CSV UTF-8'"
            self._problem(number, NOT_UTF8, detail, shown)
            return None

    def _row(self, number: int, text: str, layout: Layout) -> tuple[Probe, str] | None:
        try:
            fields = (
                next(csv.reader([text], delimiter=layout.delimiter))
                if '"' in text
                else text.split(layout.delimiter)
            )
        except csv.Error as exc:  # e.g. a stray carriage return beside quotes
            self._problem(number, BAD_ROW, f"not a CSV row ({exc})", text)
            return None
        if len(fields) != len(layout.columns):
            detail = f"{len(fields)} fields; the header has {len(layout.columns)}"
            self._problem(number, BAD_ROW, detail, text)
            return None
        probe_id = fields[layout.probe_at].strip()
        probe = self.registry.get(probe_id)
        if probe is None:
            detail = f"probe {probe_id[:64]!r} is not in the registry"
            self._problem(number, UNKNOWN_PROBE, detail, text)
            return None
        try:
            time = self._time(fields[layout.time_at])
        except ValueError as exc:
            self._problem(number, BAD_TIME, str(exc), text)
            return None
        try:
            value = value_field(fields[layout.value_at])
        except ValueError as exc:
            self._problem(number, BAD_VALUE, str(exc), text)
            return None
        name = fields[layout.quantity_at].strip()
        if name == SEQUENCE_RECORD:
            detail = "seq is a probe's sample counter, not a quantity"
            self._problem(number, Reason.UNKNOWN_QUANTITY, detail, text)
            return None
        quantity = _json_text(name)
        unit = _json_text(fields[layout.unit_at])
        return probe, f'"bt":{time},"n":{quantity},"u":{unit},{value}}}'

    def _time(self, text: str) -> str:
        found = self._times.get(text)
        if found is None:
            if len(self._times) >= TIME_CACHE_SIZE:
                self._times.clear()
            found = self._times[text] = time_literal(text, self.timezone)
        return found

    def _problem(self, number: int, reason: str, detail: str, text: str) -> None:
        self.on_problem(RowProblem(number, reason, detail, text))
