"""Seeded random streams: simulation noise, not cryptography."""

from __future__ import annotations

import random


def seeded(*parts: object) -> random.Random:
    """An independent, reproducible stream named by `parts` (e.g. seed, probe, purpose).

    String seeds are hashed with SHA-512 by `random.Random`, so streams do not depend on
    PYTHONHASHSEED and stay identical across runs and machines.
    """
    return random.Random(":".join(str(p) for p in parts))  # noqa: S311 - simulation only
