"""`gwmon export`: one probe's quantity over a period, raw or corrected, for the
authority (docs/data-management.md, "Exports").

The values come from the one reader of the storage contract (`gwmon.storage.series`),
so an export shows exactly what the report and the trend test use: the corrected series
where it has a point, the raw value elsewhere, each value with its approval level and
QC flags. The formats (`_export_zrxp`, `_export_waterml`, `_export_csv`) only render.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from gwmon.config import GwmonError
from gwmon.ingest import CANONICAL_QUANTITIES, Probe, Registry
from gwmon.storage import InfluxClient
from gwmon.storage import series as stored

SeriesKind = Literal["raw", "corrected"]
FORMATS = ("zrxp", "waterml2", "csv")
SERIES_KINDS: tuple[SeriesKind, ...] = ("raw", "corrected")

# Canonical unit of each stored quantity (docs/storage.md), as UCUM codes: what both
# WaterML 2.0 (uom code) and WISKI's unit field (CUNIT) expect.
UNITS = {
    "nitrate": "mg/L",
    "level": "m",
    "depth": "m",
    "temperature": "Cel",
    "conductivity": "uS/cm",
    "battery": "%",
    "pressure_abs": "hPa",
    "air_pressure": "hPa",
    "water_column": "m",
}


class ExportError(GwmonError, ValueError):
    """The export cannot be made (unknown probe or quantity, empty period): says why."""


@dataclass(frozen=True, slots=True)
class ExportValue:
    """One value as exported: `value` None where a correction deleted it."""

    time_ns: int
    value: float | None
    raw_value: float
    approval_level: str
    flags: tuple[str, ...]
    censored: bool
    corrections: str

    @property
    def suspect(self) -> bool:
        return stored.suspect(self.flags)

    @property
    def corrected(self) -> bool:
        return self.value is None or self.value != self.raw_value or bool(self.corrections)


@dataclass(frozen=True)
class ExportSeries:
    """What every format renders: the probe, the quantity, its unit and the values of
    [from_ns, to_ns] (both inclusive) in time order."""

    probe: Probe
    quantity: str
    unit: str
    series: SeriesKind
    from_ns: int
    to_ns: int
    values: tuple[ExportValue, ...]
    generated_ns: int  # when the export was made (WaterML's generationDate)


def collect_export(
    client: InfluxClient,
    registry: Registry,
    probe_id: str,
    quantity: str,
    *,
    from_ns: int,
    to_ns: int,
    series: SeriesKind = "corrected",
    clock: Callable[[], float] = time.time,
) -> ExportSeries:
    """Read what `gwmon export` writes (storage contract only)."""
    probe = registry.get(probe_id)
    if probe is None:
        msg = f"probe {probe_id!r} is not in the registry"
        raise ExportError(msg)
    if quantity not in UNITS:
        msg = f"quantity {quantity!r} is not one of {', '.join(CANONICAL_QUANTITIES)}"
        raise ExportError(msg)
    if to_ns < from_ns:
        msg = "--to is before --from"
        raise ExportError(msg)
    end_ns = to_ns + 1  # the reader's end is exclusive
    values = stored.read_series(
        client,
        probe_id,
        quantity,
        start_ns=from_ns,
        end_ns=end_ns,
        corrected=series == "corrected",
    )
    approvals = stored.read_approvals(client, probe_id, quantity)
    flags = stored.read_flags(client, probe_id, quantity, start_ns=from_ns, end_ns=end_ns)
    return ExportSeries(
        probe=probe,
        quantity=quantity,
        unit=UNITS[quantity],
        series=series,
        from_ns=from_ns,
        to_ns=to_ns,
        values=tuple(
            ExportValue(
                time_ns=value.time_ns,
                value=value.value,
                raw_value=value.raw_value,
                approval_level=approvals.level_at(value.time_ns),
                flags=flags.get(value.time_ns, ()),
                censored=value.censored,
                corrections=value.corrections,
            )
            for value in values
        ),
        generated_ns=int(clock() * 1_000_000_000),
    )


def format_number(value: float) -> str:
    """A value as text with exactly the digits it has (the shortest text that reads back
    as the same float), never in exponent notation, which ZRXP and spreadsheets may not
    read: 1e-05 -> 0.00001, 128.0 -> 128."""
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
