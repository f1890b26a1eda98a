"""Unit test of the ingest's write logic with a fake store (logic only; the real server
paths are in test_ingest_service.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from gwmon.ingest import IngestService, StoreWriteError, load_config, load_registry

REPO_ROOT = Path(__file__).resolve().parent.parent


class LineRefusingStore:
    """Refuses, like InfluxDB's HTTP 400 'unable to parse', any batch with a BAD line."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.requests = 0

    def write_with_retry(
        self,
        lines: Sequence[str],
        *,
        wait: Callable[[float], None] = lambda _: None,
        give_up_after_s: float | None = None,
    ) -> None:
        self.requests += 1
        if any(line.startswith("BAD") for line in lines):
            raise StoreWriteError("unable to parse 'BAD'", retryable=False, status=400)
        self.written.extend(lines)

    def close(self) -> None:
        pass


def test_a_line_influxdb_cannot_parse_is_isolated_and_the_rest_is_written(tmp_path: Path) -> None:
    (tmp_path / "gwmon.toml").write_text(
        f'[registry]\npath = "{REPO_ROOT / "examples" / "registry-wertvoll.csv"}"\n'
    )
    config = load_config(tmp_path / "gwmon.toml")
    store = LineRefusingStore()
    service = IngestService(config, load_registry(config.registry_path), store=store)  # type: ignore[arg-type]
    lines = [f"m value={i} {i}" for i in range(16)]
    lines[5] = "BAD line"
    service._write(lines)
    good = [line for line in lines if "BAD" not in line]
    refusals = [line for line in store.written if line.startswith("rejected,")]
    assert [line for line in store.written if line.startswith("m ")] == good
    assert len(refusals) == 1 and "store_refused" in refusals[0] and "BAD line" in refusals[0]
    assert service.counters.write_errors == 5  # 16 -> 8 -> 4 -> 2 -> 1: one refusal per level
    assert service.rejected_by_reason == {"store_refused": 1}
