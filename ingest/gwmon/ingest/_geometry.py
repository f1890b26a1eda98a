"""Well geometry with history: the surveyed heights of a well, each valid for a period.

A well's measuring point (top of casing, m NHN), its ground level (m NHN) and the
installation depth of the sensor (m below the measuring point) change when the well is
re-surveyed, the casing is cut or the logger is hung at another depth. The geometry
file (`[registry] geometry_path`, docs/registry.md) lists these values per probe with
the period they are valid for; outside every listed period the registry row's values
apply. Every conversion between a depth and a level uses the geometry valid at the
measurement time, so readings stored before a re-survey keep their values.

Arithmetic is decimal (`143.4 - 8.13` is 135.27, not 135.26999999999998): stored
levels are what a person computes by hand from the surveyed heights.
"""

from __future__ import annotations

import bisect
import csv
import itertools
from collections.abc import Container, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from gwmon.ingest._csvtable import CsvRow, parse_number, read_table
from gwmon.ingest._timestamps import TimeFormatError, format_time_ns, parse_time_ns

HEIGHT_RANGE_M_NHN = (-500.0, 9000.0)
SENSOR_DEPTH_RANGE_M = (0.0, 2000.0)
MAX_GEOMETRY_FILE_BYTES = 4 * 1024 * 1024
MAX_GEOMETRY_ROWS = 100_000

GEOMETRY_COLUMNS = (
    "probe_id",
    "valid_from",
    "valid_to",
    "measuring_point_m_nhn",
    "ground_level_m_nhn",
    "sensor_depth_below_mp_m",
)
_REQUIRED = ("probe_id", "valid_from", "measuring_point_m_nhn", "ground_level_m_nhn")


def _exact(value: float) -> Decimal:
    return Decimal(repr(value))


@dataclass(frozen=True, slots=True)
class WellGeometry:
    """The surveyed heights of a well valid in [valid_from_ns, valid_to_ns) (None: open
    end). `measuring_point_m_nhn` and `sensor_depth_below_mp_m` may be unknown (None)
    only for the registry's own row; `source` says where the values come from."""

    ground_level_m_nhn: float
    measuring_point_m_nhn: float | None
    sensor_depth_below_mp_m: float | None
    valid_from_ns: int | None
    valid_to_ns: int | None
    source: str

    def covers(self, time_ns: int) -> bool:
        after_start = self.valid_from_ns is None or time_ns >= self.valid_from_ns
        return after_start and (self.valid_to_ns is None or time_ns < self.valid_to_ns)

    def level_from_depth(self, depth_below_ground_m: float) -> float:
        """Level (m NHN) from a depth below ground level."""
        return float(_exact(self.ground_level_m_nhn) - _exact(depth_below_ground_m))

    def depth_from_level(self, level_m_nhn: float) -> float:
        """Depth below ground level from a level (m NHN)."""
        return float(_exact(self.ground_level_m_nhn) - _exact(level_m_nhn))

    def level_from_depth_below_mp(self, depth_below_mp_m: float) -> float:
        """Level (m NHN) from a depth below the measuring point (a manual dip)."""
        if self.measuring_point_m_nhn is None:
            msg = f"no measuring point (measuring_point_m_nhn) is known ({self.source})"
            raise ValueError(msg)
        return float(_exact(self.measuring_point_m_nhn) - _exact(depth_below_mp_m))

    def describe_period(self) -> str:
        start = "" if self.valid_from_ns is None else format_time_ns(self.valid_from_ns)
        end = "" if self.valid_to_ns is None else format_time_ns(self.valid_to_ns)
        return f"{start or '…'} – {end or '…'}"


def geometry_at(
    periods: Sequence[WellGeometry], fallback: WellGeometry, time_ns: int
) -> WellGeometry:
    """The period of `periods` (sorted by valid_from, without overlap) valid at
    `time_ns`, else `fallback` (the registry row). A bisection: cheap enough for the
    ingest's depth-to-level derivation of every reading."""
    index = bisect.bisect_right(periods, time_ns, key=_start) - 1
    if index >= 0 and periods[index].covers(time_ns):
        return periods[index]
    return fallback


def _start(geometry: WellGeometry) -> int:
    return geometry.valid_from_ns or 0


# -- the geometry file ---------------------------------------------------------------------------
def _period(row: CsvRow) -> tuple[str, WellGeometry]:
    cells = row.cells
    probe_id = (cells.get("probe_id") or "").strip()
    for column in _REQUIRED:
        if not (cells.get(column) or "").strip():
            msg = f"column {column} is empty; it is required"
            raise ValueError(msg)
    try:
        valid_from = parse_time_ns(cells["valid_from"])
        valid_to_text = (cells.get("valid_to") or "").strip()
        valid_to = parse_time_ns(valid_to_text) if valid_to_text else None
    except TimeFormatError as exc:
        raise ValueError(f"valid_from/valid_to: {exc}") from None
    if valid_to is not None and valid_to <= valid_from:
        msg = "valid_to must be after valid_from (valid_to is the first moment not covered)"
        raise ValueError(msg)
    low, high = HEIGHT_RANGE_M_NHN
    measuring_point = parse_number(
        cells["measuring_point_m_nhn"], "measuring_point_m_nhn", low=low, high=high
    )
    ground = parse_number(cells["ground_level_m_nhn"], "ground_level_m_nhn", low=low, high=high)
    sensor_text = (cells.get("sensor_depth_below_mp_m") or "").strip()
    sensor = (
        parse_number(
            sensor_text,
            "sensor_depth_below_mp_m",
            low=SENSOR_DEPTH_RANGE_M[0],
            high=SENSOR_DEPTH_RANGE_M[1],
        )
        if sensor_text
        else None
    )
    source = f"geometry line {row.line}"
    return probe_id, WellGeometry(ground, measuring_point, sensor, valid_from, valid_to, source)


def _overlaps(periods: Sequence[WellGeometry]) -> list[str]:
    problems = []
    ordered = sorted(periods, key=_start)
    for earlier, later in itertools.pairwise(ordered):
        if earlier.valid_to_ns is None or earlier.valid_to_ns > (later.valid_from_ns or 0):
            problems.append(
                f"{later.source}: period {later.describe_period()} overlaps "
                f"{earlier.source} ({earlier.describe_period()}); end the earlier one with "
                "valid_to = the new valid_from"
            )
    return problems


def read_geometry(
    path: Path, probes: Container[str]
) -> tuple[dict[str, list[WellGeometry]], list[str]]:
    """The periods of the geometry file by probe, and every problem found (all at once,
    each with its line). `probes`: the registry's ids; another id is a problem."""
    try:
        size = path.stat().st_size
        if size > MAX_GEOMETRY_FILE_BYTES:
            return {}, [f"file is {size} bytes, more than {MAX_GEOMETRY_FILE_BYTES}"]
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return {}, ["file not found; set [registry] geometry_path or remove it"]
    except UnicodeDecodeError as exc:
        return {}, [f"not UTF-8 (byte {exc.start}); export the spreadsheet as 'CSV UTF-8'"]
    try:
        table = read_table(text)
    except csv.Error as exc:
        return {}, [f"header line is not a CSV row ({exc})"]
    if table is None:
        return {}, ["file is empty; it needs a header line (docs/registry.md, well geometry)"]
    problems = table.header_problems(_REQUIRED, GEOMETRY_COLUMNS)
    if len(table.rows) > MAX_GEOMETRY_ROWS:
        problems.append(f"{len(table.rows)} rows, more than {MAX_GEOMETRY_ROWS}")
    if problems:
        return {}, problems
    periods: dict[str, list[WellGeometry]] = {}
    for row in table.rows:
        if row.problem is not None:
            problems.append(f"line {row.line}: {row.problem}")
            continue
        try:
            probe_id, period = _period(row)
        except ValueError as exc:
            problems.append(f"line {row.line}: {exc}")
            continue
        if probe_id not in probes:
            problems.append(f"line {row.line}: probe_id {probe_id!r} is not in the registry")
            continue
        periods.setdefault(probe_id, []).append(period)
    for probe_periods in periods.values():
        problems.extend(_overlaps(probe_periods))
    return periods, problems
