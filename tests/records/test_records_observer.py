"""`gwmon run` keeps the corrected series complete: readings stored after an operation
was added get their corrected point, and a new operation is picked up on the poll."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import pytest

from gwmon.analytics.records import (
    CorrectedSeriesObserver,
    CorrectionKind,
    CorrectionRequest,
    RecordsStore,
    add_correction,
)
from gwmon.ingest import Reading, load_registry
from gwmon.ingest.devservers import InfluxDatabase
from records.records_helpers import REGISTRY, RecordsRig, at, make_rig


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rig(
    tmp_path: Path, influx_db: InfluxDatabase, capsys: pytest.CaptureFixture[str]
) -> RecordsRig:
    rig = make_rig(tmp_path, influx_db, capsys)
    rig.seed([(0, 10.0), (1, 10.1)])
    return rig


def reading(hour: float, value: float) -> Reading:
    return Reading("P-1", "level", at(hour), value, "level", at(hour))


def offset(store: RecordsStore, start: float, end: float, value: float, now_s: float) -> None:
    request = CorrectionRequest(
        "P-1", "level", CorrectionKind.OFFSET, at(start), at(end), value, "A", "w"
    )
    add_correction(store, request, now_s=now_s)


def test_new_readings_of_a_corrected_series_are_mirrored(rig: RecordsRig, tmp_path: Path) -> None:
    (tmp_path / "reg.csv").write_text(REGISTRY, encoding="utf-8")
    registry = load_registry(tmp_path / "reg.csv")
    client = rig.client()
    store = RecordsStore(client)
    clock = Clock()
    observer = CorrectedSeriesObserver(rig.client(), registry, poll_interval_s=10, clock=clock)
    try:
        observer.batch_stored([reading(2, 10.2)])  # no operation yet: nothing mirrored
        assert rig.corrected() == []
        offset(store, 0, 5, 0.5, now_s=1_800_000_000)
        rig.seed([(2, 10.2), (3, 10.3)])
        observer.batch_stored([reading(3, 10.3)])
        # The add wrote the series as it was; the observer knows of it at its next poll.
        assert rig.corrected_values() == [10.5, 10.6]
        clock.now = 10
        observer.tick(0)
        assert rig.corrected_values() == [10.5, 10.6, 10.7, 10.8]
        rig.seed([(4, 10.4), (6, 10.6)])
        observer.batch_stored([reading(4, 10.4), reading(6, 10.6)])
        rows = rig.corrected()
        assert [(r["time"], r["value"], r["corrections"]) for r in rows[-2:]] == [
            (at(4), 10.9, "P-1.level.c1"),
            (at(6), 10.6, ""),  # outside the operation
        ]
        # Another process adds an operation; the observer's own points follow at the poll.
        offset(store, 6, 6, -0.1, now_s=1_800_000_010)
        assert observer.corrected_series == frozenset({("P-1", "level")})
        clock.now = 20
        observer.tick(0)
        rig.seed([(7, 10.7)])
        observer.batch_stored([reading(6, 10.6)])  # a repeat: with the new operation
        assert rig.corrected_values()[-1] == 10.5
    finally:
        observer.close()
        client.close()


class Untouchable(Sequence[Reading]):
    """A batch that fails when looked at (the ingest makes its Readings lazily)."""

    def __len__(self) -> int:
        return 1

    @overload
    def __getitem__(self, index: int) -> Reading: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Reading]: ...

    def __getitem__(self, index: int | slice) -> Reading | Sequence[Reading]:
        raise AssertionError("the readings were looked at")

    def __iter__(self) -> Iterator[Reading]:
        raise AssertionError("the readings were looked at")


def test_without_corrections_the_batch_is_not_looked_at(rig: RecordsRig, tmp_path: Path) -> None:
    (tmp_path / "reg.csv").write_text(REGISTRY, encoding="utf-8")
    observer = CorrectedSeriesObserver(
        rig.client(), load_registry(tmp_path / "reg.csv"), poll_interval_s=10
    )
    observer.batch_stored(Untouchable())
    assert observer.points_written == 0
