"""The import file (docs/import.md): CSV rows `probe,time,quantity,value,unit` turned into
SenML packs of the wire contract, so that imported values go through the same decoder
(units, bounds, censored values, times) as the values probes send.

Every problem of a row is a `RowProblem` with its line number; the row is skipped and the
file goes on. Only an unusable file as a whole (not found, no or a wrong header) raises
`ImportFileError`.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import BinaryIO

from gwmon.config import GwmonError
from gwmon.ingest._bounded import Reason
from gwmon.ingest._registry import Probe, Registry
from gwmon.ingest._senml import SEQUENCE_RECORD

COLUMNS = ("probe", "time", "quantity", "value", "unit")
MAX_LINE_BYTES = 1_000  # a row of this layout is far shorter; longer ones are refused
PACK_RECORDS = 1_000  # consecutive rows of one probe decoded as one pack
PACK_MAX_BYTES = PACK_RECORDS * (MAX_LINE_BYTES + 64)  # the decoder's size bound for a pack
_TIME_CACHE_SIZE = 100_000  # a year of 15-minute values has 35,040 distinct times

# Reasons of row problems found before the decoder (the decoder's own are `Reason`s).
BAD_ROW = "bad_row"
BAD_TIME = "bad_time"
BAD_VALUE = "bad_value"
UNKNOWN_PROBE = "unknown_probe"
NOT_UTF8 = "not_utf8"

_UTF8_BOM = b"\xef\xbb\xbf"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIX_SECONDS = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,9})?")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
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
    if not _JSON_NUMBER.fullmatch(text):
        msg = f"value {text[:40]!r} is not a number (e.g. 12.5 or 12,5; <0.5 below the LOQ)"
        raise ValueError(msg)
    return f'"v":{text}'


@functools.lru_cache(maxsize=1024)
def _json_text(text: str) -> str:
    return json.dumps(text.strip(), ensure_ascii=False)


class CsvReader:
    """Reads an import file row by row into packs (see module docstring); problems go
    to `on_problem`. `bytes_read` follows the file for a progress bar."""

    def __init__(
        self,
        path: Path,
        registry: Registry,
        *,
        timezone: tzinfo | None,
        on_problem: Callable[[RowProblem], None],
    ) -> None:
        self.path = path
        self.registry = registry
        self.timezone = timezone
        self.on_problem = on_problem
        self.bytes_read = 0
        self.rows = 0
        self._times: dict[str, str] = {}

    def packs(self) -> Iterator[CsvPack]:
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            msg = f"{self.path}: cannot be read ({exc.strerror}); check the path"
            raise ImportFileError(msg) from None
        with handle:
            yield from self._packs(handle)

    def _packs(self, handle: BinaryIO) -> Iterator[CsvPack]:
        layout: Layout | None = None
        pack: CsvPack | None = None
        for number, raw in enumerate(handle, start=1):
            self.bytes_read += len(raw)
            text = self._text(number, raw)
            if text is None:
                self.rows += layout is not None
                continue
            if not text.strip() or text.startswith("#"):
                continue
            if layout is None:
                layout = read_layout(text, self.path)
                continue
            self.rows += 1
            row = self._row(number, text, layout)
            if row is None:
                continue
            probe, record = row
            if pack is not None and (pack.probe is not probe or len(pack.records) >= PACK_RECORDS):
                yield pack
                pack = None
            if pack is None:
                pack = CsvPack(probe)
            pack.records.append(record)
            pack.lines.append(number)
            pack.texts.append(text)
        if layout is None:
            msg = f"{self.path}: the file is empty; it needs the header {','.join(COLUMNS)}"
            raise ImportFileError(msg)
        if pack is not None:
            yield pack

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
        probe_id = fields[layout.index("probe")].strip()
        probe = self.registry.get(probe_id)
        if probe is None:
            detail = f"probe {probe_id[:64]!r} is not in the registry"
            self._problem(number, UNKNOWN_PROBE, detail, text)
            return None
        try:
            time = self._time(fields[layout.index("time")])
        except ValueError as exc:
            self._problem(number, BAD_TIME, str(exc), text)
            return None
        try:
            value = value_field(fields[layout.index("value")])
        except ValueError as exc:
            self._problem(number, BAD_VALUE, str(exc), text)
            return None
        name = fields[layout.index("quantity")].strip()
        if name == SEQUENCE_RECORD:
            detail = "seq is a probe's sample counter, not a quantity"
            self._problem(number, Reason.UNKNOWN_QUANTITY, detail, text)
            return None
        quantity = _json_text(name)
        unit = _json_text(fields[layout.index("unit")])
        return probe, f'"bt":{time},"n":{quantity},"u":{unit},{value}}}'

    def _time(self, text: str) -> str:
        found = self._times.get(text)
        if found is None:
            if len(self._times) >= _TIME_CACHE_SIZE:
                self._times.clear()
            found = self._times[text] = time_literal(text, self.timezone)
        return found

    def _problem(self, number: int, reason: str, detail: str, text: str) -> None:
        self.on_problem(RowProblem(number, reason, detail, text))
