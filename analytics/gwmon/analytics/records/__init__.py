"""gwmon.analytics.records: the system of record beside the raw data (docs/data-management.md).

Manual dips and the drift alert they decide, correction operations (offset, drift,
delete) with who, when and why, the corrected series computed from raw readings and
operations, and approval levels of periods. Raw readings are never changed.

- Readers: `corrected_series(client, probe, quantity, from_ns, to_ns)` (computed on
  read; with QC flags and approval level per point), `RecordsStore` (operations,
  approval steps, dips as stored), `levels_over` / `level_at` (approval levels).
- `gwmon run`: `CorrectedSeriesObserver` keeps `reading_corrected` complete.
- Rules without I/O: `correct` / `correct_one`, `levels_over`.
"""

from gwmon.analytics.records._approvals import approve
from gwmon.analytics.records._corrections import (
    ApprovedPeriodError,
    CorrectionRequest,
    RecordsError,
    add_correction,
    recompute,
    revert_correction,
)
from gwmon.analytics.records._dips import DipImport, check_drift, import_dips
from gwmon.analytics.records._model import (
    Approval,
    ApprovalLevel,
    CorrectedValue,
    Correction,
    CorrectionKind,
    CorrectionState,
    LevelPeriod,
    RawValue,
    correct,
    level_at,
    levels_over,
)
from gwmon.analytics.records._observer import CorrectedSeriesObserver
from gwmon.analytics.records._read import SeriesPoint, corrected_series
from gwmon.analytics.records._settings import (
    CONFIG_SECTION,
    EXAMPLE_TOML,
    RecordsSettings,
    check_config,
    load_settings,
)
from gwmon.analytics.records._store import RecordsStore, StoredDip

__all__ = [
    "CONFIG_SECTION",
    "EXAMPLE_TOML",
    "Approval",
    "ApprovalLevel",
    "ApprovedPeriodError",
    "CorrectedSeriesObserver",
    "CorrectedValue",
    "Correction",
    "CorrectionKind",
    "CorrectionRequest",
    "CorrectionState",
    "DipImport",
    "LevelPeriod",
    "RawValue",
    "RecordsError",
    "RecordsSettings",
    "RecordsStore",
    "SeriesPoint",
    "StoredDip",
    "add_correction",
    "approve",
    "check_config",
    "check_drift",
    "correct",
    "corrected_series",
    "import_dips",
    "level_at",
    "levels_over",
    "load_settings",
    "recompute",
    "revert_correction",
]
