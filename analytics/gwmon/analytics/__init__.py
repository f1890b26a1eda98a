"""gwmon.analytics: quality control, threshold alarms with hysteresis on measurement time,
the alert lifecycle (the alert book), and the GrwV Anlage 6 trend test (Mann-Kendall,
Sen's slope).

In `gwmon run`: `build_observer(...)` (a `gwmon.ingest.BatchObserver`), or with
[analytics.scale_out] `build_partitioned_observer(...)` around it; its `book` is
the `AlertBookView` other stages read and acknowledge through, and it announces every
alert change to its `AlertListener`s. Elsewhere: `StoredAlertBook` (alerts as InfluxDB
holds them), `run_trend`, `mann_kendall`. A new QC check: a `QcDetector` in a
`DetectorRegistry` (docs/quality-control.md).
"""

import importlib
from typing import TYPE_CHECKING

from gwmon.analytics._book import AlertBookView, StoredAlertBook
from gwmon.analytics._codec import alert_from_json, alert_point, alert_to_json
from gwmon.analytics._detectors import (
    DetectorConfigError,
    DetectorRegistry,
    Param,
    QcDetector,
    default_detectors,
)
from gwmon.analytics._engine import Episode, ProbeEvaluator
from gwmon.analytics._model import (
    MAINTENANCE_KINDS,
    Alert,
    AlertEvent,
    AlertEventType,
    AlertKind,
    AlertListener,
    AlertState,
    Severity,
)
from gwmon.analytics._observer import AnalyticsObserver, build_observer
from gwmon.analytics._scale_out import (
    PartitionedObserver,
    build_partitioned_observer,
    partition_of,
)
from gwmon.analytics._settings import (
    CONFIG_SECTION,
    EXAMPLE_TOML,
    AnalyticsSettings,
    ProbePlan,
    ScaleOutSettings,
    TrendSettings,
    build_plan,
    check_config,
    load_settings,
)
from gwmon.analytics._state import StateLockedError
from gwmon.analytics._stats import AnalyticsStats

if TYPE_CHECKING:
    from gwmon.analytics._mann_kendall import (
        SECONDS_PER_YEAR,
        MannKendallResult,
        mann_kendall,
        sens_slope,
    )
    from gwmon.analytics._trend import run_trend

# The trend test needs numpy (about 12 MiB resident); `gwmon run` never runs it, so its
# names are imported on first use (PEP 562) rather than with the package.
_LAZY_MODULES = {
    "SECONDS_PER_YEAR": "gwmon.analytics._mann_kendall",
    "MannKendallResult": "gwmon.analytics._mann_kendall",
    "mann_kendall": "gwmon.analytics._mann_kendall",
    "sens_slope": "gwmon.analytics._mann_kendall",
    "run_trend": "gwmon.analytics._trend",
}


def __getattr__(name: str) -> object:
    module = _LAZY_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "CONFIG_SECTION",
    "EXAMPLE_TOML",
    "MAINTENANCE_KINDS",
    "SECONDS_PER_YEAR",
    "Alert",
    "AlertBookView",
    "AlertEvent",
    "AlertEventType",
    "AlertKind",
    "AlertListener",
    "AlertState",
    "AnalyticsObserver",
    "AnalyticsSettings",
    "AnalyticsStats",
    "DetectorConfigError",
    "DetectorRegistry",
    "Episode",
    "MannKendallResult",
    "Param",
    "PartitionedObserver",
    "ProbeEvaluator",
    "ProbePlan",
    "QcDetector",
    "ScaleOutSettings",
    "Severity",
    "StateLockedError",
    "StoredAlertBook",
    "TrendSettings",
    "alert_from_json",
    "alert_point",
    "alert_to_json",
    "build_observer",
    "build_partitioned_observer",
    "build_plan",
    "check_config",
    "default_detectors",
    "load_settings",
    "mann_kendall",
    "partition_of",
    "run_trend",
    "sens_slope",
]
