"""The wire contract's status messages: the retained JSON object on gw/v1/<probe_id>/status.

Decoded with the same bounded JSON as data packs (size, BOM, number literals, nesting;
docs/wire-format.md "Limits"), so a status costs no more to refuse than a pack.
`decode_status` never raises anything but `PayloadRejected`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gwmon.ingest._bounded import (
    MAX_NESTING_DEPTH,
    PayloadRejected,
    Reason,
    RepeatedNames,
    deeper_than,
    is_number,
    load_json,
    number_problem,
    seconds_to_ns,
    too_deep,
)
from gwmon.ingest._senml import ABSOLUTE_TIME_MIN_S

FIRMWARE_MAX_CHARS = 64
_NS_PER_S = 10**9


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One probe status as it goes to storage (measurement `probe_status`)."""

    probe: str
    online: bool
    firmware: str | None
    battery: float | None  # % EL
    time_ns: int  # the probe's `t` when it is a plausible absolute time, else the arrival
    time_from_probe: bool


def _bad(detail: str) -> PayloadRejected:
    return PayloadRejected(Reason.BAD_STATUS, detail)


def decode_status(
    probe_id: str,
    payload: bytes,
    *,
    now_s: float,
    future_margin_s: float = 300.0,
    max_bytes: int = 65_536,
) -> StatusUpdate:
    """Decode one status message of `probe_id` (from the topic). An empty payload (a
    cleared retained message) is the transport's business, not a status: not passed here."""
    document = load_json(payload, max_bytes=max_bytes, probe=probe_id)
    if not isinstance(document, dict):
        if isinstance(document, list) and deeper_than(document, MAX_NESTING_DEPTH):
            raise too_deep()
        raise _bad("status is not a JSON object")
    for value in document.values():
        # Unknown fields are ignored, but not unboundedly deep.
        if isinstance(value, list | dict) and deeper_than(value, MAX_NESTING_DEPTH - 1):
            raise too_deep()
    if isinstance(document, RepeatedNames):
        names = ", ".join(repr(name[:40]) for name in document.repeated[:5])
        raise _bad(f"the status names {names} more than once")
    online = document.get("online")
    if type(online) is not bool:
        raise _bad("status needs 'online': true|false")
    firmware = _firmware(document.get("firmware"))
    battery = _battery(document.get("battery"))
    arrival_ns = int(now_s * _NS_PER_S)
    time_ns = _probe_time_ns(document.get("t"), now_s, future_margin_s)
    return StatusUpdate(
        probe=probe_id,
        online=online,
        firmware=firmware,
        battery=battery,
        time_ns=arrival_ns if time_ns is None else time_ns,
        time_from_probe=time_ns is not None,
    )


def _firmware(value: Any) -> str | None:  # noqa: ANN401 - a JSON value
    if value is None:
        return None
    if type(value) is not str:
        raise _bad("'firmware' must be a string")
    if not 1 <= len(value) <= FIRMWARE_MAX_CHARS:
        raise _bad(f"'firmware' has {len(value)} characters (1..{FIRMWARE_MAX_CHARS})")
    if not value.isprintable():
        raise _bad("'firmware' holds control characters")
    return value


def _battery(value: Any) -> float | None:  # noqa: ANN401 - a JSON value
    if value is None:
        return None
    if not is_number(value):
        raise _bad("'battery' must be a number (% EL)")
    problem = number_problem(value)
    if problem is not None:
        raise _bad(f"'battery': {problem[1]}")
    if not 0 <= value <= 100:
        raise _bad(f"'battery' {value} is not in 0..100 (% EL)")
    return float(value)


def _probe_time_ns(value: Any, now_s: float, future_margin_s: float) -> int | None:  # noqa: ANN401
    """The status time `t` in ns, or None to use the arrival time: a probe that boots
    before its clock is set still reports that it is online."""
    if value is None:
        return None
    if not is_number(value):
        raise _bad("'t' must be a number (UNIX seconds)")
    problem = number_problem(value)
    if problem is not None:
        raise _bad(f"'t': {problem[1]}")
    time_ns = seconds_to_ns(value)
    latest_ns = int((Decimal(repr(now_s)) + Decimal(repr(future_margin_s))) * _NS_PER_S)
    if ABSOLUTE_TIME_MIN_S * _NS_PER_S <= time_ns <= latest_ns:
        return time_ns
    return None
