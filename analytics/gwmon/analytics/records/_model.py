"""Correction operations and approval steps, and the pure rules that apply them.

No I/O here. The corrected value of a raw reading is a function of the raw value and
the active operations covering its time, applied in `sequence` order; the approval
level of a time is the level of the latest step covering it. Arithmetic is decimal,
so that hand-computed corrections (12.30 + 0.05 = 12.35) are stored exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum


class CorrectionKind(StrEnum):
    OFFSET = "offset"  # a constant added over [from, to]
    DRIFT = "drift"  # 0 at `from`, rising linearly to `value` at `to`
    DELETE = "delete"  # the period is removed from the corrected series


class CorrectionState(StrEnum):
    ACTIVE = "active"
    REVERTED = "reverted"


class ApprovalLevel(StrEnum):
    RAW = "raw"
    CHECKED = "checked"
    APPROVED = "approved"


def exact(value: float) -> Decimal:
    """The decimal a person reads in `value` (its shortest repr), not its binary value."""
    return Decimal(repr(value))


@dataclass(frozen=True, slots=True)
class Correction:
    """One correction operation in its present state (its latest `correction` point)."""

    correction_id: str
    probe: str
    quantity: str
    kind: CorrectionKind
    state: CorrectionState
    sequence: int
    from_ns: int
    to_ns: int
    value: float | None  # offset: the constant; drift: the offset reached at `to`
    by: str
    why: str
    created_at_s: float
    reverted_by: str | None = None
    reverted_why: str | None = None
    reverted_at_s: float | None = None

    @property
    def active(self) -> bool:
        return self.state == CorrectionState.ACTIVE

    def covers(self, time_ns: int) -> bool:
        return self.from_ns <= time_ns <= self.to_ns

    def amount_at(self, time_ns: int) -> Decimal:
        """What this operation adds at `time_ns` (inside its period)."""
        if self.value is None:
            return Decimal(0)
        if self.kind == CorrectionKind.OFFSET:
            return exact(self.value)
        if self.to_ns == self.from_ns:
            return exact(self.value)
        return (
            exact(self.value) * Decimal(time_ns - self.from_ns) / Decimal(self.to_ns - self.from_ns)
        )

    def reverted(self, *, by: str, why: str, at_s: float) -> Correction:
        return replace(
            self,
            state=CorrectionState.REVERTED,
            reverted_by=by,
            reverted_why=why,
            reverted_at_s=at_s,
        )


def in_order(corrections: Iterable[Correction]) -> list[Correction]:
    """The order in which operations apply: ascending sequence, then id (a tie only
    happens when two operations were added at the same moment)."""
    return sorted(corrections, key=lambda c: (c.sequence, c.correction_id))


@dataclass(frozen=True, slots=True)
class RawValue:
    """A raw reading as the engine needs it."""

    time_ns: int
    value: float
    censored: bool = False


@dataclass(frozen=True, slots=True)
class CorrectedValue:
    """A raw reading with the active operations applied. `deleted`: removed from the
    corrected series (`value` is then what it would be without the delete);
    `applied`: ids of the operations that covered it, in order."""

    time_ns: int
    value: float
    raw_value: float
    deleted: bool
    censored: bool
    applied: tuple[str, ...]


def correct_one(raw: RawValue, operations: Sequence[Correction]) -> CorrectedValue:
    """`raw` under `operations` (active ones, in order: see `in_order`)."""
    value = exact(raw.value)
    deleted = False
    applied: list[str] = []
    for operation in operations:
        if not operation.covers(raw.time_ns):
            continue
        applied.append(operation.correction_id)
        if operation.kind == CorrectionKind.DELETE:
            deleted = True
        else:
            value += operation.amount_at(raw.time_ns)
    return CorrectedValue(
        raw.time_ns, float(value), raw.value, deleted, raw.censored, tuple(applied)
    )


def correct(raw: Iterable[RawValue], corrections: Iterable[Correction]) -> list[CorrectedValue]:
    """The corrected series of `raw` under the active ones of `corrections`: the same
    raw readings and operations give the same values, whatever order they came in."""
    active = in_order(c for c in corrections if c.active)
    return [correct_one(point, active) for point in raw]


# -- approval levels ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Approval:
    """One approval step: `level` set for [from_ns, to_ns] by `by`."""

    approval_id: str
    probe: str
    quantity: str
    level: ApprovalLevel
    sequence: int
    from_ns: int
    to_ns: int
    by: str
    why: str | None
    set_at_ns: int


@dataclass(frozen=True, slots=True)
class LevelPeriod:
    """A part of a period with one approval level; `step` is the approval step that
    set it (None: never set, level raw)."""

    from_ns: int
    to_ns: int
    level: ApprovalLevel
    step: Approval | None


def levels_over(steps: Iterable[Approval], from_ns: int, to_ns: int) -> list[LevelPeriod]:
    """The approval levels over [from_ns, to_ns], both inclusive, as consecutive parts:
    at each time the latest step (highest sequence) covering it decides."""
    relevant = [s for s in steps if s.from_ns <= to_ns and s.to_ns >= from_ns]
    # Half-open internally: a step covers [from, to + 1).
    cuts = {from_ns, to_ns + 1}
    for candidate in relevant:
        cuts.update(t for t in (candidate.from_ns, candidate.to_ns + 1) if from_ns < t <= to_ns)
    bounds = sorted(cuts)
    parts: list[LevelPeriod] = []
    for start, end in itertools.pairwise(bounds):
        covering = [s for s in relevant if s.from_ns <= start and s.to_ns + 1 >= end]
        step: Approval | None = max(
            covering, key=lambda s: (s.sequence, s.approval_id), default=None
        )
        level = ApprovalLevel.RAW if step is None else step.level
        if parts and parts[-1].step is step:
            parts[-1] = replace(parts[-1], to_ns=end - 1)
        else:
            parts.append(LevelPeriod(start, end - 1, level, step))
    return parts


def level_at(steps: Iterable[Approval], time_ns: int) -> ApprovalLevel:
    """The approval level of one time (raw when no step covers it)."""
    return levels_over(steps, time_ns, time_ns)[0].level
