"""The simulator's one retry policy: exponential backoff with equal jitter."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from gwmon_sim._backoff import Backoff

bases = st.floats(0.001, 5.0)
spreads = st.floats(1.0, 1000.0)


@given(base=bases, spread=spreads, seed=st.integers(0, 2**32), attempts=st.integers(1, 40))
def test_each_delay_lies_in_the_upper_half_of_its_ceiling(
    base: float, spread: float, seed: int, attempts: int
) -> None:
    max_s = base * spread
    backoff = Backoff(base, max_s, random.Random(seed))
    for attempt in range(attempts):
        ceiling = min(max_s, base * 2**attempt)
        assert ceiling / 2 <= backoff.next_delay() <= ceiling


@given(base=bases, spread=spreads, seed=st.integers(0, 2**32))
def test_same_draws_as_the_formula_the_fleet_always_used(
    base: float, spread: float, seed: int
) -> None:
    """Reproducibility: a seeded fleet reconnects at the same moments as before the split."""
    max_s = base * spread
    backoff = Backoff(base, max_s, random.Random(seed))
    rng = random.Random(seed)
    for attempt in range(30):
        ceiling = min(max_s, base * 2**attempt)
        assert backoff.next_delay() == ceiling / 2 + rng.uniform(0, ceiling / 2)


def test_reset_starts_again_at_the_base_delay() -> None:
    backoff = Backoff(0.2, 10.0, random.Random(1))
    for _ in range(8):
        backoff.next_delay()
    backoff.reset()
    assert 0.1 <= backoff.next_delay() <= 0.2
    assert 0.2 <= backoff.next_delay() <= 0.4


def test_a_broker_gone_for_good_does_not_overflow_the_exponent() -> None:
    # base * 2**n as a float overflows after ~1030 attempts; the delay stays at the cap.
    backoff = Backoff(0.2, 10.0, random.Random(1))
    delays = [backoff.next_delay() for _ in range(5_000)]
    assert all(5.0 <= delay <= 10.0 for delay in delays[6:])
