"""Reading a probe's series as the contract defines it: raw or corrected, with the
approval level and the QC flags of every value (docs/storage.md, docs/data-management.md).

One reader for every stage that reports or exports values (monthly report, exports,
trend test), so "the corrected series" means the same everywhere:

- raw: the measurement `reading`, as stored;
- corrected: `reading_corrected` where it has a point, the raw value elsewhere. A
  corrected point with `deleted = true` is a value a correction removed: it stays in the
  result (`value` None) so that an export can say so, and readers that compute leave it
  out. This rule holds whichever way the corrected series is written (complete per
  probe and quantity, or only inside corrected periods), and a raw value that arrived
  after the last recompute is shown raw until the next one.
- approval level: the latest step (highest `sequence`) of `approval` whose period
  covers the value's time; `raw` where none does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gwmon.storage._client import InfluxClient
from gwmon.storage._influxql import Condition, eq, select, time_ge, time_lt
from gwmon.storage._measurements import APPROVAL, QC, READING, READING_CORRECTED

APPROVAL_LEVELS = ("raw", "checked", "approved")  # ascending
DEFAULT_APPROVAL_LEVEL = "raw"
# QC flags that say nothing about the value itself (docs/quality-control.md: `gap` marks
# the first reading after a gap); every other flag makes a value suspect.
INFORMATIONAL_FLAGS = frozenset({"gap"})


@dataclass(frozen=True, slots=True)
class SeriesValue:
    """One value of a series. `value` is None when a correction deleted it; `raw_value`
    is the stored raw value; `corrections` the ids of the operations applied (empty for
    the raw series and where nothing applies)."""

    time_ns: int
    value: float | None
    raw_value: float
    censored: bool = False
    corrections: str = ""


@dataclass(frozen=True, slots=True)
class ApprovalStep:
    """One step of `approval`: `level` for [from_ns, to_ns], both inclusive."""

    approval_id: str
    sequence: int
    from_ns: int
    to_ns: int
    level: str
    by: str
    why: str
    set_at_ns: int

    def covers(self, time_ns: int) -> bool:
        return self.from_ns <= time_ns <= self.to_ns


@dataclass(frozen=True)
class Approvals:
    """The approval history of one probe and quantity."""

    steps: tuple[ApprovalStep, ...]

    def level_at(self, time_ns: int) -> str:
        """The level of the latest step covering `time_ns`; `raw` where none does."""
        for step in reversed(self.steps):  # sorted by sequence: the latest wins
            if step.covers(time_ns):
                return step.level
        return DEFAULT_APPROVAL_LEVEL


def _where(
    probe: str, quantity: str, start_ns: int | None, end_ns: int | None
) -> tuple[Condition, ...]:
    conditions: list[Condition] = [eq("probe", probe), eq("quantity", quantity)]
    if start_ns is not None:
        conditions.append(time_ge(start_ns))
    if end_ns is not None:
        conditions.append(time_lt(end_ns))
    return tuple(conditions)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def read_series(
    client: InfluxClient,
    probe: str,
    quantity: str,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    corrected: bool = True,
) -> list[SeriesValue]:
    """The series in [start_ns, end_ns), in time order (see the module docstring)."""
    where = _where(probe, quantity, start_ns, end_ns)
    values: dict[int, SeriesValue] = {}
    for row in client.query_rows(select(READING, "value", "censored").where(*where)):
        value = _number(row.get("value"))
        if value is not None:
            time_ns = int(row["time"])
            values[time_ns] = SeriesValue(time_ns, value, value, row.get("censored") is True)
    if corrected:
        statement = select(
            READING_CORRECTED, "value", "raw_value", "deleted", "censored", "corrections"
        ).where(*where)
        for row in client.query_rows(statement):
            raw = _number(row.get("raw_value"))
            value = _number(row.get("value"))
            if raw is None or value is None:
                continue
            time_ns = int(row["time"])
            values[time_ns] = SeriesValue(
                time_ns,
                None if row.get("deleted") is True else value,
                raw,
                row.get("censored") is True,
                str(row.get("corrections") or ""),
            )
    return [values[time_ns] for time_ns in sorted(values)]


def read_approvals(client: InfluxClient, probe: str, quantity: str) -> Approvals:
    """Every approval step of the probe and quantity, in `sequence` order."""
    statement = select(
        APPROVAL, "level", "approval_id", "sequence", "from_ns", "to_ns", "by", "why"
    ).where(eq("probe", probe), eq("quantity", quantity))
    steps = [
        ApprovalStep(
            approval_id=str(row.get("approval_id") or ""),
            sequence=int(row.get("sequence") or 0),
            from_ns=int(row.get("from_ns") or 0),
            to_ns=int(row.get("to_ns") or 0),
            level=str(row.get("level") or DEFAULT_APPROVAL_LEVEL),
            by=str(row.get("by") or ""),
            why=str(row.get("why") or ""),
            set_at_ns=int(row["time"]),
        )
        for row in client.query_rows(statement)
        if row.get("level") in APPROVAL_LEVELS
    ]
    return Approvals(tuple(sorted(steps, key=lambda step: (step.sequence, step.set_at_ns))))


def read_flags(
    client: InfluxClient,
    probe: str,
    quantity: str,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> dict[int, tuple[str, ...]]:
    """The QC flags (`qc` tag `flag`) by measurement time, each tuple sorted."""
    statement = select(QC, "value", "flag").where(*_where(probe, quantity, start_ns, end_ns))
    flags: dict[int, set[str]] = {}
    for row in client.query_rows(statement):
        flags.setdefault(int(row["time"]), set()).add(str(row.get("flag")))
    return {time_ns: tuple(sorted(names)) for time_ns, names in flags.items()}


def suspect(flags: Iterable[str]) -> bool:
    """Whether QC flags make a value suspect (any flag but the informational ones)."""
    return any(flag not in INFORMATIONAL_FLAGS for flag in flags)


def best_first(levels: Iterable[str]) -> list[str]:
    """Distinct approval levels, best (approved) first: for "which levels were used"."""
    present = set(levels)
    return [level for level in reversed(APPROVAL_LEVELS) if level in present]


def levels_text(levels: Sequence[str]) -> str:
    return ",".join(best_first(levels))
