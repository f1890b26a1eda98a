"""How many generated cases each parser got and what became of them (by reason): the
fuzz suite's count, printed at the end of the run (tests/fuzz/conftest.py)."""

from __future__ import annotations

from collections import Counter

# The floor: at least this many generated cases per CI run, in total.
MINIMUM_CASES = 10_000

CASES: Counter[str] = Counter()  # parser -> generated cases
OUTCOMES: Counter[tuple[str, str]] = Counter()  # (parser, outcome or rejection reason)


def record(parser: str, outcome: str, *, case: bool = True) -> None:
    """One outcome of `parser`; `case=False` for further outcomes of the same case
    (e.g. each refused record of one pack)."""
    if case:
        CASES[parser] += 1
    OUTCOMES[(parser, outcome)] += 1


def total() -> int:
    return sum(CASES.values())
