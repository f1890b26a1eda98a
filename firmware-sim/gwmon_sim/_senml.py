"""The simulated firmware's own SenML encoder, written against docs/wire-format.md (v1).

Deliberately independent of gwmon: this is what a probe vendor would write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from gwmon_sim._model import Cycle

TOPIC_ROOT: Final = "gw/v1"


def data_topic(prefix: str, probe_id: str) -> str:
    root = f"{prefix}/{TOPIC_ROOT}" if prefix else TOPIC_ROOT
    return f"{root}/{probe_id}/data"


def status_topic(prefix: str, probe_id: str) -> str:
    root = f"{prefix}/{TOPIC_ROOT}" if prefix else TOPIC_ROOT
    return f"{root}/{probe_id}/status"


def _dumps(obj: object, *, allow_nan: bool = False) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan)


def _cycle_records(cycle: Cycle, probe_id: str, base_time: int, *, first: bool) -> list[Any]:
    records: list[dict[str, Any]] = []
    head: dict[str, Any] = {}
    if first:
        head = {"bn": f"{probe_id}:", "bt": base_time}
    elif cycle.t_stamp != base_time:
        head = {"t": cycle.t_stamp - base_time}
    records.append({**head, "n": "seq", "v": cycle.seq})
    offset = {"t": cycle.t_stamp - base_time} if cycle.t_stamp != base_time else {}
    for sample in cycle.samples:
        if sample.sent_value is None:
            continue
        records.append({**offset, "n": sample.record, "u": sample.unit, "v": sample.sent_value})
    return records


def encode_pack(probe_id: str, cycles: Sequence[Cycle]) -> bytes:
    """One SenML pack holding `cycles` (oldest first): bn/bt on the first record, t after."""
    if not cycles:
        msg = "a pack needs at least one cycle"
        raise ValueError(msg)
    base_time = cycles[0].t_stamp
    records: list[Any] = []
    for index, cycle in enumerate(cycles):
        records.extend(_cycle_records(cycle, probe_id, base_time, first=index == 0))
    return _dumps(records).encode("utf-8")


def split_into_packs(
    probe_id: str, cycles: Sequence[Cycle], max_bytes: int
) -> list[tuple[list[Cycle], bytes]]:
    """Cut `cycles` (oldest first) into consecutive packs of at most `max_bytes` each."""
    if len(cycles) == 1:  # the common live case: one cycle, one pack
        return [([cycles[0]], encode_pack(probe_id, cycles))]
    packs: list[tuple[list[Cycle], bytes]] = []
    current: list[Cycle] = []
    size = 2  # the brackets
    base_time = 0
    for cycle in cycles:
        first = not current
        if first:
            base_time = cycle.t_stamp
        piece = _dumps(_cycle_records(cycle, probe_id, base_time, first=first))[1:-1]
        extra = len(piece.encode("utf-8")) + (0 if first else 1)
        if current and size + extra > max_bytes:
            packs.append((current, encode_pack(probe_id, current)))
            current, base_time = [], cycle.t_stamp
            piece = _dumps(_cycle_records(cycle, probe_id, base_time, first=True))[1:-1]
            extra = len(piece.encode("utf-8"))
            size = 2
        current.append(cycle)
        size += extra
    if current:
        packs.append((current, encode_pack(probe_id, current)))
    return packs


def malformed_pack(
    probe_id: str, cycles: Sequence[Cycle], variant: str
) -> tuple[bytes, str | None]:
    """A deliberately broken variant of the pack (the `malformed` fault, docs/scenarios.md).

    Returns the payload and the record name that was broken in every cycle
    (`unknown_unit`, `non_finite`: the pack's first measured record), or None when the
    whole pack is broken.
    """
    good = encode_pack(probe_id, cycles)
    records: list[dict[str, Any]] = json.loads(good)
    if variant == "invalid_json":
        return good[:-1], None
    if variant == "not_senml":
        return _dumps({"bn": f"{probe_id}:", "e": records}).encode(), None
    if variant == "empty_pack":
        return b"[]", None
    if variant == "base_name_mismatch":
        records[0]["bn"] = f"{probe_id}-X:"
        return _dumps(records).encode(), None
    if variant == "missing_time":
        del records[0]["bt"]
        return _dumps(records).encode(), None
    target = next((r["n"] for r in records if r.get("n") != "seq"), "seq")
    if variant == "unknown_unit":
        for record in records:
            if record["n"] == target:
                record["u"] = "ppm"
        return _dumps(records).encode(), target
    if variant == "non_finite":
        for record in records:
            if record["n"] == target:
                record["v"] = float("nan")
        return _dumps(records, allow_nan=True).encode(), target
    msg = f"unknown malformed variant {variant!r}"
    raise ValueError(msg)


def status_payload(
    *, online: bool, firmware: str | None = None, battery: float | None = None, t: int | None = None
) -> bytes:
    """Status JSON of docs/wire-format.md (`{"online": false}` is the last will)."""
    body: dict[str, Any] = {"online": online}
    if firmware is not None:
        body["firmware"] = firmware
    if battery is not None:
        body["battery"] = battery
    if t is not None:
        body["t"] = t
    return _dumps(body).encode()
