"""Manual dips: stored as their own series (`dip`), compared with the level logger, and
the drift alert they decide.

A dip is measured from the measuring point; with the well geometry valid at the dip's
time it becomes a level (m NHN) and a depth below ground. The logger value it is
compared with is the raw `level` reading nearest in time within `[records]
dip_match_tolerance_s` (the earlier one of two equally near); `logger_offset_m` is
logger minus dip, raw. The drift alert of a probe follows its latest dip, compared with
the logger's level in the corrected series: beyond the probe's `drift_tolerance_m` the
alert opens (or its value is updated), within it the alert resolves, and so it does
when the logger value at that dip is deleted from the corrected series.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gwmon.analytics._book import StoredAlertBook
from gwmon.analytics._lifecycle import DriftCheck, TrendOutcome
from gwmon.analytics.records._corrections import corrected_at
from gwmon.analytics.records._model import exact
from gwmon.analytics.records._store import RawReading, RecordsStore
from gwmon.ingest import DipRow, Probe, Registry, format_time_ns, parse_dips
from gwmon.storage import DIP, FieldValue, Point

_NS = 1_000_000_000
LOGGER_QUANTITY = "level"  # what a dip is compared with


@dataclass(frozen=True, slots=True)
class DriftAction:
    """What a check did to a probe's drift alert (`action` None: nothing changed)."""

    probe: str
    outcome: TrendOutcome


@dataclass(frozen=True, slots=True)
class DipImport:
    """The result of one import: dips written, rows skipped (one line each), and what
    happened to the drift alerts of the probes in the file."""

    written: int
    skipped: tuple[str, ...]
    drift: tuple[DriftAction, ...]


def dip_point(probe: Probe, row: DipRow, source: str, logger: RawReading | None) -> Point:
    """The `dip` point of a row, with the geometry valid at its time; ValueError when the
    well has no measuring point for that time."""
    geometry = probe.geometry_at(row.time_ns)
    level = geometry.level_from_depth_below_mp(row.depth_below_mp_m)
    assert geometry.measuring_point_m_nhn is not None  # level_from_depth_below_mp checked
    fields: dict[str, FieldValue] = {
        "depth_below_mp_m": row.depth_below_mp_m,
        "measuring_point_m_nhn": geometry.measuring_point_m_nhn,
        "level_m_nhn": level,
        "depth_below_ground_m": geometry.depth_from_level(level),
        "by": row.by,
        # Always written: importing a corrected row again must clear a removed note.
        "note": row.note,
        "source": source,
    }
    if logger is not None:
        fields["logger_level_m_nhn"] = logger.raw.value
        fields["logger_offset_m"] = float(exact(logger.raw.value) - exact(level))
        fields["logger_time_ns"] = logger.raw.time_ns
    tags = {"probe": probe.probe_id, "site": probe.site, "municipality": probe.municipality}
    return DIP.point(tags, fields, row.time_ns)


def import_dips(
    store: RecordsStore,
    book: StoredAlertBook,
    registry: Registry,
    data: bytes,
    *,
    source_name: str,
    tolerance_s: float,
    now_s: float | None = None,
) -> DipImport:
    """Parse, store and check a dips file. Importing the same file again writes the same
    points (a dip is identified by probe and time) and changes no alert. Raises
    DipsFileError when the file as a whole is unusable."""
    parsed = parse_dips(data, known_probes=registry)
    skipped = list(parsed.problems)
    tolerance_ns = round(tolerance_s * _NS)
    points: list[Point] = []
    probes: dict[str, Probe] = {}
    name = Path(source_name).name
    for row in parsed.rows:
        probe = registry.get(row.probe_id)
        assert probe is not None  # parse_dips checked the registry
        logger = store.nearest_reading(row.probe_id, LOGGER_QUANTITY, row.time_ns, tolerance_ns)
        try:
            points.append(dip_point(probe, row, f"{name}:{row.line}", logger))
        except ValueError as exc:
            skipped.append(
                f"line {row.line}: {row.probe_id} at {format_time_ns(row.time_ns)}: {exc}; set "
                "measuring_point_m_nhn in the registry or the geometry file (docs/registry.md)"
            )
            continue
        probes[probe.probe_id] = probe
    store.write(points)
    skipped.sort(key=_line_number)
    now_ns = round((time.time() if now_s is None else now_s) * _NS)
    actions = check_drift(store, book, list(probes.values()), tolerance_ns, now_ns=now_ns)
    return DipImport(len(points), tuple(skipped), tuple(actions))


def _line_number(problem: str) -> int:
    words = problem.split(" ", 2)
    return int(words[1].rstrip(":")) if len(words) > 1 and words[1].rstrip(":").isdigit() else 0


def check_drift(
    store: RecordsStore,
    book: StoredAlertBook,
    probes: Sequence[Probe],
    tolerance_ns: int,
    *,
    now_ns: int,
    correction: str | None = None,
) -> list[DriftAction]:
    """Compare each probe's latest dip with its logger's corrected level and open,
    update or resolve its drift alert. A dip without a logger value changes nothing."""
    actions = []
    for probe in probes:
        dip = store.latest_dip(probe.probe_id)
        if dip is None:
            continue
        logger = store.nearest_reading(probe.probe_id, LOGGER_QUANTITY, dip.time_ns, tolerance_ns)
        if logger is None:
            continue
        value, deleted = corrected_at(store, probe.probe_id, LOGGER_QUANTITY, logger.raw)
        offset = None if deleted else float(exact(value) - exact(dip.level_m_nhn))
        check = DriftCheck(dip.time_ns, offset, probe.drift_tolerance_m, correction)
        actions.append(DriftAction(probe.probe_id, book.record_drift(probe, check, now_ns=now_ns)))
    return actions
