"""The probe registry: the utility's master data, one CSV row per probe.

Loaded once at start-up; every problem is reported with the CSV line and the fix, all at
once, so an operator can correct a spreadsheet export in one go.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from gwmon.config import GwmonError
from gwmon.ingest._csvtable import parse_number, read_table
from gwmon.ingest._geometry import (
    SENSOR_DEPTH_RANGE_M,
    WellGeometry,
    geometry_at,
    read_geometry,
)
from gwmon.ingest._legal import GRWV_NITRATE_THRESHOLD_MG_L, TREND_REVERSAL_START_MG_L

PROBE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

# A probe without its own thresholds warns at the start of trend reversal and alarms
# above the GrwV Schwellenwert.
DEFAULT_NITRATE_WARNING_MG_L = TREND_REVERSAL_START_MG_L
DEFAULT_NITRATE_BREACH_MG_L = GRWV_NITRATE_THRESHOLD_MG_L
DEFAULT_EXPECTED_INTERVAL_S = 3600
# A logger whose level differs from a manual dip by more than this is drifting
# (docs/data-management.md); a few centimetres is what a dip meter resolves.
DEFAULT_DRIFT_TOLERANCE_M = 0.03

REQUIRED_COLUMNS = ("probe_id", "site", "municipality", "lat", "lon", "ground_level_m_nhn")
OPTIONAL_COLUMNS = (
    "measuring_point_m_nhn",
    "waterworks",
    "expected_interval_s",
    "nitrate_warning_mg_l",
    "nitrate_breach_mg_l",
    "level_min_m_nhn",
    "level_max_m_nhn",
    "nitrate_loq_mg_l",
    "qc",
    "sensor_depth_below_mp_m",
    "kind",
    "barometer",
    "drift_tolerance_m",
)
KIND_WELL = "well"
KIND_BAROMETER = "barometer"  # air pressure at the site, for barometric compensation
KINDS = (KIND_WELL, KIND_BAROMETER)


class RegistryError(GwmonError):
    """The registry CSV cannot be used; `problems` lists every line at fault."""

    def __init__(self, path: Path, problems: list[str], *, what: str = "registry") -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "\n  ".join([f"{what} has errors:", *problems]))


@dataclass(frozen=True, slots=True)
class Probe:
    """One monitoring well with its probe, as the registry describes it."""

    probe_id: str
    site: str
    municipality: str
    lat: float
    lon: float
    ground_level_m_nhn: float
    measuring_point_m_nhn: float | None = None
    waterworks: str | None = None
    expected_interval_s: int = DEFAULT_EXPECTED_INTERVAL_S
    nitrate_warning_mg_l: float = DEFAULT_NITRATE_WARNING_MG_L
    nitrate_breach_mg_l: float = DEFAULT_NITRATE_BREACH_MG_L
    level_min_m_nhn: float | None = None
    level_max_m_nhn: float | None = None
    nitrate_loq_mg_l: float | None = None
    qc: Mapping[str, str] = field(default_factory=dict)
    sensor_depth_below_mp_m: float | None = None
    drift_tolerance_m: float = DEFAULT_DRIFT_TOLERANCE_M
    # Surveyed periods from the geometry file, sorted, without overlap; outside them
    # the registry row's heights apply (`geometry_at`).
    geometry_periods: tuple[WellGeometry, ...] = ()
    kind: str = KIND_WELL
    barometer: str | None = None  # probe_id of the barometer covering this probe

    def level_from_depth(self, depth_m_below_ground: float) -> float:
        """Groundwater level in m NHN from a depth below ground level, with the
        registry row's ground level (see `geometry_at` for the one valid at a time)."""
        return self.ground_level_m_nhn - depth_m_below_ground

    @property
    def registry_geometry(self) -> WellGeometry:
        """The registry row's heights: valid wherever no geometry period is."""
        return WellGeometry(
            ground_level_m_nhn=self.ground_level_m_nhn,
            measuring_point_m_nhn=self.measuring_point_m_nhn,
            sensor_depth_below_mp_m=self.sensor_depth_below_mp_m,
            valid_from_ns=None,
            valid_to_ns=None,
            source="registry",
        )

    def geometry_at(self, time_ns: int) -> WellGeometry:
        """The well geometry valid at `time_ns` (a measurement time)."""
        if not self.geometry_periods:
            return self.registry_geometry
        return geometry_at(self.geometry_periods, self.registry_geometry, time_ns)

    def ground_level_at(self, time_ns: int) -> float:
        """Ground level (m NHN) valid at `time_ns`: the ingest's depth-to-level lookup."""
        if not self.geometry_periods:
            return self.ground_level_m_nhn
        return self.geometry_at(time_ns).ground_level_m_nhn


@dataclass(frozen=True)
class Registry:
    """All probes by id."""

    probes: Mapping[str, Probe]
    path: Path | None = None

    def __contains__(self, probe_id: object) -> bool:
        return probe_id in self.probes

    def __iter__(self) -> Iterator[Probe]:
        return iter(self.probes.values())

    def __len__(self) -> int:
        return len(self.probes)

    def get(self, probe_id: str) -> Probe | None:
        return self.probes.get(probe_id)

    def municipalities(self) -> set[str]:
        return {probe.municipality for probe in self.probes.values()}

    def covered_by(self, barometer_id: str) -> list[Probe]:
        """The probes whose `barometer` column names `barometer_id`, sorted by id."""
        return sorted(
            (probe for probe in self.probes.values() if probe.barometer == barometer_id),
            key=lambda probe: probe.probe_id,
        )


def _parse_qc(text: str) -> dict[str, str]:
    """`spike.max_jump=5; flatline.window=6` -> {'spike.max_jump': '5', ...}."""
    result: dict[str, str] = {}
    for raw_item in text.split(";"):
        item = raw_item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or "." not in name.strip() or not value.strip():
            msg = f"qc entry {item!r} is not detector.parameter=value"
            raise ValueError(msg)
        result[name.strip()] = value.strip()
    return result


def _number(
    row: Mapping[str, str | None], column: str, *, required: bool, low: float, high: float
) -> float | None:
    raw = (row.get(column) or "").strip()
    if not raw:
        if required:
            msg = f"column {column} is empty; it is required"
            raise ValueError(msg)
        return None
    return parse_number(raw, column, low=low, high=high)


def _parse_row(row: Mapping[str, str | None]) -> Probe:
    probe_id = (row.get("probe_id") or "").strip()
    if not PROBE_ID_PATTERN.fullmatch(probe_id):
        msg = f"probe_id {probe_id!r} must match [A-Za-z0-9_-]{{1,64}}"
        raise ValueError(msg)
    site = (row.get("site") or "").strip()
    municipality = (row.get("municipality") or "").strip()
    if not site or not municipality:
        msg = "site and municipality must not be empty"
        raise ValueError(msg)
    lat = _number(row, "lat", required=True, low=-90, high=90)
    lon = _number(row, "lon", required=True, low=-180, high=180)
    ground = _number(row, "ground_level_m_nhn", required=True, low=-500, high=9000)
    assert lat is not None and lon is not None and ground is not None  # required=True
    warning = _number(row, "nitrate_warning_mg_l", required=False, low=0, high=10_000)
    breach = _number(row, "nitrate_breach_mg_l", required=False, low=0, high=10_000)
    warning = DEFAULT_NITRATE_WARNING_MG_L if warning is None else warning
    breach = DEFAULT_NITRATE_BREACH_MG_L if breach is None else breach
    if warning >= breach:
        msg = f"nitrate_warning_mg_l ({warning:g}) must be below nitrate_breach_mg_l ({breach:g})"
        raise ValueError(msg)
    level_min = _number(row, "level_min_m_nhn", required=False, low=-500, high=9000)
    level_max = _number(row, "level_max_m_nhn", required=False, low=-500, high=9000)
    if level_min is not None and level_max is not None and level_min >= level_max:
        msg = "level_min_m_nhn must be below level_max_m_nhn"
        raise ValueError(msg)
    interval = _number(row, "expected_interval_s", required=False, low=1, high=31 * 86400)
    measuring_point = _number(row, "measuring_point_m_nhn", required=False, low=-500, high=9000)
    loq = _number(row, "nitrate_loq_mg_l", required=False, low=0, high=100)
    sensor_depth = _number(
        row,
        "sensor_depth_below_mp_m",
        required=False,
        low=SENSOR_DEPTH_RANGE_M[0],
        high=SENSOR_DEPTH_RANGE_M[1],
    )
    drift_tolerance = _number(row, "drift_tolerance_m", required=False, low=0.001, high=10)
    kind = (row.get("kind") or "").strip() or KIND_WELL
    if kind not in KINDS:
        msg = f"kind {kind!r} must be one of {', '.join(KINDS)} (empty: {KIND_WELL})"
        raise ValueError(msg)
    barometer = (row.get("barometer") or "").strip() or None
    return Probe(
        probe_id=probe_id,
        site=site,
        municipality=municipality,
        lat=lat,
        lon=lon,
        ground_level_m_nhn=ground,
        measuring_point_m_nhn=measuring_point,
        waterworks=(row.get("waterworks") or "").strip() or None,
        expected_interval_s=int(interval) if interval is not None else DEFAULT_EXPECTED_INTERVAL_S,
        nitrate_warning_mg_l=warning,
        nitrate_breach_mg_l=breach,
        level_min_m_nhn=level_min,
        level_max_m_nhn=level_max,
        nitrate_loq_mg_l=loq,
        qc=_parse_qc(row.get("qc") or ""),
        sensor_depth_below_mp_m=sensor_depth,
        drift_tolerance_m=(
            DEFAULT_DRIFT_TOLERANCE_M if drift_tolerance is None else drift_tolerance
        ),
        kind=kind,
        barometer=barometer,
    )


def _barometer_problems(probes: Mapping[str, Probe], lines: Mapping[str, int]) -> list[str]:
    """A `barometer` must name a probe of kind barometer, which names none itself."""
    problems = []
    for probe in probes.values():
        if probe.barometer is None:
            continue
        where = f"line {lines[probe.probe_id]}: probe {probe.probe_id}, column barometer"
        target = probes.get(probe.barometer)
        if probe.kind == KIND_BAROMETER:
            problems.append(f"{where}: a barometer is not compensated itself; leave it empty")
        elif target is None:
            problems.append(f"{where}: {probe.barometer!r} is not a probe_id of this registry")
        elif target.kind != KIND_BAROMETER:
            problems.append(
                f"{where}: {probe.barometer} is not a barometer; set its column kind to "
                f"{KIND_BAROMETER}"
            )
    return problems


def load_registry(path: Path, geometry_path: Path | None = None) -> Registry:
    """Read and validate the registry CSV (UTF-8, with or without BOM, `,` or `;`) and,
    when given, the well geometry file beside it (docs/registry.md)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RegistryError(path, ["file not found; set [registry] path"]) from None
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 (byte {exc.start}); export the spreadsheet as 'CSV UTF-8'"
        raise RegistryError(path, [msg]) from None
    try:
        table = read_table(text)
    except csv.Error as exc:
        raise RegistryError(path, [f"header line is not a CSV row ({exc})"]) from None
    if table is None:
        raise RegistryError(path, ["file is empty; it needs a header line and one row per probe"])
    problems = table.header_problems(REQUIRED_COLUMNS, REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    if problems:
        raise RegistryError(path, problems)
    probes: dict[str, Probe] = {}
    line_of: dict[str, int] = {}
    for row in table.rows:
        if row.problem is not None:
            problems.append(f"line {row.line}: {row.problem}")
            continue
        try:
            probe = _parse_row(row.cells)
        except ValueError as exc:
            problems.append(f"line {row.line}: {exc}")
            continue
        if probe.probe_id in probes:
            problems.append(f"line {row.line}: duplicate probe_id {probe.probe_id}")
            continue
        probes[probe.probe_id] = probe
        line_of[probe.probe_id] = row.line
    problems.extend(_barometer_problems(probes, line_of))
    if problems:
        raise RegistryError(path, problems)
    if not probes:
        raise RegistryError(path, ["no probes: add one row per probe below the header"])
    if geometry_path is not None:
        probes = _with_geometry(probes, geometry_path)
    return Registry(probes=probes, path=path)


def _with_geometry(probes: Mapping[str, Probe], geometry_path: Path) -> dict[str, Probe]:
    periods, problems = read_geometry(geometry_path, probes)
    if problems:
        raise RegistryError(geometry_path, problems, what="well geometry file")
    return {
        probe_id: replace(probe, geometry_periods=tuple(sorted(periods[probe_id], key=_valid_from)))
        if probe_id in periods
        else probe
        for probe_id, probe in probes.items()
    }


def _valid_from(geometry: WellGeometry) -> int:
    return geometry.valid_from_ns or 0
