"""A detector window kept as two columns (issue 11, target 4).

Every probe keeps, per quantity, the last readings its detectors look back on (48 for
the default level flatline). As a list of `(time_ns, value)` tuples that is about 120
bytes a reading (the tuple, an int and a float); as an `array` of machine integers and
one of doubles it is 16. Detectors with a column check (`QcDetector.columns`) read
`times` and `values` directly; the others still see a `Sequence[tuple[int, float]]`
(an item or a slice is made into tuples when it is read).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import overload


class Window(Sequence[tuple[int, float]]):
    """(time_ns, value) of earlier readings, oldest first: `times` and `values` are the
    two columns (the evaluator appends to both and drops from both, never one alone)."""

    __slots__ = ("times", "values")

    def __init__(self, items: Iterable[tuple[int, float]] = ()) -> None:
        self.times = array("q")
        self.values = array("d")
        for time_ns, value in items:
            self.append((time_ns, value))

    def __len__(self) -> int:
        return len(self.times)

    @overload
    def __getitem__(self, index: int) -> tuple[int, float]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[int, float]]: ...

    def __getitem__(self, index: int | slice) -> tuple[int, float] | list[tuple[int, float]]:
        if isinstance(index, slice):
            return list(zip(self.times[index], self.values[index], strict=True))
        return (self.times[index], self.values[index])

    def __iter__(self) -> Iterator[tuple[int, float]]:
        return zip(self.times, self.values, strict=True)

    def append(self, item: tuple[int, float]) -> None:
        time_ns, value = item
        self.times.append(time_ns)
        self.values.append(value)

    def drop_oldest(self) -> None:
        del self.times[0]
        del self.values[0]
