"""CSV for spreadsheets: what `gwmon export --format csv` writes.

One header line, one row per value: the time in ISO 8601 UTC, the value (empty where a
correction deleted it), unit, the raw value, approval level, QC flags (`;`-separated),
whether the value is below the limit of quantification (then it is that limit), whether
a correction changed or deleted it and which.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from gwmon.dashboards._export import ExportSeries, format_number

COLUMNS = (
    "time",
    "probe",
    "quantity",
    "value",
    "unit",
    "raw_value",
    "approval_level",
    "qc_flags",
    "below_loq",
    "deleted",
    "corrections",
)
_NS = 1_000_000_000


def iso_utc(time_ns: int) -> str:
    moment = datetime.fromtimestamp(time_ns // _NS, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def render_csv(export: ExportSeries) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for value in export.values:
        writer.writerow(
            (
                iso_utc(value.time_ns),
                export.probe.probe_id,
                export.quantity,
                "" if value.value is None else format_number(value.value),
                export.unit,
                format_number(value.raw_value),
                value.approval_level,
                ";".join(value.flags),
                str(value.censored).lower(),
                str(value.value is None).lower(),
                value.corrections,
            )
        )
    return out.getvalue()
