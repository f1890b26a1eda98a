"""Topic names of the wire contract (docs/wire-format.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gwmon.ingest._registry import PROBE_ID_PATTERN

CONTRACT_ROOT = "gw/v1"
MessageKind = Literal["data", "status"]


@dataclass(frozen=True, slots=True)
class TopicInfo:
    probe_id: str
    kind: MessageKind


def topic_root(prefix: str) -> str:
    return f"{prefix}/{CONTRACT_ROOT}" if prefix else CONTRACT_ROOT


def subscription_filters(prefix: str, shared_group: str | None) -> list[str]:
    root = topic_root(prefix)
    filters = [f"{root}/+/data", f"{root}/+/status"]
    if shared_group:
        return [f"$share/{shared_group}/{topic}" for topic in filters]
    return filters


def parse_topic(topic: str, prefix: str) -> TopicInfo | None:
    """`gw/v1/<probe_id>/data|status` (under the prefix) -> TopicInfo, else None."""
    root = topic_root(prefix) + "/"
    if not topic.startswith(root):
        return None
    probe_id, sep, kind = topic[len(root) :].partition("/")
    if not sep or kind not in ("data", "status") or not PROBE_ID_PATTERN.fullmatch(probe_id):
        return None
    return TopicInfo(probe_id, "data" if kind == "data" else "status")
