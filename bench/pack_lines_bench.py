"""In-process: the ingest's CPU per reading for the side-by-side bench's packs of 96,
step by step: decode (`decode_columns`), reading lines, request bodies of 5,000 lines.

Runs with the current tree or an older one put first on `PYTHONPATH` (before the
reading lines became one block of text per message, `SeriesLines.reading_block`, the
lines were a list of `str` and a body their join, encoded). Best of `--repeat` runs,
CPU time of this process.

    .venv/bin/python -m bench.pack_lines_bench [--messages 100] [--repeat 9]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench._loads import DEMO_REGISTRY, PACK_READINGS, make_load, read_registry

from gwmon.ingest._derive import with_derived
from gwmon.ingest._pack import decode_columns
from gwmon.ingest._registry import Probe, load_registry
from gwmon.ingest._storage import SeriesLines

BATCH_LINES = 5_000


def run(messages: list[tuple[Probe, bytes]], now: float) -> tuple[float, float, float]:
    """ns per reading of the decode, the lines and the bodies, one pass over `messages`."""
    count = len(messages) * PACK_READINGS
    series: dict[str, SeriesLines] = {}
    started = time.process_time()
    decoded = [
        (probe, with_derived(probe, decode_columns(probe.probe_id, payload, now_s=now)))
        for probe, payload in messages
    ]
    decoded_at = time.process_time()
    made: list[object] = []
    for probe, columns in decoded:
        lines = series.get(probe.probe_id)
        if lines is None:
            lines = series[probe.probe_id] = SeriesLines(probe)
        block: Callable[..., object] | None = getattr(lines, "reading_block", None)
        made.append(block(columns) if block is not None else lines.reading_lines(columns))
    lines_at = time.process_time()
    _bodies(made)
    done = time.process_time()
    return (
        1e9 * (decoded_at - started) / count,
        1e9 * (lines_at - decoded_at) / count,
        1e9 * (done - lines_at) / count,
    )


def _bodies(made: list[object]) -> list[bytes]:
    if made and isinstance(made[0], bytes):
        from gwmon.storage import LineBuffer  # noqa: PLC0415 - only in trees that have it

        buffer = LineBuffer()
        for block in made:
            buffer.add_block(block, PACK_READINGS)  # type: ignore[arg-type]
        return [
            buffer[start : start + BATCH_LINES].body()  # type: ignore[attr-defined]
            for start in range(0, len(buffer), BATCH_LINES)
        ]
    lines = [line for pack in made for line in pack]  # type: ignore[attr-defined]
    return [
        "\n".join([*lines[start : start + BATCH_LINES], ""]).encode()
        for start in range(0, len(lines), BATCH_LINES)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100, help="packs per probe (8 probes)")
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    registry = load_registry(DEMO_REGISTRY)
    with tempfile.TemporaryDirectory(prefix="gwmon-pack-lines-") as tmp:
        load = make_load("pack96", read_registry()[:8], args.messages, Path(tmp))
        messages = []
        for path, topic in zip(load.files, load.topics, strict=True):
            probe = registry.get(topic.split("/")[2])
            if probe is None:
                raise SystemExit(f"{topic}: not a probe of {DEMO_REGISTRY}")
            messages += [(probe, payload) for payload in path.read_bytes().splitlines()]
    now = time.time()
    runs = [run(messages, now) for _ in range(args.repeat)]
    decode, lines, bodies = (min(run[step] for run in runs) for step in range(3))
    print(
        f"{len(messages) * PACK_READINGS:,} readings, best of {args.repeat}, ns/reading: "
        f"decode {decode:.0f}, lines {lines:.0f}, bodies {bodies:.0f}, "
        f"together {decode + lines + bodies:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
