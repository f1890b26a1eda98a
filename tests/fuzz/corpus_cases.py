"""The fuzz corpus (tests/fuzz/corpus + manifest.json) as data for the tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FUZZ_DIR = Path(__file__).resolve().parent
CORPUS_DIR = FUZZ_DIR / "corpus"
MANIFEST = json.loads((FUZZ_DIR / "manifest.json").read_text(encoding="utf-8"))
PROBE: str = MANIFEST["probe"]
NOW_S: float = float(MANIFEST["now_s"])


@dataclass(frozen=True)
class CorpusCase:
    name: str
    topic: str  # "data" or "status"
    payload: bytes
    expect: dict[str, Any]
    burst: bool  # among the most expensive to decode (used by the liveness test)

    @property
    def whole_message_reason(self) -> str | None:
        return self.expect.get("rejected")

    @property
    def record_rejections(self) -> list[tuple[int, str]]:
        """`[index, reason]` per refused record; `[first, reason, count]` is a run of
        `count` consecutive records refused for the same reason."""
        expanded: list[tuple[int, str]] = []
        for first, reason, *count in self.expect.get("record_rejections", []):
            expanded += [(first + offset, reason) for offset in range(count[0] if count else 1)]
        return expanded


def corpus_cases() -> list[CorpusCase]:
    return [
        CorpusCase(
            name=case["file"].removesuffix(".json"),
            topic=case["topic"],
            payload=(CORPUS_DIR / case["file"]).read_bytes(),
            expect=case["expect"],
            burst=bool(case.get("burst", False)),
        )
        for case in MANIFEST["cases"]
    ]
