"""ZRXP, the exchange format of Kisters WISKI: what `gwmon export --format zrxp` writes.

A `#` header of `KEYvalue` entries separated by `|*|` (ZRXPVERSION 3014.03 (ZRXP 3),
ZRXPCREATOR, SANR = probe id,
SNAME = site, CNAME = quantity, CUNIT = unit, RINVAL = the value that marks an invalid
value, TZ), a `LAYOUT(timestamp,value,status)` line, then one `yyyyMMddHHmmss value
status` row per value. Times are written in UTC+1 (MEZ) all year round, as German
hydrological services keep their series; `TZUTC+1` says so. Status: docs/data-management.md
("Exports"): approval level 0 raw, 1 checked, 2 approved, plus 10 when QC flags make the
value suspect, plus 20 when a correction changed it; a value a correction deleted is
written as RINVAL with status 99.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from gwmon.dashboards._export import ExportSeries, ExportValue, format_number

ZRXP_VERSION = "3014.03"
INVALID_VALUE = "-777"
TIME_ZONE = "UTC+1"
_ZONE = timezone(timedelta(hours=1))
SEPARATOR = "|*|"
LAYOUT = "LAYOUT(timestamp,value,status)"
APPROVAL_STATUS = {"raw": 0, "checked": 1, "approved": 2}
SUSPECT_STATUS = 10
CORRECTED_STATUS = 20
DELETED_STATUS = 99
_NS = 1_000_000_000


def _header_value(text: str) -> str:
    """Header values must not break the `|*|`-separated line."""
    return " ".join(text.replace("|*|", " ").replace("|", "/").split())


def zrxp_status(value: ExportValue) -> int:
    """The status column of one value (module docstring)."""
    if value.value is None:
        return DELETED_STATUS
    status = APPROVAL_STATUS[value.approval_level]
    if value.suspect:
        status += SUSPECT_STATUS
    if value.corrected:
        status += CORRECTED_STATUS
    return status


def zrxp_timestamp(time_ns: int) -> str:
    moment = datetime.fromtimestamp(time_ns // _NS, UTC).astimezone(_ZONE)
    return moment.strftime("%Y%m%d%H%M%S")


def render_zrxp(export: ExportSeries) -> str:
    probe = export.probe
    header = [
        ("ZRXPVERSION", ZRXP_VERSION),
        ("ZRXPCREATOR", "gwmon"),
        ("SANR", probe.probe_id),
        ("SNAME", probe.site),
        ("CNAME", export.quantity),
        ("CUNIT", export.unit),
        ("RINVAL", INVALID_VALUE),
        ("TZ", TIME_ZONE),
    ]
    lines = ["#" + "".join(f"{key}{_header_value(text)}{SEPARATOR}" for key, text in header)]
    lines.append(f"#{LAYOUT}{SEPARATOR}")
    for value in export.values:
        number = INVALID_VALUE if value.value is None else format_number(value.value)
        lines.append(f"{zrxp_timestamp(value.time_ns)} {number} {zrxp_status(value)}")
    return "\n".join(lines) + "\n"
