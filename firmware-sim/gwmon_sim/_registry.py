"""The probe registry as the simulated firmware sees it (read with the csv module).

The simulator is "someone else's firmware": it reads the utility's registry CSV itself
(columns as in examples/registry-wertvoll.csv) and never imports gwmon.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

from gwmon_sim._errors import RegistryReadError

PROBE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_REQUIRED = ("probe_id", "ground_level_m_nhn")


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """What the simulator needs to know about one probe's site."""

    probe_id: str
    site: str
    municipality: str
    ground_level_m_nhn: float
    waterworks: str
    expected_interval_s: int | None
    level_min_m_nhn: float | None
    level_max_m_nhn: float | None


def _optional_float(row: dict[str, str], key: str, where: str) -> float | None:
    text = (row.get(key) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        msg = f"{where}: column {key!r} is {text!r}, not a number; fix the value or leave it empty"
        raise RegistryReadError(msg) from None
    if not math.isfinite(value):
        msg = f"{where}: column {key!r} must be finite, got {text!r}"
        raise RegistryReadError(msg)
    return value


def read_sites(path: Path) -> dict[str, SiteInfo]:
    """Read the registry CSV at `path` into probe_id -> SiteInfo (file order kept)."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        msg = f"cannot read registry {path}: {exc.strerror}; pass --registry PATH"
        raise RegistryReadError(msg) from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            msg = f"{path}: missing column(s) {missing}; the header needs at least {_REQUIRED}"
            raise RegistryReadError(msg)
        sites: dict[str, SiteInfo] = {}
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            probe_id = (row.get("probe_id") or "").strip()
            if not PROBE_ID_RE.fullmatch(probe_id):
                msg = f"{where}: probe_id {probe_id!r} must match [A-Za-z0-9_-]{{1,64}}"
                raise RegistryReadError(msg)
            if probe_id in sites:
                msg = f"{where}: probe_id {probe_id!r} appears twice; keep one row per probe"
                raise RegistryReadError(msg)
            ground = _optional_float(row, "ground_level_m_nhn", where)
            if ground is None:
                msg = f"{where}: ground_level_m_nhn is empty; the simulator needs it for depth"
                raise RegistryReadError(msg)
            interval = _optional_float(row, "expected_interval_s", where)
            sites[probe_id] = SiteInfo(
                probe_id=probe_id,
                site=(row.get("site") or "").strip(),
                municipality=(row.get("municipality") or "").strip(),
                ground_level_m_nhn=ground,
                waterworks=(row.get("waterworks") or "").strip(),
                expected_interval_s=int(interval) if interval and interval > 0 else None,
                level_min_m_nhn=_optional_float(row, "level_min_m_nhn", where),
                level_max_m_nhn=_optional_float(row, "level_max_m_nhn", where),
            )
    if not sites:
        msg = f"{path}: the registry has no probes"
        raise RegistryReadError(msg)
    return sites
