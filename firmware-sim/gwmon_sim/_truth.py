"""Ground truth: what every probe sampled, what it sent and what the broker acknowledged."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Final, Literal

from gwmon_sim._model import Cycle

Delivery = Literal["buffered", "published", "acked", "denied", "dropped"]
TRUTH_COLUMNS: Final = (
    "probe_id",
    "seq",
    "t",
    "t_stamp",
    "quantity",
    "record",
    "unit",
    "true_value",
    "sensor_value",
    "sent_value",
    "faults",
    "pack",
    "delivery",
    "published_at_s",
    "acked_at_s",
)


@dataclass(frozen=True, slots=True)
class TruthRow:
    """One quantity of one cycle (or its `seq` record), as documented in docs/scenarios.md.

    Values are in the record's unit (`nitrate_n` in mg/L NO3-N, `depth` in m below
    ground). `sent_value` is None when the value was not sent (dropout); `pack` is None
    until the cycle was packed. Times `t`/`t_stamp` are simulated UNIX seconds;
    `published_at_s`/`acked_at_s` are wall-clock UNIX seconds (not in any payload).
    """

    probe_id: str
    seq: int
    t: int
    t_stamp: int
    quantity: str
    record: str
    unit: str
    true_value: float
    sensor_value: float
    sent_value: float | None
    faults: str
    pack: int | None
    delivery: Delivery
    published_at_s: float | None
    acked_at_s: float | None


class CycleTruth:
    """Transport state of one cycle, updated by the fleet as its pack travels."""

    __slots__ = (
        "acked_at_s",
        "cycle",
        "delivery",
        "extra_faults",
        "pack",
        "published_at_s",
        "record_faults",
    )

    def __init__(self, cycle: Cycle) -> None:
        self.cycle = cycle
        self.pack: int | None = None
        self.delivery: Delivery = "buffered"
        self.published_at_s: float | None = None
        self.acked_at_s: float | None = None
        self.extra_faults: list[str] = []
        self.record_faults: dict[str, list[str]] = {}

    def add_fault(self, fault: str, record: str | None = None) -> None:
        """Tag the whole cycle (record None) or only the rows of one record name."""
        if record is None:
            self.extra_faults.append(fault)
        else:
            self.record_faults.setdefault(record, []).append(fault)

    def rows(self) -> Iterator[TruthRow]:
        cycle = self.cycle
        cycle_faults = [*cycle.faults, *self.extra_faults]
        common = {
            "probe_id": cycle.probe_id,
            "seq": cycle.seq,
            "t": cycle.t,
            "t_stamp": cycle.t_stamp,
            "pack": self.pack,
            "delivery": self.delivery,
            "published_at_s": self.published_at_s,
            "acked_at_s": self.acked_at_s,
        }
        seq = float(cycle.seq)
        yield TruthRow(
            quantity="seq",
            record="seq",
            unit="",
            true_value=seq,
            sensor_value=seq,
            sent_value=seq,
            faults=";".join([*cycle_faults, *self.record_faults.get("seq", [])]),
            **common,  # type: ignore[arg-type]
        )
        for sample in cycle.samples:
            yield TruthRow(
                quantity=sample.quantity,
                record=sample.record,
                unit=sample.unit,
                true_value=sample.true_value,
                sensor_value=sample.sensor_value,
                sent_value=sample.sent_value,
                faults=";".join(
                    [*sample.faults, *cycle_faults, *self.record_faults.get(sample.record, [])]
                ),
                **common,  # type: ignore[arg-type]
            )


def write_truth_csv(rows: Iterable[TruthRow], path: Path) -> int:
    """Write rows to `path` (CSV, header = TRUTH_COLUMNS); returns the number of rows."""
    count = 0
    names = [f.name for f in fields(TruthRow)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in rows:
            writer.writerow(["" if getattr(row, n) is None else getattr(row, n) for n in names])
            count += 1
    return count


def read_truth_csv(path: Path) -> list[TruthRow]:
    """Read a CSV written by `write_truth_csv` back into rows."""

    def opt_float(text: str) -> float | None:
        return float(text) if text else None

    out: list[TruthRow] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            out.append(
                TruthRow(
                    probe_id=raw["probe_id"],
                    seq=int(raw["seq"]),
                    t=int(raw["t"]),
                    t_stamp=int(raw["t_stamp"]),
                    quantity=raw["quantity"],
                    record=raw["record"],
                    unit=raw["unit"],
                    true_value=float(raw["true_value"]),
                    sensor_value=float(raw["sensor_value"]),
                    sent_value=opt_float(raw["sent_value"]),
                    faults=raw["faults"],
                    pack=int(raw["pack"]) if raw["pack"] else None,
                    delivery=raw["delivery"],  # type: ignore[arg-type]
                    published_at_s=opt_float(raw["published_at_s"]),
                    acked_at_s=opt_float(raw["acked_at_s"]),
                )
            )
    return out
