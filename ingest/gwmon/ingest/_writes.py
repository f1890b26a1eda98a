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
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from gwmon.ingest._batch import Batch
from gwmon.storage import StoreWriter, WriteResult


class WriteBehind:
    """Runs `writer.write` for one batch at a time on a worker thread. Only the worker
    uses the writer (and its client's session) while a write is in flight."""

    def __init__(self, writer: StoreWriter, *, max_lines: int) -> None:
        if max_lines < 1:
            msg = f"max_lines must be at least 1, not {max_lines}"
            raise ValueError(msg)
        self._writer = writer
        self._max_lines = max_lines
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gwmon-ingest-write")
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
        self._future = self._pool.submit(self._write, batch.lines)

    def wait_until_done(self, timeout_s: float) -> None:
        """Block up to `timeout_s` for the write in flight to end (no-op when idle)."""
        future = self._future
        if future is not None:
            wait([future], timeout=timeout_s)

    def _write(self, lines: Sequence[str]) -> WriteResult:
        if len(lines) <= self._max_lines:
            return self._writer.write(lines)
        refused: dict[int, str] = {}
        failed = 0
        for start in range(0, len(lines), self._max_lines):
            part = self._writer.write(lines[start : start + self._max_lines])
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
        """Wait for a write in flight to end and stop the worker."""
        self._pool.shutdown(wait=True)
