"""The ingest's points, built through the storage contract (`gwmon.storage`): readings,
sequence marks, rejections, status and the ingest's own counters."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import cast

from gwmon.ingest._pack import PackColumns
from gwmon.ingest._registry import Probe
from gwmon.ingest._senml import Reading, SequenceMark
from gwmon.storage import (
    INGEST_STATS,
    INVALID_PROBE_TAG,
    PROBE_STATUS,
    READING,
    REJECTED,
    SEQUENCE,
    FieldValue,
    LineFormat,
    Point,
    float_block_at_times,
    float_lines_at_times,
)

UNKNOWN_PROBE_TAG = "_unknown"  # rejected.probe for an id not in the registry (id: field)

MAX_UNKNOWN_PROBE_CHARS = 64  # as PROBE_ID_PATTERN: longer ids never reach rejected_point

_NS = 1_000_000_000
# From this many readings on, checking them column by column and making one block of
# text is cheaper than a line at a time.
BULK_LINES = 8


def _probe_tags(probe: Probe) -> dict[str, str]:
    return {"probe": probe.probe_id, "site": probe.site, "municipality": probe.municipality}


class SeriesLines:
    """The lines of one probe's readings and sequence marks, through line formats of the
    contract (`Measurement.line_format`) made once per series: the same lines as
    `reading_point(...).to_line()` and `sequence_point(...).to_line()`."""

    __slots__ = ("_censored", "_plain", "_probe", "_sequence")

    def __init__(self, probe: Probe) -> None:
        # Made when first needed: a fleet of 10,000 probes keeps only what it sends.
        self._probe = probe
        self._plain: dict[str, LineFormat] = {}
        self._censored: dict[str, LineFormat] | None = None
        self._sequence: LineFormat | None = None

    def _format(self, quantity: str, censored: bool) -> LineFormat:
        if censored and self._censored is None:
            self._censored = {}
        formats = self._censored if censored and self._censored is not None else self._plain
        found = formats.get(quantity)
        if found is None:
            fields = ("value", "lag_s", "censored") if censored else ("value", "lag_s")
            tags = {**_probe_tags(self._probe), "quantity": quantity}
            found = formats[quantity] = READING.line_format(tags, fields)
        return found

    def reading_lines(self, columns: PackColumns) -> list[str]:
        """One line per reading of `columns`, in order."""
        arrival_ns = columns.arrival_ns
        if True in columns.censored:
            return [
                self._format(quantity, censored).line(
                    (value, (arrival_ns - time_ns) / _NS, True)
                    if censored
                    else (value, (arrival_ns - time_ns) / _NS),
                    time_ns,
                )
                for quantity, time_ns, value, censored in zip(
                    columns.quantities,
                    columns.times_ns,
                    columns.values,
                    columns.censored,
                    strict=True,
                )
            ]
        plain = self._plain
        formats = [plain.get(q) or self._format(q, False) for q in columns.quantities]
        if len(formats) < BULK_LINES:
            return [
                line_format.line((value, (arrival_ns - time_ns) / _NS), time_ns)
                for line_format, value, time_ns in zip(
                    formats, columns.values, columns.times_ns, strict=True
                )
            ]
        return float_lines_at_times(formats, columns.values, _lags(columns), columns.times_ns)

    def reading_block(self, columns: PackColumns) -> bytes:
        """`reading_lines(columns)` as one block of UTF-8 text, each line ending in a
        newline (`LineBuffer.add_block`)."""
        if len(columns) < BULK_LINES or True in columns.censored:
            return "".join([f"{line}\n" for line in self.reading_lines(columns)]).encode()
        formats = list(map(self._plain.get, columns.quantities))
        if None in formats:
            formats = [self._format(quantity, False) for quantity in columns.quantities]
        known = cast("list[LineFormat]", formats)  # no None left (checked above)
        return float_block_at_times(known, columns.values, _lags(columns), columns.times_ns)

    def sequence_line(self, mark: SequenceMark) -> str:
        if self._sequence is None:
            self._sequence = SEQUENCE.line_format(_probe_tags(self._probe), ("seq", "lag_s"))
        lag_s = (mark.arrival_ns - mark.time_ns) / _NS
        return self._sequence.line((mark.seq, lag_s), mark.time_ns)


def _lags(columns: PackColumns) -> dict[int, tuple[float]]:
    """lag_s per measurement time: it depends on the time only, so once per distinct
    time, not per reading."""
    arrival_ns = columns.arrival_ns
    return {time_ns: ((arrival_ns - time_ns) / _NS,) for time_ns in dict.fromkeys(columns.times_ns)}


def reading_point(probe: Probe, reading: Reading) -> Point:
    values: dict[str, FieldValue] = {
        "value": reading.value,
        "lag_s": (reading.arrival_ns - reading.time_ns) / _NS,
    }
    if reading.censored:
        values["censored"] = True  # `value` is the LOQ: "< value", not a measurement
    return READING.point(
        {**_probe_tags(probe), "quantity": reading.quantity}, values, reading.time_ns
    )


def sequence_point(probe: Probe, mark: SequenceMark) -> Point:
    return SEQUENCE.point(
        _probe_tags(probe),
        {"seq": mark.seq, "lag_s": (mark.arrival_ns - mark.time_ns) / _NS},
        mark.time_ns,
    )


def rejected_point(
    *,
    reason: str,
    probe: str | None,
    ingestor: str,
    topic: str,
    payload: bytes,
    detail: str,
    record_index: int,
    time_ns: int,
    max_chars: int,
    unknown_probe: str | None = None,
) -> Point:
    """`probe` is a registry id (a tag); `unknown_probe` an id from outside the registry,
    kept as a field under the one tag value `_unknown`: every distinct tag value is a new
    series in InfluxDB, and anyone who may publish can invent ids."""
    text = payload.decode("utf-8", errors="replace")
    if len(text) > max_chars:
        text = text[:max_chars] + f"…[{len(text) - max_chars} more characters]"
    values: dict[str, FieldValue] = {
        "topic": topic[:512],
        "payload": text,
        "detail": detail[:1000],
        "record_index": record_index,
        "payload_bytes": len(payload),
    }
    if probe:
        tag = probe
    elif unknown_probe:
        tag = UNKNOWN_PROBE_TAG
        values["probe_id"] = unknown_probe[:MAX_UNKNOWN_PROBE_CHARS]
    else:
        tag = INVALID_PROBE_TAG
    return REJECTED.point({"reason": reason, "probe": tag, "ingestor": ingestor}, values, time_ns)


def status_point(
    probe: Probe, *, online: bool, firmware: str | None, battery: float | None, time_ns: int
) -> Point:
    values: dict[str, FieldValue] = {"online": online}
    if firmware is not None:
        values["firmware"] = firmware
    if battery is not None:
        values["battery"] = battery
    return PROBE_STATUS.point(_probe_tags(probe), values, time_ns)


@dataclass
class IngestCounters:
    """Cumulative counters of one ingest process (stored as `ingest_stats`). `readings`
    counts values InfluxDB stored; `store_refused` points it refused (each recorded in
    `rejected`)."""

    received: int = 0
    readings: int = 0
    rejected_messages: int = 0
    rejected_records: int = 0
    batches: int = 0
    write_errors: int = 0
    observer_errors: int = 0
    store_refused: int = 0

    def as_fields(self) -> dict[str, FieldValue]:
        return {item.name: int(getattr(self, item.name)) for item in fields(self)}


def stats_point(ingestor: str, counters: IngestCounters, time_ns: int) -> Point:
    return INGEST_STATS.point({"ingestor": ingestor}, counters.as_fields(), time_ns)
