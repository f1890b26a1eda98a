"""Simulated time and the probes' cycles in time order.

`SimClock` maps wall time to simulated time: speed 0 is a manual clock (`advance`), inf
runs as fast as the broker acknowledges, anything else is simulated seconds per wall
second. `CycleQueue` holds every probe's next cycle; a probe can be *held* (its due cycle
waits, e.g. until its connection attempt resolved or the broker acknowledged its last
pack, as firmware stays awake until then) and is re-queued when released.
"""

from __future__ import annotations

import heapq
import math


class SimClock:
    """Simulated UNIX seconds from `start_s` to `end_s` at `speed` sim s per wall s."""

    __slots__ = ("_manual_offset_s", "_wall0", "end_s", "now_s", "speed", "start_s")

    def __init__(self, start_s: int, end_s: int, speed: float) -> None:
        self.start_s = start_s
        self.end_s = end_s
        self.speed = speed
        self.now_s = float(start_s)  # the latest simulated time reached
        self._manual_offset_s = 0.0
        self._wall0 = 0.0

    def start(self, wall_now: float) -> None:
        self._wall0 = wall_now

    def wall_elapsed(self, wall_now: float) -> float:
        return wall_now - self._wall0

    def advance(self, seconds: float) -> None:
        """Manual clock: move the target `seconds` on."""
        self._manual_offset_s += seconds

    def reach(self, t: float) -> None:
        self.now_s = max(self.now_s, t)

    def target(self, wall_now: float) -> float:
        """How far simulated time may run at wall time `wall_now` (never past the end)."""
        if self.speed == 0:
            target = self.start_s + self._manual_offset_s
        elif math.isinf(self.speed):
            target = float(self.end_s)
        else:
            target = self.start_s + (wall_now - self._wall0) * self.speed
        return min(target, float(self.end_s))

    def wall_until(self, t: float, wall_now: float) -> float | None:
        """Wall seconds until simulated `t` is due; None unless the clock runs in real time."""
        if 0 < self.speed < math.inf:
            return (t - self.target(wall_now)) / self.speed
        return None


class CycleQueue:
    """The next cycle time of probes 0..n-1, due in time order (ties: lower index first)."""

    __slots__ = ("_deferred", "_heap", "_held", "next_t")

    def __init__(self, probes: int, first_t: int) -> None:
        self.next_t = [first_t] * probes
        self._held = [False] * probes
        self._deferred = [False] * probes  # a due cycle waits for `release`
        self._heap: list[tuple[int, int]] = []

    def hold_all(self) -> None:
        """Every probe's first cycle waits until released (its first connection attempt)."""
        for index in range(len(self.next_t)):
            self._held[index] = True
            self._deferred[index] = True

    def hold(self, index: int) -> None:
        self._held[index] = True

    def is_held(self, index: int) -> bool:
        return self._held[index]

    def defer(self, index: int) -> None:
        """The popped cycle of `index` could not run: it runs after `release`."""
        self._deferred[index] = True

    def release(self, index: int) -> None:
        self._held[index] = False
        if self._deferred[index]:
            self._deferred[index] = False
            heapq.heappush(self._heap, (self.next_t[index], index))

    def schedule(self, index: int, t: int) -> None:
        self.next_t[index] = t
        heapq.heappush(self._heap, (t, index))

    def first_t(self) -> int | None:
        """Time of the earliest queued cycle (None: nothing queued)."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, target: float, end_s: int) -> tuple[int, int] | None:
        """The earliest (t, index) with t <= target and t < end_s, taken off the queue.
        Held probes met on the way are deferred (re-queued by `release`)."""
        heap = self._heap
        while heap:
            t, index = heap[0]
            if t > target or t >= end_s:
                return None
            heapq.heappop(heap)
            if self._held[index]:
                self._deferred[index] = True
                continue
            return t, index
        return None
