"""Retry delays of the simulated firmware: exponential backoff with "equal jitter".

Every place the simulator retries goes through `Backoff`, so all probes back off alike and
a fleet that lost its broker does not reconnect in lockstep.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays for consecutive retries: the n-th (from 0) is drawn uniformly from [c/2, c],
    with c = min(max_s, base_s * 2**n); `reset()` after a success starts again at base_s.
    The scenario parser guarantees 0 < base_s <= max_s."""

    __slots__ = ("_attempt", "_base_s", "_capped", "_max_s", "_rng")

    def __init__(self, base_s: float, max_s: float, rng: random.Random) -> None:
        self._base_s = base_s
        self._max_s = max_s
        self._rng = rng
        self._attempt = 0
        self._capped = False

    def next_delay(self) -> float:
        """The delay before the next retry (seconds); each call counts one more attempt."""
        if self._capped:
            ceiling = self._max_s
        else:
            ceiling = min(self._max_s, self._base_s * 2**self._attempt)
            # Once at the ceiling, stop growing the exponent (2**n would overflow a float).
            self._capped = ceiling >= self._max_s
            self._attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self._attempt = 0
        self._capped = False
