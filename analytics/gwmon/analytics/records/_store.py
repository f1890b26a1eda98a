"""The records in InfluxDB: correction operations, approval steps, manual dips, the raw
readings they refer to and the corrected series, all through the storage contract.

Writes go through one `gwmon.storage.StoreWriter` (the refused-write policy shared with
the ingest); for a CLI a refused or unavailable write is an error (`StoreWriteError`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gwmon.analytics.records._model import (
    Approval,
    ApprovalLevel,
    CorrectedValue,
    Correction,
    CorrectionKind,
    CorrectionState,
    RawValue,
)
from gwmon.storage import (
    APPROVAL,
    CORRECTION,
    DIP,
    QC,
    READING,
    READING_CORRECTED,
    FieldValue,
    InfluxClient,
    Point,
    StoreWriteError,
    StoreWriter,
)
from gwmon.storage import influxql as q

PAGE_ROWS = 10_000  # rows per query: bounded memory on InfluxDB and here
WRITE_LINES = 5_000  # lines per write request
BUMP_NS = 1_000  # points of one series never share a time


@dataclass(frozen=True, slots=True)
class RawReading:
    """A stored raw reading with the tags its corrected point copies."""

    raw: RawValue
    site: str
    municipality: str


@dataclass(frozen=True, slots=True)
class StoredDip:
    """A manual dip as stored (`dip`)."""

    probe: str
    time_ns: int
    depth_below_mp_m: float
    measuring_point_m_nhn: float
    level_m_nhn: float
    depth_below_ground_m: float
    by: str
    note: str
    source: str
    logger_level_m_nhn: float | None
    logger_offset_m: float | None
    logger_time_ns: int | None


def _optional_float(row: Mapping[str, Any], key: str) -> float | None:
    value = row.get(key)
    return None if value is None else float(value)


def _correction_from_row(row: Mapping[str, Any]) -> Correction:
    return Correction(
        correction_id=str(row["correction_id"]),
        probe=str(row["probe"]),
        quantity=str(row["quantity"]),
        kind=CorrectionKind(row["kind"]),
        state=CorrectionState(row["state"]),
        sequence=int(row["sequence"]),
        from_ns=int(row["from_ns"]),
        to_ns=int(row["to_ns"]),
        value=_optional_float(row, "value"),
        by=str(row["by"]),
        why=str(row["why"]),
        created_at_s=float(row["created_at_s"]),
        reverted_by=row.get("reverted_by"),
        reverted_why=row.get("reverted_why"),
        reverted_at_s=_optional_float(row, "reverted_at_s"),
    )


def correction_point(correction: Correction, point_ns: int) -> Point:
    fields: dict[str, FieldValue] = {
        "correction_id": correction.correction_id,
        "state": correction.state.value,
        "sequence": correction.sequence,
        "from_ns": correction.from_ns,
        "to_ns": correction.to_ns,
        "by": correction.by,
        "why": correction.why,
        "created_at_s": correction.created_at_s,
    }
    if correction.value is not None:
        fields["value"] = correction.value
    for name in ("reverted_by", "reverted_why", "reverted_at_s"):
        value = getattr(correction, name)
        if value is not None:
            fields[name] = value
    tags = {"probe": correction.probe, "quantity": correction.quantity}
    return CORRECTION.point({**tags, "kind": correction.kind.value}, fields, point_ns)


def approval_point(step: Approval) -> Point:
    fields: dict[str, FieldValue] = {
        "approval_id": step.approval_id,
        "sequence": step.sequence,
        "from_ns": step.from_ns,
        "to_ns": step.to_ns,
        "by": step.by,
    }
    if step.why:
        fields["why"] = step.why
    tags = {"probe": step.probe, "quantity": step.quantity, "level": step.level.value}
    return APPROVAL.point(tags, fields, step.set_at_ns)


def corrected_point(probe: str, quantity: str, reading: RawReading, value: CorrectedValue) -> Point:
    tags = {
        "probe": probe,
        "site": reading.site,
        "municipality": reading.municipality,
        "quantity": quantity,
    }
    fields: dict[str, FieldValue] = {
        "value": value.value,
        "raw_value": value.raw_value,
        "deleted": value.deleted,
        # Always written, empty when nothing applies: a recompute overwrites the point,
        # and InfluxDB keeps a field the new point lacks (a revert would leave its id).
        "corrections": ",".join(value.applied),
    }
    if value.censored:  # never changes for a raw reading, so never left over
        fields["censored"] = True
    return READING_CORRECTED.point(tags, fields, value.time_ns)


def _dip_from_row(row: Mapping[str, Any]) -> StoredDip:
    logger_time = row.get("logger_time_ns")
    return StoredDip(
        probe=str(row["probe"]),
        time_ns=int(row["time"]),
        depth_below_mp_m=float(row["depth_below_mp_m"]),
        measuring_point_m_nhn=float(row["measuring_point_m_nhn"]),
        level_m_nhn=float(row["level_m_nhn"]),
        depth_below_ground_m=float(row["depth_below_ground_m"]),
        by=str(row["by"]),
        note=str(row.get("note") or ""),
        source=str(row["source"]),
        logger_level_m_nhn=_optional_float(row, "logger_level_m_nhn"),
        logger_offset_m=_optional_float(row, "logger_offset_m"),
        logger_time_ns=None if logger_time is None else int(logger_time),
    )


def _probe_filter(probe: str | None, quantity: str | None) -> tuple[q.Condition, ...]:
    conditions = [] if probe is None else [q.eq("probe", probe)]
    conditions += [] if quantity is None else [q.eq("quantity", quantity)]
    return tuple(conditions)


class RecordsStore:
    """Reads and writes the records of the data management. Not thread-safe (one
    InfluxClient); `writer` names the process in `rejected` if InfluxDB refuses a point."""

    def __init__(self, client: InfluxClient, *, writer: str = "gwmon-records") -> None:
        self.client = client
        self._writer = StoreWriter(client, writer=writer, should_stop=lambda: True)

    # -- writing ------------------------------------------------------------------------------
    def write(self, points: Iterable[Point]) -> int:
        """Write points in parts; StoreWriteError when InfluxDB refuses or is away."""
        lines = [point.to_line() for point in points]
        for start in range(0, len(lines), WRITE_LINES):
            result = self._writer.write(lines[start : start + WRITE_LINES])
            if result.refused:
                reason = next(iter(result.refused.values()))
                msg = (
                    f"InfluxDB refused {len(result.refused)} point(s) "
                    f"(kept in `rejected`): {reason}"
                )
                raise StoreWriteError(msg, retryable=False, status=400)
        return len(lines)

    # -- corrections ----------------------------------------------------------------------------
    def correction_points(
        self, probe: str | None = None, quantity: str | None = None
    ) -> list[tuple[Correction, int]]:
        """Every stored state of the operations (of a probe/quantity) with its point time."""
        statement = q.select(CORRECTION, q.STAR)
        conditions = _probe_filter(probe, quantity)
        if conditions:
            statement = statement.where(*conditions)
        return [
            (_correction_from_row(row), int(row["time"]))
            for row in self.client.query_rows(statement)
        ]

    def corrections(
        self, probe: str | None = None, quantity: str | None = None
    ) -> list[Correction]:
        """The present state of every operation (its latest point), in order of sequence."""
        latest: dict[str, tuple[Correction, int]] = {}
        for correction, point_ns in self.correction_points(probe, quantity):
            known = latest.get(correction.correction_id)
            if known is None or point_ns >= known[1]:
                latest[correction.correction_id] = (correction, point_ns)
        return sorted((c for c, _ in latest.values()), key=lambda c: (c.sequence, c.correction_id))

    def has_corrections(self, probe: str, quantity: str) -> bool:
        statement = q.select(CORRECTION, q.count("sequence")).where(*_probe_filter(probe, quantity))
        rows = self.client.query_rows(statement)
        return bool(rows) and int(rows[0].get("count") or 0) > 0

    def next_sequence(self, measurement: str) -> int:
        """One more than the highest `sequence` of `correction` or `approval`."""
        source = CORRECTION if measurement == CORRECTION.name else APPROVAL
        rows = self.client.query_rows(q.select(source, q.maximum("sequence")))
        highest = rows[0].get("max") if rows else None
        return 1 if highest is None else int(highest) + 1

    def latest_point_ns(self, measurement: str, probe: str, quantity: str) -> int:
        source = CORRECTION if measurement == CORRECTION.name else APPROVAL
        statement = q.select(source, q.last("sequence")).where(*_probe_filter(probe, quantity))
        rows = self.client.query_rows(statement)
        return int(rows[0]["time"]) if rows else 0

    # -- approvals -------------------------------------------------------------------------------
    def approvals(self, probe: str | None = None, quantity: str | None = None) -> list[Approval]:
        """Every approval step (of a probe/quantity), in order of sequence."""
        statement = q.select(APPROVAL, q.STAR)
        conditions = _probe_filter(probe, quantity)
        if conditions:
            statement = statement.where(*conditions)
        steps = [
            Approval(
                approval_id=str(row["approval_id"]),
                probe=str(row["probe"]),
                quantity=str(row["quantity"]),
                level=ApprovalLevel(row["level"]),
                sequence=int(row["sequence"]),
                from_ns=int(row["from_ns"]),
                to_ns=int(row["to_ns"]),
                by=str(row["by"]),
                why=row.get("why"),
                set_at_ns=int(row["time"]),
            )
            for row in self.client.query_rows(statement)
        ]
        return sorted(steps, key=lambda s: (s.sequence, s.approval_id))

    # -- raw readings and the corrected series -----------------------------------------------------
    def raw_readings(
        self, probe: str, quantity: str, from_ns: int | None = None, to_ns: int | None = None
    ) -> Iterator[RawReading]:
        """The raw readings of a series in time order, page by page."""
        conditions = [q.eq("probe", probe), q.eq("quantity", quantity)]
        if to_ns is not None:
            conditions.append(q.time_le(to_ns))
        after = None if from_ns is None else from_ns - 1
        while True:
            page_conditions = conditions if after is None else [*conditions, q.time_gt(after)]
            statement = (
                q.select(READING, "value", "censored", "site", "municipality")
                .where(*page_conditions)
                .limit(PAGE_ROWS)
            )
            rows = self.client.query_rows(statement)
            for row in rows:
                yield RawReading(
                    RawValue(int(row["time"]), float(row["value"]), row.get("censored") is True),
                    site=str(row.get("site") or ""),
                    municipality=str(row.get("municipality") or ""),
                )
            if len(rows) < PAGE_ROWS:
                return
            after = int(rows[-1]["time"])

    def nearest_reading(
        self, probe: str, quantity: str, time_ns: int, tolerance_ns: int
    ) -> RawReading | None:
        """The raw reading nearest to `time_ns` within `tolerance_ns` (the earlier one
        when two are equally near), or None."""
        base = q.select(READING, "value", "censored", "site", "municipality").where(
            q.eq("probe", probe), q.eq("quantity", quantity)
        )
        before = base.where(q.time_le(time_ns), q.time_ge(time_ns - tolerance_ns))
        after = base.where(q.time_gt(time_ns), q.time_le(time_ns + tolerance_ns))
        candidates = [
            *self.client.query_rows(before.newest_first().limit(1)),
            *self.client.query_rows(after.limit(1)),
        ]
        if not candidates:
            return None
        row = min(candidates, key=lambda r: (abs(int(r["time"]) - time_ns), int(r["time"])))
        return RawReading(
            RawValue(int(row["time"]), float(row["value"]), row.get("censored") is True),
            site=str(row.get("site") or ""),
            municipality=str(row.get("municipality") or ""),
        )

    def corrected_rows(
        self, probe: str, quantity: str, from_ns: int, to_ns: int
    ) -> list[dict[str, Any]]:
        """The stored `reading_corrected` points of a series in [from_ns, to_ns]."""
        statement = q.select(READING_CORRECTED, q.STAR).where(
            q.eq("probe", probe), q.eq("quantity", quantity), q.time_ge(from_ns), q.time_le(to_ns)
        )
        return self.client.query_rows(statement)

    def qc_flags(
        self, probe: str, quantity: str, from_ns: int, to_ns: int
    ) -> dict[int, tuple[str, ...]]:
        """The QC flags of a series' raw readings by time (they hold for the corrected
        points at the same time too)."""
        statement = q.select(QC, "value", "flag").where(
            q.eq("probe", probe), q.eq("quantity", quantity), q.time_ge(from_ns), q.time_le(to_ns)
        )
        flags: dict[int, list[str]] = {}
        for row in self.client.query_rows(statement):
            flags.setdefault(int(row["time"]), []).append(str(row["flag"]))
        return {time_ns: tuple(sorted(names)) for time_ns, names in flags.items()}

    # -- dips ----------------------------------------------------------------------------------
    def dips(self, probe: str | None = None) -> list[StoredDip]:
        """The stored dips (of a probe), oldest first."""
        statement = q.select(DIP, q.STAR)
        if probe is not None:
            statement = statement.where(q.eq("probe", probe))
        return sorted(
            (_dip_from_row(row) for row in self.client.query_rows(statement)),
            key=lambda dip: (dip.time_ns, dip.probe),
        )

    def latest_dip(self, probe: str) -> StoredDip | None:
        statement = q.select(DIP, q.STAR).where(q.eq("probe", probe)).newest_first().limit(1)
        rows = self.client.query_rows(statement)
        return _dip_from_row(rows[0]) if rows else None


def unique_after(now_ns: int, latest_ns: int) -> int:
    """A point time at `now_ns`, or just after the series' latest point."""
    return max(now_ns, latest_ns + BUMP_NS)


def points_of(
    probe: str, quantity: str, readings: Sequence[RawReading], values: Sequence[CorrectedValue]
) -> list[Point]:
    return [
        corrected_point(probe, quantity, reading, value)
        for reading, value in zip(readings, values, strict=True)
    ]
