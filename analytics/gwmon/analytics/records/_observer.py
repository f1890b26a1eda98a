"""Keeps the corrected series complete inside `gwmon run`.

A series with correction operations has a complete `reading_corrected` series; readings
that arrive after an operation was added (new data, a probe's backfill) must get their
corrected point too. This `BatchObserver` writes one for every stored reading of such a
series, with the operations it knows, and reads the operations every `[records]
poll_interval_s`: a series it sees for the first time is recomputed whole, a changed
operation over its period (the command that changed it did so already; doing it again
here covers readings this process mirrored with the old operations meanwhile). A write
that fails is remembered and its period recomputed at the next poll.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from gwmon.analytics.records._corrections import recompute
from gwmon.analytics.records._model import Correction, RawValue, correct_one, in_order
from gwmon.analytics.records._store import RawReading, RecordsStore, corrected_point
from gwmon.ingest import Reading, Registry
from gwmon.storage import InfluxClient, Point, StoreError

logger = logging.getLogger("gwmon.analytics.records.observer")

SeriesKey = tuple[str, str]  # (probe, quantity)
WRITER = "gwmon-corrected-series"


class CorrectedSeriesObserver:
    """The corrected-series mirror of `gwmon run` (see the module docstring). All calls
    come from the ingest's thread (`gwmon.ingest.BatchObserver`)."""

    # The ingest may write its next batch while `batch_stored` runs: this observer
    # writes points derived from the batch alone, through a client of its own.
    overlaps_next_write = True

    def __init__(
        self,
        client: InfluxClient,
        registry: Registry,
        *,
        poll_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = RecordsStore(client, writer=WRITER)
        self._registry = registry
        self._poll_interval_s = poll_interval_s
        self._clock = clock
        self._next_poll = clock() + poll_interval_s
        self._states: dict[str, tuple[str, Correction]] = {}  # id -> (state, operation)
        self._active: dict[SeriesKey, list[Correction]] = {}
        # Periods to recompute at the next poll; None: the whole series.
        self._pending: dict[SeriesKey, tuple[int, int] | None] = {}
        self.points_written = 0
        # The operations are first read at the first tick or batch, not here: `gwmon run`
        # builds this before its signal handlers are in place, and a hung InfluxDB must
        # not hold the start-up. While they cannot be read, the spans of the readings
        # seen are kept, so that what arrived meanwhile is mirrored by a recompute.
        self._adopted = False
        self._seen_before_adoption: dict[SeriesKey, tuple[int, int]] = {}
        self._next_poll = clock()

    @property
    def corrected_series(self) -> frozenset[SeriesKey]:
        """The series with operations: those whose readings are mirrored."""
        return frozenset(self._active)

    def _adopt(self, operations: Sequence[Correction]) -> None:
        active: dict[SeriesKey, list[Correction]] = {}
        for operation in operations:
            self._states[operation.correction_id] = (operation.state.value, operation)
            active.setdefault((operation.probe, operation.quantity), [])
        for key in active:
            active[key] = in_order(
                c for c in operations if (c.probe, c.quantity) == key and c.active
            )
        self._active = active

    # -- BatchObserver -----------------------------------------------------------------------------
    def batch_stored(self, readings: Sequence[Reading]) -> None:
        if not self._adopted:
            self._try_first_adoption()
        if not self._adopted:  # InfluxDB unreadable: remember what to recompute later
            for reading in readings:
                key = (reading.probe, reading.quantity)
                low, high = self._seen_before_adoption.get(key, (reading.time_ns, reading.time_ns))
                self._seen_before_adoption[key] = (
                    min(low, reading.time_ns),
                    max(high, reading.time_ns),
                )
            return
        if not self._active:
            # No corrected series at all (the usual case): do not even look, so the
            # ingest's lazily made Readings are not made for this observer.
            return
        points: list[Point] = []
        spans: dict[SeriesKey, tuple[int, int]] = {}
        for reading in readings:
            key = (reading.probe, reading.quantity)
            operations = self._active.get(key)
            probe = self._registry.get(reading.probe)
            if operations is None or probe is None:
                continue
            raw = RawValue(reading.time_ns, reading.value, reading.censored)
            stored = RawReading(raw, site=probe.site, municipality=probe.municipality)
            points.append(
                corrected_point(
                    reading.probe, reading.quantity, stored, correct_one(raw, operations)
                )
            )
            low, high = spans.get(key, (reading.time_ns, reading.time_ns))
            spans[key] = (min(low, reading.time_ns), max(high, reading.time_ns))
        if not points:
            return
        try:
            self.points_written += self._store.write(points)
        except StoreError as exc:
            logger.warning("corrected points not written (%s); recomputed at the next poll", exc)
            for key, span in spans.items():
                self._remember(key, span)

    def tick(self, now_s: float) -> None:
        if self._clock() < self._next_poll:
            return
        self._next_poll = self._clock() + self._poll_interval_s
        if not self._adopted:
            self._try_first_adoption()
            return
        try:
            self.poll()
        except StoreError as exc:
            logger.warning(
                "correction operations not read (%s); next poll in %.0f s",
                exc,
                self._poll_interval_s,
            )

    def close(self) -> None:
        """Nothing to flush: every point is written with its batch."""

    # -- polling ----------------------------------------------------------------------------------
    def _try_first_adoption(self) -> None:
        """Read the operations once; recompute only what arrived before this read."""
        try:
            operations = self._store.corrections()
        except StoreError as exc:
            logger.warning("correction operations not readable yet (%s); trying again", exc)
            return
        self._adopt(operations)
        self._adopted = True
        for key, span in self._seen_before_adoption.items():
            if key in self._active:
                self._remember(key, span)
        self._seen_before_adoption.clear()
        try:
            self._recompute_pending()
        except StoreError as exc:  # the pending periods stay for the next poll
            logger.warning("corrected series not recomputed yet (%s)", exc)

    def _remember(self, key: SeriesKey, span: tuple[int, int] | None) -> None:
        if key in self._pending:
            known = self._pending[key]
            if known is None or span is None:
                span = None
            else:
                span = (min(known[0], span[0]), max(known[1], span[1]))
        self._pending[key] = span

    def poll(self) -> None:
        """Read the operations; recompute what changed since the last poll."""
        operations = self._store.corrections()
        for operation in operations:
            key = (operation.probe, operation.quantity)
            known = self._states.get(operation.correction_id)
            if key not in self._active:
                self._remember(key, None)  # a series seen for the first time: all of it
            elif known is None or known[0] != operation.state.value:
                self._remember(key, (operation.from_ns, operation.to_ns))
        self._adopt(operations)
        self._recompute_pending()

    def _recompute_pending(self) -> None:
        for key, span in list(self._pending.items()):
            from_ns, to_ns = (None, None) if span is None else span
            done = recompute(self._store, key[0], key[1], from_ns, to_ns)
            self.points_written += done.points
            del self._pending[key]
