"""The manual-dip file (`gwmon dips import FILE`): what a field crew measured with a dip
meter from the surveyed measuring point ("Abstich"), one row per dip.

    probe_id,time,depth_below_mp_m,by,note
    LE-01,2026-03-01T10:20:00+01:00,8.52,M. Berger,after cleaning

Outside input: bounded before it is worked on (file size, rows, every cell), each bad
row reported with its line and skipped, the good rows kept. A file that cannot be read
as a table at all (not UTF-8, no header, unknown columns) is refused as a whole.
"""

from __future__ import annotations

import csv
from collections.abc import Container
from dataclasses import dataclass

from gwmon.config import GwmonError
from gwmon.ingest._csvtable import CsvRow, parse_number, read_table
from gwmon.ingest._registry import PROBE_ID_PATTERN
from gwmon.ingest._timestamps import TimeFormatError, parse_time_ns

DIP_COLUMNS = ("probe_id", "time", "depth_below_mp_m", "by", "note")
_REQUIRED = ("probe_id", "time", "depth_below_mp_m", "by")
MAX_DIPS_FILE_BYTES = 8 * 1024 * 1024
MAX_DIP_ROWS = 100_000
MAX_BY_CHARS = 64
MAX_NOTE_CHARS = 500
# Depth to water below the measuring point: negative when the water stands above it
# (an artesian well with a standpipe), at most the deepest wells anyone dips.
DEPTH_BELOW_MP_RANGE_M = (-50.0, 1000.0)


class DipsFileError(GwmonError):
    """The file cannot be read as a dips table at all; nothing was imported."""


@dataclass(frozen=True, slots=True)
class DipRow:
    """One manual dip as the file gives it; `line` is its line in the file."""

    probe_id: str
    time_ns: int
    depth_below_mp_m: float
    by: str
    note: str
    line: int


@dataclass(frozen=True, slots=True)
class DipsFile:
    """The good rows in file order, and one problem per bad row ("line N: ...")."""

    rows: tuple[DipRow, ...]
    problems: tuple[str, ...]


def _text(cells: CsvRow, column: str, limit: int, *, required: bool) -> str:
    value = (cells.cells.get(column) or "").strip()
    if required and not value:
        msg = f"column {column} is empty; it is required"
        raise ValueError(msg)
    if len(value) > limit:
        msg = f"column {column} is longer than {limit} characters"
        raise ValueError(msg)
    if not value.isprintable():
        msg = f"column {column} holds control characters"
        raise ValueError(msg)
    return value


def _row(row: CsvRow, known_probes: Container[str] | None) -> DipRow:
    if row.malformed is not None:
        raise ValueError(row.problem)
    if row.overlong:
        msg = "more fields than header columns (a decimal comma in a ','-separated file?)"
        raise ValueError(msg)
    probe_id = _text(row, "probe_id", 64, required=True)
    if not PROBE_ID_PATTERN.fullmatch(probe_id):
        msg = f"probe_id {probe_id!r} must match [A-Za-z0-9_-]{{1,64}}"
        raise ValueError(msg)
    if known_probes is not None and probe_id not in known_probes:
        msg = f"probe_id {probe_id!r} is not in the registry"
        raise ValueError(msg)
    try:
        time_ns = parse_time_ns(_text(row, "time", 64, required=True))
    except TimeFormatError as exc:
        raise ValueError(f"column time: {exc}") from None
    low, high = DEPTH_BELOW_MP_RANGE_M
    depth_text = _text(row, "depth_below_mp_m", 64, required=True)
    depth = parse_number(depth_text, "depth_below_mp_m", low=low, high=high)
    by = _text(row, "by", MAX_BY_CHARS, required=True)
    note = _text(row, "note", MAX_NOTE_CHARS, required=False)
    return DipRow(probe_id, time_ns, depth, by, note, row.line)


def parse_dips(data: bytes, *, known_probes: Container[str] | None = None) -> DipsFile:
    """Parse a dips file (UTF-8, with or without BOM; `,` or `;` with decimal comma).

    Raises DipsFileError when the file as a whole is unusable; otherwise every bad row
    is one problem and the other rows are returned. `known_probes`: the registry's ids
    (another id is a bad row). A second row for the same probe and time is a bad row.
    """
    if len(data) > MAX_DIPS_FILE_BYTES:
        msg = f"file is {len(data)} bytes, more than {MAX_DIPS_FILE_BYTES}: split it"
        raise DipsFileError(msg)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 (byte {exc.start}); export the spreadsheet as 'CSV UTF-8'"
        raise DipsFileError(msg) from None
    if text.count("\n") > MAX_DIP_ROWS + 1_000:
        msg = f"more than {MAX_DIP_ROWS} rows: split the file"
        raise DipsFileError(msg)
    try:
        table = read_table(text)
    except csv.Error as exc:
        raise DipsFileError(f"not a CSV table: {exc}") from None
    if table is None:
        msg = f"file is empty; it needs the header line {','.join(DIP_COLUMNS)}"
        raise DipsFileError(msg)
    missing = [name for name in _REQUIRED if name not in table.header]
    unknown = [name for name in table.header if name not in DIP_COLUMNS]
    if missing or unknown:
        parts = [f"lacks column(s) {', '.join(missing)}"] if missing else []
        parts += [f"has unknown column(s) {', '.join(unknown)}"] if unknown else []
        msg = (
            f"line {table.header_line}: header {' and '.join(parts)}; "
            f"expected {','.join(DIP_COLUMNS)} (docs/data-management.md)"
        )
        raise DipsFileError(msg)
    if len(table.rows) > MAX_DIP_ROWS:
        raise DipsFileError(f"{len(table.rows)} rows, more than {MAX_DIP_ROWS}: split the file")
    rows: list[DipRow] = []
    problems: list[str] = []
    seen: dict[tuple[str, int], int] = {}
    for row in table.rows:
        try:
            dip = _row(row, known_probes)
        except ValueError as exc:
            problems.append(f"line {row.line}: {exc}")
            continue
        first = seen.setdefault((dip.probe_id, dip.time_ns), dip.line)
        if first != dip.line:
            problems.append(f"line {dip.line}: same probe_id and time as line {first}")
            continue
        rows.append(dip)
    return DipsFile(tuple(rows), tuple(problems))
