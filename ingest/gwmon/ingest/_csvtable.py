"""The CSV dialect of gwmon's master-data files (registry, well geometry, manual dips),
as spreadsheets export them: UTF-8 with or without BOM, `,` or `;` (detected from the
header line), a decimal comma allowed in a `;`-separated file, `#` comment lines and
blank lines ignored, the file's own line numbers kept for every message. One row per
line: each line is parsed on its own, so a stray quote spoils only its own row."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row: its line number in the file, its cells by column, whether it had
    more cells than the header has columns, and why it is no CSV row at all (None: it is)."""

    line: int
    cells: Mapping[str, str]
    overlong: bool
    malformed: str | None = None

    @property
    def problem(self) -> str | None:
        """What makes the row unusable before its cells are looked at, if anything."""
        if self.malformed is not None:
            return f"not a CSV row ({self.malformed})"
        if self.overlong:
            return "more fields than header columns"
        return None


@dataclass(frozen=True, slots=True)
class CsvTable:
    header: Sequence[str]
    header_line: int
    rows: Sequence[CsvRow]
    delimiter: str

    def header_problems(self, required: Sequence[str], known: Sequence[str]) -> list[str]:
        """What is wrong with the header line: required columns missing, columns not in
        `known` (named in docs/registry.md, where both tables are described)."""
        missing = [name for name in required if name not in self.header]
        unknown = [name for name in self.header if name not in known]
        problems = []
        if missing:
            problems.append(f"line {self.header_line}: header lacks column(s) {', '.join(missing)}")
        if unknown:
            problems.append(
                f"line {self.header_line}: unknown column(s) {', '.join(unknown)}; "
                "see docs/registry.md for the columns"
            )
        return problems


def read_table(text: str) -> CsvTable | None:
    """The table in `text` (already decoded; a leading BOM is dropped), None when it has
    no header line."""
    text = text.removeprefix("\ufeff")
    numbered = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.startswith("#")
    ]
    if not numbered:
        return None
    first = numbered[0][1]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    header = [name.strip() for name in _cells(first, delimiter)]
    rows = []
    for number, line in numbered[1:]:
        try:
            cells = _cells(line, delimiter)
        except csv.Error as exc:
            rows.append(CsvRow(number, {}, overlong=False, malformed=str(exc)))
            continue
        values = {name: cell for name, cell in zip(header, cells, strict=False)}
        rows.append(CsvRow(number, values, overlong=len(cells) > len(header)))
    return CsvTable(header, numbered[0][0], rows, delimiter)


def _cells(line: str, delimiter: str) -> list[str]:
    """The cells of one line; csv.Error when it is no CSV row (a stray quote)."""
    return next(csv.reader([line], delimiter=delimiter, strict=True), [])


def parse_number(raw: str, column: str, *, low: float, high: float) -> float:
    """A decimal number of a cell: `112.5`, or `112,5` (one comma, no point: the decimal
    comma of a German spreadsheet); ValueError saying what is wrong otherwise."""
    text = raw.strip()
    if len(text) > 40:
        msg = f"column {column}: {text[:40]!r}… is not a number (too long)"
        raise ValueError(msg)
    try:
        value = (
            float(text.replace(",", "."))
            if text.count(",") == 1 and "." not in text
            else float(text)
        )
    except ValueError:
        msg = f"column {column}: {text!r} is not a number (use a decimal point, e.g. 112.5)"
        raise ValueError(msg) from None
    if not math.isfinite(value) or not low <= value <= high:
        msg = f"column {column}: {text} is outside {low:g}..{high:g}"
        raise ValueError(msg)
    return value
