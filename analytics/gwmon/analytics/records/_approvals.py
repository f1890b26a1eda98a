"""Approval levels of periods: `raw` (default), `checked`, `approved`.

Every `gwmon approve` is a new step (an `approval` point) and none is ever removed, so
the history stays; at each time the latest step covering it decides the level. An
approved period cannot be corrected: the correction is refused until the period is set
back (`--level checked`), which is itself a step with who and why.
"""

from __future__ import annotations

import time

from gwmon.analytics.records._corrections import RecordsError
from gwmon.analytics.records._model import Approval, ApprovalLevel, LevelPeriod, levels_over
from gwmon.analytics.records._store import RecordsStore, approval_point, unique_after
from gwmon.storage import APPROVAL

_NS = 1_000_000_000


def approve(
    store: RecordsStore,
    *,
    probe: str,
    quantity: str,
    from_ns: int,
    to_ns: int,
    level: ApprovalLevel,
    by: str,
    why: str | None,
    now_s: float | None = None,
) -> tuple[Approval, list[LevelPeriod]]:
    """Store an approval step; return it and the levels of its period afterwards."""
    if from_ns > to_ns:
        msg = "--from must not be after --to"
        raise RecordsError(msg)
    sequence = store.next_sequence(APPROVAL.name)
    now_ns = round((time.time() if now_s is None else now_s) * _NS)
    step = Approval(
        approval_id=f"{probe}.{quantity}.a{sequence}",
        probe=probe,
        quantity=quantity,
        level=level,
        sequence=sequence,
        from_ns=from_ns,
        to_ns=to_ns,
        by=by,
        why=why or None,
        set_at_ns=unique_after(now_ns, store.latest_point_ns(APPROVAL.name, probe, quantity)),
    )
    store.write([approval_point(step)])
    return step, levels_over(store.approvals(probe, quantity), from_ns, to_ns)
