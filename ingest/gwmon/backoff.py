"""The one retry delay: capped exponential backoff with optional jitter.

Every loop that waits for a server to come back (broker, InfluxDB, SMTP) takes its delays
from a `Backoff`, so the policy is the same everywhere and is tested once.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays `initial_s`, `initial_s * factor`, ... up to `maximum_s`; `reset()` after a
    success. With `jitter` = j each delay is drawn from [d·(1−j), d] so that many clients
    that failed together do not retry together."""

    def __init__(
        self,
        initial_s: float,
        maximum_s: float,
        *,
        factor: float = 2.0,
        jitter: float = 0.0,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if not 0 < initial_s <= maximum_s:
            msg = f"backoff needs 0 < initial_s <= maximum_s, got {initial_s}, {maximum_s}"
            raise ValueError(msg)
        if factor < 1 or not 0 <= jitter < 1:
            msg = f"backoff needs factor >= 1 and 0 <= jitter < 1, got {factor}, {jitter}"
            raise ValueError(msg)
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.factor = factor
        self.jitter = jitter
        self._uniform = uniform
        self._current = initial_s
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; the one after it grows (up to the cap)."""
        delay = self._current
        self._current = min(self._current * self.factor, self.maximum_s)
        self.attempts += 1
        if self.jitter:
            return self._uniform(delay * (1 - self.jitter), delay)
        return delay

    def reset(self) -> None:
        self._current = self.initial_s
        self.attempts = 0
