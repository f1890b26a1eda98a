"""Write-behind: one batch at a time goes to InfluxDB on a worker thread while the ingest
thread decodes the next one.

A write spends most of its time waiting for InfluxDB (another process) to parse and
store the lines, and the waiting thread does not hold the GIL: with the write on its
own thread, decoding and storing overlap instead of taking turns (docs/performance.md
has the figures). Everything else stays on the ingest thread: MQTT (paho is not
thread-safe), the observers and the acknowledgements, which follow a finished write in
batch order. At most one write is in flight, so batches reach InfluxDB, the observers
and the broker in the order they were filled.

A batch filled while a slow write was in flight can hold more than `max_lines` lines; it
is written in requests of at most `max_lines`, in order, so no request grows past what
InfluxDB accepts in one body (`max-body-size`, 25 MB by default: HTTP 413 otherwise).

With more than one writer (each with its own connection), the reading lines of a batch
are split by probe over the writers and written at the same time: InfluxDB handles one
request per connection at a time, and a request spends part of its time waiting for the
WAL's fsync. A probe's readings always go to the same writer, so two writes of the same
point (a redelivered message) still reach InfluxDB in batch order, and the whole batch
is written before the next one starts. Everything that is not a reading line
(sequence marks, rejections, statistics, status) goes with the first writer.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from itertools import chain

from gwmon.ingest._batch import Batch
from gwmon.storage import LineBuffer, StoreWriter, WriteResult


class WriteBehind:
    """Runs `writer.write` for one batch at a time on a worker thread (and the other
    writers' parts on threads of their own). Only the workers use the writers (and their
    clients' sessions) while a write is in flight."""

    def __init__(
        self,
        writer: StoreWriter,
        *,
        max_lines: int,
        more_writers: Sequence[StoreWriter] = (),
        min_split_lines: int = 2_000,
    ) -> None:
        if max_lines < 1:
            msg = f"max_lines must be at least 1, not {max_lines}"
            raise ValueError(msg)
        self._writer = writer
        self._writers = (writer, *more_writers)
        self._max_lines = max_lines
        self._min_split_lines = min_split_lines
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gwmon-ingest-write")
        # The other writers' parts of a batch, while the batch thread writes the first.
        self._parts = (
            ThreadPoolExecutor(len(more_writers), thread_name_prefix="gwmon-ingest-part")
            if more_writers
            else None
        )
        self._batch: Batch | None = None
        self._future: Future[WriteResult] | None = None

    @property
    def busy(self) -> bool:
        """A write is in flight or finished and not yet taken with `finished()`."""
        return self._future is not None

    def start(self, batch: Batch) -> None:
        if self._future is not None:
            msg = "a write is already in flight"
            raise RuntimeError(msg)
        self._batch = batch
        self._future = self._pool.submit(self._write_batch, batch)

    def wait_until_done(self, timeout_s: float) -> None:
        """Block up to `timeout_s` for the write in flight to end (no-op when idle)."""
        future = self._future
        if future is not None:
            wait([future], timeout=timeout_s)

    def _write_batch(self, batch: Batch) -> WriteResult:
        parts = self._split(batch)
        if parts is None or self._parts is None:
            return self._write(self._writer, batch.lines)
        futures = [
            self._parts.submit(self._write_part, writer, batch.lines, ranges)
            for writer, ranges in zip(self._writers[1:], parts[1:], strict=True)
        ]
        results = [self._write_part(self._writer, batch.lines, parts[0])]
        results += [future.result() for future in futures]  # re-raises StoreUnavailable
        refused: dict[int, str] = {}
        for result in results:
            refused.update(result.refused)
        if refused:
            # By one writer: the times of `rejected` points are unique per writer only.
            self._writer.record_refusals(batch.lines, refused)
        return WriteResult(refused, sum(result.failed_requests for result in results))

    def _split(self, batch: Batch) -> list[list[tuple[int, int]]] | None:
        """Per writer, the (start, end) ranges of `batch.lines` it writes, or None when
        the batch is small or its readings are all of one writer's probes."""
        count = len(self._writers)
        if count == 1 or batch.reading_count < self._min_split_lines:
            return None
        parts: list[list[tuple[int, int]]] = [[] for _ in range(count)]
        position = 0
        for first, columns in batch.packs:
            if position < first:
                parts[0].append((position, first))  # lines that are not readings
            position = first + len(columns)
            # crc32, not hash(): the same probe goes to the same writer in every process.
            parts[zlib.crc32(columns.probe.encode()) % count].append((first, position))
        if position < len(batch.lines):
            parts[0].append((position, len(batch.lines)))
        return parts if sum(1 for part in parts if part) > 1 else None

    def _write_part(
        self, writer: StoreWriter, lines: Sequence[str], ranges: list[tuple[int, int]]
    ) -> WriteResult:
        """Write lines[start:end] of every range; refusals as indices into `lines`."""
        if not ranges:
            return WriteResult({}, 0)
        part = (
            lines.take(ranges)
            if isinstance(lines, LineBuffer)
            else list(chain.from_iterable(lines[start:end] for start, end in ranges))
        )
        result = self._write(writer, part, record_refusals=False)
        if not result.refused:
            return result
        index_of = list(chain.from_iterable(range(start, end) for start, end in ranges))
        refused = {index_of[index]: reason for index, reason in result.refused.items()}
        return WriteResult(refused, result.failed_requests)

    def _write(
        self, writer: StoreWriter, lines: Sequence[str], *, record_refusals: bool = True
    ) -> WriteResult:
        if len(lines) <= self._max_lines:
            return writer.write(lines, record_refusals=record_refusals)
        refused: dict[int, str] = {}
        failed = 0
        for start in range(0, len(lines), self._max_lines):
            part = writer.write(
                lines[start : start + self._max_lines], record_refusals=record_refusals
            )
            refused.update({start + index: reason for index, reason in part.refused.items()})
            failed += part.failed_requests
        return WriteResult(refused, failed)

    def finished(self) -> tuple[Batch, WriteResult] | None:
        """The batch and its result once its write is done (then the writer is free
        again), else None. Re-raises what the write raised (`StoreUnavailable`)."""
        future, batch = self._future, self._batch
        if future is None or batch is None or not future.done():
            return None
        self._future = self._batch = None
        return batch, future.result()

    def wait(self) -> tuple[Batch, WriteResult] | None:
        """Like `finished()`, but waits for the write in flight to end."""
        if self._future is not None:
            self._future.exception()  # blocks until done; finished() re-raises
        return self.finished()

    def close(self) -> None:
        """Wait for a write in flight to end and stop the workers."""
        self._pool.shutdown(wait=True)
        if self._parts is not None:
            self._parts.shutdown(wait=True)
