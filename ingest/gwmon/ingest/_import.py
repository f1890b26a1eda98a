"""`gwmon import`: loggers' CSV exports and earlier systems' dumps into InfluxDB through
the same decoder, contract and write policy as `gwmon run` (docs/import.md).

Plain rows arrive decoded column by column, every other row as a SenML pack that
`decode_columns` decodes exactly as a probe's message (`_import_csv`: both ways give the
same readings); derived levels are added, lines are built through the contract
(`SeriesLines`) and written by the one `StoreWriter` behind a `WriteBehind`. Observers
(analytics, when `gwmon import` builds it) see every written batch as in `gwmon run`.
Re-importing a file writes the same points again (measurement, tags, time, value), which
stores nothing new. Every row that is not stored is a `RowProblem` with its line.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from gwmon.ingest._batch import Batch, StoredReadings
from gwmon.ingest._bounded import PayloadRejected
from gwmon.ingest._config import GwmonConfig
from gwmon.ingest._derive import with_derived
from gwmon.ingest._import_csv import PACK_MAX_BYTES, CsvPack, CsvReader, RowProblem
from gwmon.ingest._import_plain import PlainRows
from gwmon.ingest._observer import BatchObserver
from gwmon.ingest._pack import PackColumns, decode_columns
from gwmon.ingest._registry import Probe, Registry
from gwmon.ingest._storage import SeriesLines
from gwmon.ingest._writes import WriteBehind
from gwmon.storage import STORE_REFUSED, LineSink, StoreWriter, WriteResult

IMPORT_WRITER = "gwmon-import"  # rejected.ingestor of points InfluxDB refused in an import
# Lines per write of an import (`gwmon import --batch-size`): a bulk load spends less of
# InfluxDB's and its own time per point in fewer, larger requests than `gwmon run`'s
# (docs/performance.md); 20,000 lines are about 3 MB, far below InfluxDB's 25 MB limit.
IMPORT_BATCH_LINES = 20_000
MAX_IMPORT_BATCH_LINES = 100_000


@dataclass
class ImportSummary:
    """What an import did. `readings` counts stored values (derived levels included)."""

    rows: int = 0
    readings: int = 0
    derived: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    write_errors: int = 0
    seconds: float = 0.0
    checked_only: bool = False

    @property
    def skipped(self) -> int:
        return sum(self.problems.values())


@dataclass
class _Pending:
    """A batch with the file's line number of each of its lines (all reading lines)."""

    batch: Batch = field(default_factory=Batch)
    lines: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


class Importer:
    """Imports one file at a time; see the module docstring. Not thread-safe."""

    def __init__(
        self,
        config: GwmonConfig,
        registry: Registry,
        store: LineSink,
        *,
        observers: Sequence[BatchObserver] = (),
        timezone: tzinfo | None = None,
        clock: Callable[[], float] = time.time,
        plain: bool = True,
        batch_lines: int | None = None,
    ) -> None:
        self.config = config
        # None: [influxdb] batch_size, as gwmon run writes
        self.batch_lines = batch_lines or config.influxdb.batch_size
        self.plain = plain  # False: every row the careful way (`CsvReader`)
        self.registry = registry
        self.observers = list(observers)
        self.timezone = timezone
        self.clock = clock
        self._store = store
        self._series: dict[str, SeriesLines] = {}
        self._stop = threading.Event()

    def stop(self) -> None:
        """Stop retrying an unavailable InfluxDB (thread-safe): `run` then raises
        `StoreUnavailable`; what was written stays, and importing again is harmless."""
        self._stop.set()

    def run(
        self,
        path: Path,
        *,
        check_only: bool = False,
        on_problem: Callable[[RowProblem], None] = lambda problem: None,
        on_progress: Callable[[int], None] = lambda bytes_read: None,
    ) -> ImportSummary:
        """Import `path`; `check_only` decodes everything and writes nothing. Raises
        `ImportFileError` when the file cannot be used at all."""
        started = time.monotonic()
        summary = ImportSummary(checked_only=check_only)

        def problem(found: RowProblem) -> None:
            summary.problems[found.reason] += 1
            on_problem(found)

        reader = CsvReader(
            path,
            self.registry,
            timezone=self.timezone,
            on_problem=problem,
            clock=self.clock,
            future_margin_s=self.config.ingest.future_margin_s,
            plain=self.plain,
        )
        writes = WriteBehind(
            StoreWriter(
                self._store,
                writer=IMPORT_WRITER,
                max_retry_interval_s=self.config.influxdb.max_retry_interval_s,
                wait=self._pause,
                should_stop=self._stop.is_set,
                rejected_payload_max_chars=self.config.ingest.rejected_payload_max_chars,
                clock=self.clock,
            ),
            max_lines=self.batch_lines,
        )
        in_flight: _Pending | None = None
        pending = _Pending()
        try:
            for pack in reader.packs():
                self._add(pack, pending, summary, problem)
                on_progress(reader.bytes_read)
                if len(pending.batch.lines) >= self.batch_lines:
                    in_flight = self._hand_over(writes, in_flight, pending, summary, problem)
                    pending = _Pending()
            in_flight = self._hand_over(writes, in_flight, pending, summary, problem)
            self._finish(writes, in_flight, summary, problem)
        finally:
            writes.close()
        summary.rows = reader.rows
        summary.seconds = time.monotonic() - started
        on_progress(reader.bytes_read)
        return summary

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _add(
        self,
        pack: CsvPack | PlainRows,
        pending: _Pending,
        summary: ImportSummary,
        problem: Callable[[RowProblem], None],
    ) -> None:
        if isinstance(pack, PlainRows):
            self._add_columns(pack.probe, pack.columns, (pack.lines, pack.texts), pending, summary)
            return
        probe = pack.probe
        try:
            columns = decode_columns(
                probe.probe_id,
                pack.payload,
                now_s=self.clock(),
                future_margin_s=self.config.ingest.future_margin_s,
                max_bytes=PACK_MAX_BYTES,
            )
        except PayloadRejected as exc:  # rows are built to be valid SenML; not expected
            for line, text in zip(pack.lines, pack.texts, strict=True):
                problem(RowProblem(line, exc.reason, exc.detail, text))
            return
        for rejection in columns.rejections:
            index = rejection.index
            problem(
                RowProblem(pack.lines[index], rejection.reason, rejection.detail, pack.texts[index])
            )
        refused = {rejection.index for rejection in columns.rejections}
        if refused:
            kept = [index for index in range(len(pack.lines)) if index not in refused]
            lines = [pack.lines[index] for index in kept]
            texts = [pack.texts[index] for index in kept]
        else:
            lines, texts = pack.lines, pack.texts
        self._add_columns(probe, columns, (lines, texts), pending, summary)

    def _add_columns(
        self,
        probe: Probe,
        columns: PackColumns,
        rows: tuple[list[int], list[str]],
        pending: _Pending,
        summary: ImportSummary,
    ) -> None:
        """Reading i of `columns` is the row on line `rows[0][i]`, `rows[1][i]`."""
        lines, texts = rows
        derived = with_derived(probe, columns)
        summary.derived += len(derived) - len(columns)
        series = self._series.get(probe.probe_id)
        if series is None:
            series = self._series[probe.probe_id] = SeriesLines(probe)
        pending.batch.add_readings(derived, series.reading_lines(derived))
        if derived is columns:
            pending.lines += lines
            pending.texts += texts
            return
        # The line number of each reading line: a derived level has its depth's row.
        record = -1
        for name, quantity in zip(derived.record_names, derived.quantities, strict=True):
            if not (name == "depth" and quantity == "level"):
                record += 1
            pending.lines.append(lines[record])
            pending.texts.append(texts[record])

    def _hand_over(
        self,
        writes: WriteBehind,
        in_flight: _Pending | None,
        pending: _Pending,
        summary: ImportSummary,
        problem: Callable[[RowProblem], None],
    ) -> _Pending | None:
        """Wait for the write in flight, then start `pending`'s (unless there is none)."""
        self._finish(writes, in_flight, summary, problem)
        if summary.checked_only:
            summary.readings += pending.batch.reading_count  # what would be stored
            return None
        if not pending.batch.lines:
            return None
        writes.start(pending.batch)
        return pending

    def _finish(
        self,
        writes: WriteBehind,
        in_flight: _Pending | None,
        summary: ImportSummary,
        problem: Callable[[RowProblem], None],
    ) -> None:
        done = writes.wait() if in_flight is not None else None
        if in_flight is not None and done is not None:
            self._after_write(in_flight, *done, summary, problem)

    def _after_write(
        self,
        pending: _Pending,
        batch: Batch,
        result: WriteResult,
        summary: ImportSummary,
        problem: Callable[[RowProblem], None],
    ) -> None:
        summary.batches += 1
        summary.write_errors += result.failed_requests
        reported: set[int] = set()
        for index, detail in sorted(result.refused.items()):
            line = pending.lines[index]
            if line not in reported:  # a depth and its level are one row
                reported.add(line)
                problem(RowProblem(line, STORE_REFUSED, detail[:300], pending.texts[index]))
        readings = StoredReadings(batch, result.refused)
        summary.readings += len(readings)
        for observer in self.observers:
            observer.batch_stored(readings)
