"""The reorder hold of a scaled-out group's owner (`PartitionedObserver`, issue 11).

The shared group splits each probe's messages over its processes, so the owner gets its
own share at once and the rest as hand-offs a little later. `ReorderHold` gives the
readings (as message columns) to `evaluate` on a thread of its own: at once those that
continue a probe where the readings released so far end (at most `steps_ns[probe]`
after the newest) or lie before that (late: waiting cannot help them); those after a gap
wait up to `hold_s` for the gap's readings. Each `hold(packs, done)` gives a `Held`
whose `evaluated` is set (and `done` called) once all its readings were evaluated.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import overload

from gwmon.analytics._handoff import ProbeColumns
from gwmon.analytics._rows import readings_of_columns
from gwmon.ingest import ColumnarReadings, Reading, ReadingColumns

logger = logging.getLogger("gwmon.analytics.hold")

_RECHECK_S = 0.5


class Released(Sequence[Reading]):
    """Readings released together, for the inner observer: as the messages' columns
    (`ColumnarReadings`, its fast way in) and, made when asked, as `Reading`s."""

    def __init__(self, packs: list[ReadingColumns]) -> None:
        self._packs = packs
        self._count = sum(len(pack.times_ns) for pack in packs)
        self._readings: list[Reading] | None = None

    def columns(self) -> list[ReadingColumns]:
        return self._packs

    def _all(self) -> list[Reading]:
        if self._readings is None:
            self._readings = readings_of_columns(self._packs)
        return self._readings

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Reading: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Reading]: ...

    def __getitem__(self, index: int | slice) -> Reading | Sequence[Reading]:
        return self._all()[index]

    def __iter__(self) -> Iterator[Reading]:
        return iter(self._all())


class _Waiting:
    """Readings of one probe and one arrival (one message, mostly) waiting for
    evaluation: their times, when they go at the latest (`due`), and their source."""

    __slots__ = ("due", "newest_ns", "oldest_ns", "pack", "source")

    def __init__(self, pack: ReadingColumns, source: Held, due: float) -> None:
        self.pack = pack
        self.source = source
        self.due = due
        self.oldest_ns = min(pack.times_ns)
        self.newest_ns = max(pack.times_ns)


class Held:
    """An ingest batch or a received hand-off: `done` runs once all of its waiting
    readings were evaluated."""

    __slots__ = ("done", "evaluated", "left")

    def __init__(self, left: int, done: Callable[[], None] | None = None) -> None:
        self.left = left
        self.done = done
        self.evaluated = threading.Event()
        if left == 0:
            self._finish()

    def one_done(self) -> None:
        self.left -= 1
        if self.left == 0:
            self._finish()

    def _finish(self) -> None:
        self.evaluated.set()
        if self.done is not None:
            self.done()


def packs_of(readings: Sequence[Reading]) -> list[ReadingColumns]:
    """The readings as columns, one per probe and arrival (the ingest's messages)."""
    if isinstance(readings, ColumnarReadings):
        return list(readings.columns())
    groups: dict[tuple[str, int], ProbeColumns] = {}
    for r in readings:
        pack = groups.get((r.probe, r.arrival_ns))
        if pack is None:
            pack = groups[(r.probe, r.arrival_ns)] = ProbeColumns(r.probe, r.arrival_ns)
        pack.add(r.quantity, r.time_ns, r.value, r.record_name, r.censored)
    return list(groups.values())


class ReorderHold:
    """See module docstring. `evaluate` raising is the caller's to handle (it is
    called with a `Released` of the readings due together)."""

    def __init__(
        self,
        evaluate: Callable[[Released], None],
        steps_ns: dict[str, int],
        hold_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._evaluate_cb = evaluate
        self._steps_ns = steps_ns
        self.hold_s = hold_s
        self._clock = clock
        # Per probe: the readings held after a gap (by oldest time), and the newest
        # time released for evaluation; what is released, waiting for the thread.
        self._held: dict[str, list[_Waiting]] = {}
        self._newest_ns: dict[str, int] = {}
        self._ready: list[_Waiting] = []
        self._busy = 0  # releases being evaluated
        self._flushing = False
        self._closing = False
        self._cond = threading.Condition()
        self.releases = 0
        self._evaluator = threading.Thread(
            target=self._evaluate_loop, name="gwmon-analytics-scale-out", daemon=True
        )
        self._evaluator.start()

    def settle(self, timeout: float = 60.0) -> bool:
        """Evaluate every reading waiting now, without the hold; True when done."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            try:
                while self._ready or self._held or self._busy:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._evaluator.is_alive():
                        return False
                    self._cond.wait(min(left, 0.5))
            finally:
                self._flushing = False
        return True

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every reading released for evaluation is evaluated (held ones stay
        held); True when so."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._ready or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._evaluator.is_alive():
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def close(self) -> None:
        """Stop the thread (after `settle`, nothing is left)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._evaluator.join(60)

    def hold(self, packs: list[ReadingColumns], done: Callable[[], None] | None = None) -> Held:
        source = Held(len(packs), done)
        due = self._clock() + self.hold_s
        with self._cond:
            for pack in packs:
                waiting = _Waiting(pack, source, due)
                probe_id = pack.probe
                if probe_id not in self._steps_ns:  # not ours to hold (the inner logs it)
                    self._ready.append(waiting)
                    continue
                held = self._held.setdefault(probe_id, [])
                held.append(waiting)
                self._release(probe_id, held)
            self._cond.notify_all()
        return source

    def _release(self, probe_id: str, held: list[_Waiting], *, now: float | None = None) -> None:
        """Move the probe's held readings that continue (or lie before) what was released
        to `_ready`, and those due by `now` (None: none are); under `_cond`."""
        held.sort(key=lambda waiting: waiting.oldest_ns)
        newest = self._newest_ns.get(probe_id)
        step = self._steps_ns[probe_id]
        keep = []
        for waiting in held:
            if (newest is not None and waiting.oldest_ns <= newest + step) or (
                now is not None and waiting.due <= now
            ):
                self._ready.append(waiting)
                newest = waiting.newest_ns if newest is None else max(newest, waiting.newest_ns)
            else:
                keep.append(waiting)
        if newest is not None:
            self._newest_ns[probe_id] = newest
        if keep:
            held[:] = keep
        else:
            del self._held[probe_id]

    def _next_due(self) -> float | None:
        return min((waiting.due for held in self._held.values() for waiting in held), default=None)

    def _due(self) -> list[_Waiting]:
        """Wait for readings to evaluate (all held ones when settling); [] when closing."""
        with self._cond:
            while True:
                if self._closing:
                    return []
                next_due = self._next_due()
                now = self._clock()
                if self._flushing:
                    now = math.inf
                if next_due is not None and next_due <= now:
                    for probe_id in [
                        p for p, held in self._held.items() if any(w.due <= now for w in held)
                    ]:
                        self._release(probe_id, self._held[probe_id], now=now)
                    continue
                if self._ready:
                    taken, self._ready = self._ready, []
                    self._busy += 1
                    return taken
                # Now and then, not only at `next_due`: the clock may be a test's.
                self._cond.wait(_RECHECK_S if next_due is None else min(next_due - now, _RECHECK_S))

    def _evaluate_loop(self) -> None:
        while taken := self._due():
            try:
                self._evaluate(taken)
            except Exception:  # the thread goes on: the next readings still come
                logger.exception("evaluation of %d held messages failed", len(taken))
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _evaluate(self, taken: list[_Waiting]) -> None:
        self.releases += 1
        try:
            self._evaluate_cb(Released([waiting.pack for waiting in taken]))
        finally:
            for waiting in taken:
                waiting.source.one_done()
