"""Correction operations: add, revert, and the corrected series they produce.

The corrected series of a probe and quantity (`reading_corrected`) is complete once the
series has any operation, active or reverted: one point per raw reading, at its time.
Adding the first operation writes the whole series; every later add or revert
recomputes the operation's period, because no other time changes; `gwmon run` mirrors
every new reading of such a series (`CorrectedSeriesObserver`). A series without any
operation has no corrected points: its corrected series is the raw one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from gwmon.analytics.records._model import (
    ApprovalLevel,
    Correction,
    CorrectionKind,
    CorrectionState,
    RawValue,
    correct,
    correct_one,
    exact,
    in_order,
    levels_over,
)
from gwmon.analytics.records._store import (
    RawReading,
    RecordsStore,
    correction_point,
    points_of,
    unique_after,
)
from gwmon.config import GwmonError
from gwmon.ingest import format_time_ns
from gwmon.storage import CORRECTION

logger = logging.getLogger("gwmon.analytics.records")

_NS = 1_000_000_000
MAX_CORRECTION_M = 1_000.0  # |value| of an offset or drift, in the quantity's unit
DIP_QUANTITIES = ("level", "depth")  # what a manual dip measures


class RecordsError(GwmonError):
    """An operation on the records that gwmon refuses; the message says what to do."""


class ApprovedPeriodError(RecordsError):
    """The change would alter an approved period of the series."""


@dataclass(frozen=True, slots=True)
class CorrectionRequest:
    """What `gwmon corrections add` asks for. `value`: the offset, or the drift's end
    value; None for a delete, or for a drift whose end value comes from the dips."""

    probe: str
    quantity: str
    kind: CorrectionKind
    from_ns: int
    to_ns: int
    value: float | None
    by: str
    why: str


@dataclass(frozen=True, slots=True)
class Recompute:
    """What one recompute wrote: points, period, and how long it took."""

    points: int
    from_ns: int | None
    to_ns: int | None
    seconds: float


def recompute(
    store: RecordsStore,
    probe: str,
    quantity: str,
    from_ns: int | None = None,
    to_ns: int | None = None,
) -> Recompute:
    """Write the corrected series of (probe, quantity) over [from_ns, to_ns] (None:
    unbounded) from the raw readings and the present operations. Deterministic."""
    started = time.perf_counter()
    operations = in_order(c for c in store.corrections(probe, quantity) if c.active)
    written = 0
    page: list[RawReading] = []
    for reading in store.raw_readings(probe, quantity, from_ns, to_ns):
        page.append(reading)
        if len(page) >= 5_000:
            written += _write_page(store, probe, quantity, page, operations)
            page = []
    written += _write_page(store, probe, quantity, page, operations)
    seconds = time.perf_counter() - started
    logger.info(
        "corrected series %s/%s: %d points recomputed in %.2f s", probe, quantity, written, seconds
    )
    return Recompute(written, from_ns, to_ns, seconds)


def _write_page(
    store: RecordsStore,
    probe: str,
    quantity: str,
    page: list[RawReading],
    operations: list[Correction],
) -> int:
    if not page:
        return 0
    values = correct((reading.raw for reading in page), operations)
    return store.write(points_of(probe, quantity, page, values))


# -- approvals guard ------------------------------------------------------------------------------
def refuse_if_approved(
    store: RecordsStore, probe: str, quantity: str, from_ns: int, to_ns: int, *, action: str
) -> None:
    """ApprovedPeriodError when any time in [from_ns, to_ns] of the series is approved."""
    approved = [
        part
        for part in levels_over(store.approvals(probe, quantity), from_ns, to_ns)
        if part.level == ApprovalLevel.APPROVED
    ]
    if not approved:
        return
    part = approved[0]
    start, end = format_time_ns(part.from_ns), format_time_ns(part.to_ns)
    who = "" if part.step is None else f" (approval {part.step.approval_id} by {part.step.by})"
    msg = (
        f"cannot {action}: {probe} {quantity} is approved from {start} to {end}{who}. "
        "Set the period back first, e.g. `gwmon approve --probe "
        f"{probe} --quantity {quantity} --from {start} --to {end} --level checked "
        "--by NAME --why TEXT`, then repeat this command"
    )
    raise ApprovedPeriodError(msg)


# -- drift end value from the dips ---------------------------------------------------------------
def end_value_from_dips(
    store: RecordsStore, probe: str, quantity: str, to_ns: int, tolerance_ns: int
) -> tuple[float, str]:
    """The drift end value that makes the corrected series meet the dip nearest to
    `to_ns` (within `tolerance_ns`): dip minus the logger value nearest to the dip (within
    the same tolerance) as the present operations correct it. With its explanation."""
    if quantity not in DIP_QUANTITIES:
        msg = f"--from-dips needs --quantity level or depth (a dip measures those), not {quantity}"
        raise RecordsError(msg)
    dips = [dip for dip in store.dips(probe) if abs(dip.time_ns - to_ns) <= tolerance_ns]
    if not dips:
        msg = (
            f"--from-dips: no dip of {probe} within {tolerance_ns / _NS:g} s of --to "
            f"{format_time_ns(to_ns)} (see `gwmon dips list --probe {probe}`); give "
            "--end-value instead or import the dip first"
        )
        raise RecordsError(msg)
    dip = min(dips, key=lambda d: (abs(d.time_ns - to_ns), d.time_ns))
    logger_reading = store.nearest_reading(probe, quantity, dip.time_ns, tolerance_ns)
    if logger_reading is None:
        msg = (
            f"--from-dips: the dip of {probe} at {format_time_ns(dip.time_ns)} has no "
            f"{quantity} reading within {tolerance_ns / _NS:g} s"
        )
        raise RecordsError(msg)
    operations = in_order(c for c in store.corrections(probe, quantity) if c.active)
    logger_value = correct_one(logger_reading.raw, operations)
    dip_value = dip.level_m_nhn if quantity == "level" else dip.depth_below_ground_m
    end = float(exact(dip_value) - exact(logger_value.value))
    how = (
        f"dip {format_time_ns(dip.time_ns)} {dip_value:g} minus logger "
        f"{format_time_ns(logger_reading.raw.time_ns)} {logger_value.value:g}"
    )
    return end, how


# -- add and revert -----------------------------------------------------------------------------
def _check_request(request: CorrectionRequest) -> None:
    if request.from_ns > request.to_ns:
        msg = "--from must not be after --to"
        raise RecordsError(msg)
    if request.kind == CorrectionKind.DELETE:
        if request.value is not None:
            msg = "a delete takes no --value or --end-value"
            raise RecordsError(msg)
    elif request.value is None:
        msg = (
            "an offset needs --value"
            if request.kind == CorrectionKind.OFFSET
            else "a drift needs --end-value (or --from-dips)"
        )
        raise RecordsError(msg)
    elif not abs(request.value) <= MAX_CORRECTION_M:
        msg = f"the value must be a number within ±{MAX_CORRECTION_M:g}"
        raise RecordsError(msg)


def add_correction(
    store: RecordsStore, request: CorrectionRequest, *, now_s: float | None = None
) -> tuple[Correction, Recompute]:
    """Store a new active operation and recompute the corrected series it changes.
    RecordsError (ApprovedPeriodError) when it may not be added."""
    _check_request(request)
    refuse_if_approved(
        store,
        request.probe,
        request.quantity,
        request.from_ns,
        request.to_ns,
        action="add a correction",
    )
    first = not store.has_corrections(request.probe, request.quantity)
    sequence = store.next_sequence(CORRECTION.name)
    now = time.time() if now_s is None else float(now_s)
    correction = Correction(
        correction_id=f"{request.probe}.{request.quantity}.c{sequence}",
        probe=request.probe,
        quantity=request.quantity,
        kind=request.kind,
        state=CorrectionState.ACTIVE,
        sequence=sequence,
        from_ns=request.from_ns,
        to_ns=request.to_ns,
        value=request.value,
        by=request.by,
        why=request.why,
        created_at_s=now,
    )
    latest = store.latest_point_ns(CORRECTION.name, request.probe, request.quantity)
    store.write([correction_point(correction, unique_after(round(now * _NS), latest))])
    if first:  # the series gets its complete corrected series now
        done = recompute(store, request.probe, request.quantity)
    else:
        done = recompute(store, request.probe, request.quantity, request.from_ns, request.to_ns)
    return correction, done


def find_correction(store: RecordsStore, correction_id: str) -> Correction | None:
    probe, _, rest = correction_id.partition(".")
    quantity = rest.partition(".")[0]
    if not probe or not quantity:
        return None
    for correction in store.corrections(probe, quantity):
        if correction.correction_id == correction_id:
            return correction
    return None


def revert_correction(
    store: RecordsStore, correction_id: str, *, by: str, why: str, now_s: float | None = None
) -> tuple[Correction, Recompute]:
    """Mark an operation reverted (a new point; the old one stays) and recompute its
    period. RecordsError when it is unknown, already reverted or inside an approved period."""
    correction = find_correction(store, correction_id)
    if correction is None:
        msg = f"no correction {correction_id!r} (see `gwmon corrections list`)"
        raise RecordsError(msg)
    if not correction.active:
        msg = (
            f"correction {correction_id} was already reverted by {correction.reverted_by}; "
            "add a new one to apply it again"
        )
        raise RecordsError(msg)
    refuse_if_approved(
        store,
        correction.probe,
        correction.quantity,
        correction.from_ns,
        correction.to_ns,
        action="revert the correction",
    )
    now = time.time() if now_s is None else float(now_s)
    reverted = correction.reverted(by=by, why=why, at_s=now)
    latest = store.latest_point_ns(CORRECTION.name, correction.probe, correction.quantity)
    store.write([correction_point(reverted, unique_after(round(now * _NS), latest))])
    done = recompute(
        store, correction.probe, correction.quantity, correction.from_ns, correction.to_ns
    )
    return reverted, done


def corrected_at(
    store: RecordsStore, probe: str, quantity: str, raw: RawValue
) -> tuple[float, bool]:
    """The value of one raw reading in the corrected series, and whether it is deleted."""
    operations = in_order(c for c in store.corrections(probe, quantity) if c.active)
    value = correct_one(raw, operations)
    return value.value, value.deleted
