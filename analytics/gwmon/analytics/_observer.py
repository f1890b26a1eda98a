"""The analytics stage inside `gwmon run`: a `gwmon.ingest.BatchObserver`.

Ordering design (docs/quality-control.md, "Late and duplicate readings"): per probe the
observer retains every reading of the last `reorder_horizon_s` (measurement time,
behind the probe's newest reading) with its flags, in the state file (loaded for a batch
that needs them), plus a snapshot of the evaluator's state just before the oldest
retained reading (`base`, in the state file too: the track keeps its position) and the
checkpoints a prune moves `base` to (in the state file only). Readings newer than
everything evaluated so far are simply fed on (the live path, `_feed_in_order`). A
reading that lands before the newest one evaluated makes the observer replay the probe
from `base` through the retained readings in (time, quantity) order; the resulting flags
and alarm episodes are compared with what was stored before, and only the differences
are written and announced. Hence the alarms are a function of the set of readings, not
of their arrival order. Exact duplicates change nothing. Readings older than the
horizon are stored by the ingest but cannot change alarms any more (counted as
`too_late`).

Alerts are the `AlertBook`'s (`self.book`); what a batch changes is committed to the
state file at once and then delivered (`_delivery.py`).
"""

from __future__ import annotations

import json
import logging
import threading
from bisect import bisect_left
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from operator import attrgetter
from typing import Any

from gwmon.analytics._book import AlertBook, StoredAlertBook
from gwmon.analytics._codec import to_datetime
from gwmon.analytics._compiled import plans_of
from gwmon.analytics._delivery import Delivery, QcWithdrawal, qc_point
from gwmon.analytics._detectors import DetectorRegistry, default_detectors
from gwmon.analytics._engine import Flag, ProbeEvaluator
from gwmon.analytics._history import Entry, Track, derived_from_name, flags_json
from gwmon.analytics._model import Alert, AlertKind, AlertListener
from gwmon.analytics._quiet import QUIET_MIN_ROWS, feed_quiet, quiet_run
from gwmon.analytics._rows import (
    ARRIVAL,
    Row,
    all_after,
    readings_of_columns,
    rows_of_columns,
    rows_of_readings,
)
from gwmon.analytics._settings import (
    AnalyticsSettings,
    load_settings,
)
from gwmon.analytics._state import Changes, StateStore
from gwmon.analytics._stats import AnalyticsStats
from gwmon.ingest import (
    ColumnarReadings,
    GwmonConfig,
    Probe,
    Reading,
    ReadingColumns,
    Registry,
)
from gwmon.storage import InfluxClient, StoreError, StoreWriter

logger = logging.getLogger("gwmon.analytics.observer")

_NS = 1_000_000_000


def _writer(client: InfluxClient, config: GwmonConfig) -> StoreWriter:
    # Never wait for InfluxDB here (on the ingest's thread, or a mail thread): what it
    # does not take stays in the outbox for the next batch or tick.
    return StoreWriter(client, writer=config.mqtt.client_id, should_stop=lambda: True)


# The order the evaluator sees a probe's readings in; ties (one reading twice in a
# batch) by arrival, so the last to arrive is the one kept, as InfluxDB does.
_ORDER = attrgetter("time_ns", "quantity", "arrival_ns")


class AnalyticsObserver:
    """QC flags, alarms and the alert lifecycle, fed by the ingest (see module docstring).

    `batch_stored`, `tick` and `close` run on the ingest's thread; `book` (and
    `acknowledge`, `open_alerts`, `alerts`, `add_listener`) may be used from any thread.
    """

    # Readings that all lie after everything evaluated take `_feed_in_order`; False sends
    # them through `_retain` and `_feed_live` like the others (the careful path, which
    # tests compare the fast one with).
    in_order_fast_path = True
    # Within that path, readings the evaluator finds to flag nothing are fed per quantity
    # and detector (`_quiet.quiet_run`); False feeds them one by one (tests
    # compare the two).
    quiet_runs = True
    # Fewer rows of a probe in a batch are fed one by one (cheaper; tests lower it).
    quiet_min_rows = QUIET_MIN_ROWS
    # The ingest may write its next batch while `batch_stored` runs (`IngestService`):
    # the observer reads no readings from InfluxDB, and `store` is then not a writer's.
    overlaps_next_write = True

    def __init__(
        self,
        config: GwmonConfig,
        registry: Registry,
        store: InfluxClient,
        *,
        settings: AnalyticsSettings | None = None,
        detectors: DetectorRegistry | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.settings = settings or load_settings(config)
        self.detectors = detectors or default_detectors()
        plans = plans_of(config, registry, self.settings, self.detectors)
        self.store = store
        self._writer = _writer(store, config)
        self._stored = StoredAlertBook(store, writer=config.mqtt.client_id)
        self._ack_store: InfluxClient | None = None
        self._ack_writer: StoreWriter | None = None
        self._lock = threading.RLock()
        self._listeners: list[AlertListener] = []
        self.stats = AnalyticsStats()
        self.book = AlertBook(write_lock=self._lock, persist=self._persist_elsewhere)
        self._horizon_ns = int(self.settings.reorder_horizon_s * _NS)
        self._tracks: dict[str, Track] = {}
        self._started_ns: int | None = None
        self._last_poll = 0.0
        self._closed = False
        # Probes' batches fed as quiet runs (tests check that the path is taken).
        self.quiet_batches = 0
        # [analytics] enabled = false (e.g. the other members of a shared subscription):
        # the observer accepts batches and does nothing; no state file is opened.
        self.enabled = self.settings.enabled
        if not self.enabled:
            self._closed = True
            logger.info("analytics disabled ([analytics] enabled = false)")
            return
        self._plans = plans
        self._state = StateStore(self.settings.resolved_state_dir(config))
        self._delivery = Delivery(self._state, self.stats)
        self._delivery.listeners = self._listeners
        self._load()

    # -- start-up ----------------------------------------------------------------------------
    def _load(self) -> None:
        self._tracks.clear()
        states = self._state.probe_states()
        # The retained readings stay in the state file until a batch needs them.
        spans = self._state.history_spans()
        for probe_id, plan in self._plans.items():
            base_pos, current, last_arrival = states.get(probe_id, (None, None, None))
            oldest, newest = spans.get(probe_id, (None, None))
            self._tracks[probe_id] = Track(
                plan=plan,
                base_pos=base_pos,
                current=ProbeEvaluator.from_snapshot(plan, current),
                last_arrival_ns=last_arrival,
                oldest=oldest,
                newest=newest,
            )
        self.book.load(self._state.alerts(), self._state.series())
        logger.info(
            "analytics state loaded from %s: %d probes, %d open alerts",
            self._state.path,
            len(self._tracks),
            self.book.open_count(),
        )

    # -- public API --------------------------------------------------------------------------
    def add_listener(self, listener: AlertListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def open_alerts(self) -> list[Alert]:
        return self.book.open_alerts()

    def alerts(self) -> list[Alert]:
        """Every alert the observer still keeps (open ones and recently resolved)."""
        return self.book.alerts()

    def acknowledge(
        self, alert_id: str, *, by: str, comment: str | None, at: datetime | None = None
    ) -> Alert:
        """`AlertBook.acknowledge` (thread-safe; KeyError for an unknown id; idempotent)."""
        return self.book.acknowledge(alert_id, by=by, comment=comment, at=at)

    # -- BatchObserver -----------------------------------------------------------------------
    def batch_stored(self, readings: Sequence[Reading]) -> None:
        if not self.enabled:
            return
        with self._lock:
            changes = Changes()
            # Per probe, made when its turn comes: its rows (from the ingest's columns: no
            # `Reading` per reading, issue 11) and its `Reading`s (for the careful path).
            groups: dict[str, tuple[Callable[[], list[Row]], Callable[[], list[Reading]]]] = {}
            if isinstance(readings, ColumnarReadings):
                packs: dict[str, list[ReadingColumns]] = {}
                for pack in readings.columns():
                    packs.setdefault(pack.probe, []).append(pack)
                for probe_id, group in packs.items():
                    groups[probe_id] = (
                        partial(rows_of_columns, group),
                        partial(readings_of_columns, group),
                    )
            else:
                by_probe: dict[str, list[Reading]] = {}
                for reading in readings:
                    by_probe.setdefault(reading.probe, []).append(reading)
                for probe_id, own in by_probe.items():
                    groups[probe_id] = (partial(rows_of_readings, own), partial(list, own))
            try:
                for probe_id, (rows_of, readings_of) in groups.items():
                    track = self._tracks.get(probe_id)
                    if track is None:
                        logger.warning("readings of probe %s not in the registry ignored", probe_id)
                        continue
                    self._process(track, rows_of(), readings_of, changes)
                self._commit(changes)
            except BaseException:
                # Keep memory equal to the state file: drop what was not committed. The
                # batch's readings are then not evaluated (they are safe in InfluxDB).
                logger.exception("analytics failed on a batch; state reloaded from disk")
                self._load()
                raise
            self._delivery.flush(self._writer, self.store)

    def tick(self, now_s: float) -> None:
        if not self.enabled:
            return
        with self._lock:
            now_ns = int(now_s * _NS)
            changes = Changes()
            if self._started_ns is None:
                self._started_ns = now_ns
            self._check_stale(now_ns, changes)
            if now_s - self._last_poll >= self.settings.ack_poll_interval_s:
                self._last_poll = now_s
                try:
                    self.book.adopt_stored(self._stored, self._tracks, changes)
                except StoreError as exc:
                    self.stats.store_errors += 1
                    logger.warning("cannot read alerts from InfluxDB (%s); will retry", exc)
            self._commit(changes)
            self._delivery.flush(self._writer, self.store)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._delivery.flush(self._writer, self.store)
            self._state.close()
            if self._ack_store is not None:
                self._ack_store.close()

    # -- committing ----------------------------------------------------------------------------
    def _commit(self, changes: Changes) -> None:
        self._state.commit(changes)
        self.book.publish()

    def _persist_elsewhere(self, changes: Changes) -> None:
        """Commit and deliver a change made on another thread (an acknowledgement)."""
        self._commit(changes)
        # InfluxClient is not thread-safe and the ingest uses `store` outside our lock:
        # use a client of our own (the lock serialises our use of it).
        if self._ack_store is None or self._ack_writer is None:
            self._ack_store = InfluxClient(self.store.settings)
            self._ack_writer = _writer(self._ack_store, self.config)
        self._delivery.flush(self._ack_writer, self._ack_store)

    # -- evaluation --------------------------------------------------------------------------
    def _process(
        self,
        track: Track,
        rows: list[Row],
        readings_of: Callable[[], list[Reading]],
        changes: Changes,
    ) -> None:
        """One probe's readings of a batch: as rows (sorted here), and as `Reading`s in
        arrival order from `readings_of` for the careful path."""
        probe = track.probe
        self.stats.readings += len(rows)
        last_arrival = max(map(ARRIVAL, rows))
        if track.last_arrival_ns is None or last_arrival > track.last_arrival_ns:
            track.last_arrival_ns = last_arrival
        self.book.resolve_stale(probe, min(map(ARRIVAL, rows)), changes)
        rows.sort()
        if self.in_order_fast_path and all_after(rows, track.current.pos):
            self._feed_in_order(track, rows, changes)
            self._prune(track, changes, rows)
        else:
            readings = readings_of()
            ordered = sorted(readings, key=_ORDER)
            self._load_series(track, changes, ())
            inserted, earliest = self._retain(track, ordered, changes)
            if earliest is not None:  # else only duplicates (or too late): arrival counts
                current = track.current
                if current.pos is None or earliest > current.pos:
                    self._feed_live(track, inserted, changes)
                else:
                    self._replay(track, changes)
                self._prune(track, changes, ())
        track.unload()
        changes.probes[probe.probe_id] = track.state_row()

    def _load_series(self, track: Track, changes: Changes, batch: Sequence[Row]) -> None:
        """Load the track's retained readings: the state file's rows and those this batch
        added (`batch`, fed in order, so after the file's rows of their quantity)."""
        if track.loaded:
            return
        probe_id = track.probe.probe_id
        changes.rows_of_quiet(probe_id)
        pending = [changes.history[(probe_id, row[1], row[0])] for row in batch]
        track.load([*self._state.history_of(probe_id), *pending])

    def _feed_in_order(self, track: Track, ordered: list[Row], changes: Changes) -> None:
        """Rows all after everything evaluated, in (time, quantity) order, no two at one
        (time, quantity): what `_retain` and `_feed_live` do for them, without looking
        anything up (none of them can be retained already) and without an `Entry`."""
        probe = track.probe
        probe_id = probe.probe_id
        current = track.current
        current.touched = {}
        history = changes.history
        feed = current.feed
        step = max(self._horizon_ns // 10, 1)
        pos = current.pos
        few = not self.quiet_runs or len(ordered) < self.quiet_min_rows
        quiet = None if few else quiet_run(current, ordered)
        if quiet is not None:
            feed_quiet(current, quiet, step, probe_id, changes)  # flags nothing: no lines
            changes.appended.add(probe_id)
            track.oldest = ordered[0][0] if track.oldest is None else track.oldest
            track.newest = ordered[-1][0]
            self.quiet_batches += 1
            self.book.reconcile(probe, current.touched, None, changes)
            return
        # A checkpoint is due before a reading at or after the next grid time past the
        # position: as `_checkpoint`, without the division per reading.
        next_checkpoint = None if pos is None else (pos[0] // step + 1) * step
        for time_ns, quantity, number, arrival_ns, censored, record_name in ordered:
            # Times only grow: the next grid time changes only when a reading reaches it.
            if next_checkpoint is None or time_ns >= next_checkpoint:
                if next_checkpoint is not None:
                    changes.add_checkpoint(
                        probe_id, time_ns // step * step, current.snapshot_json()
                    )
                next_checkpoint = (time_ns // step + 1) * step
            value = float(number)
            # `derived_from` without the call for the usual reading (named as its quantity)
            source = None if record_name == quantity else derived_from_name(quantity, record_name)
            flags = feed(
                time_ns, quantity, value, arrival_ns, censored=censored, derived_from=source
            )
            if flags:
                self._add_flag_lines(probe, quantity, time_ns, value, flags=flags, changes=changes)
                flags_text = flags_json(flags)
            else:
                flags_text = "[]"  # flags_json(())
            history[(probe_id, quantity, time_ns)] = (
                probe_id,
                quantity,
                time_ns,
                value,
                arrival_ns,
                flags_text,
                1 if censored else 0,
                source,
            )
        changes.appended.add(probe_id)  # all after its retained readings: runs may hold them
        if track.oldest is None:
            track.oldest = ordered[0][0]
        track.newest = ordered[-1][0]
        self.book.reconcile(probe, current.touched, None, changes)

    def _add_flag_lines(
        self,
        probe: Probe,
        quantity: str,
        time_ns: int,
        value: float,
        *,
        flags: tuple[Flag, ...],
        changes: Changes,
    ) -> None:
        """The `qc` points of a reading's flags."""
        withdrawn = False if self.settings.qc_withdrawal == "mark" else None
        for flag in flags:
            self.stats.flags += 1
            point = qc_point(probe, quantity, time_ns, value, flag, withdrawn=withdrawn)
            changes.add_line(point.to_line())

    def _retain(
        self, track: Track, readings: list[Reading], changes: Changes
    ) -> tuple[list[tuple[int, str]], tuple[int, str] | None]:
        """Put the readings (in `_ORDER`) into the track's history: the (time, quantity)
        of the new ones, and the earliest (time, quantity) that changed (None: nothing to
        evaluate)."""
        probe = track.probe
        base_pos = track.base_pos
        inserted: list[tuple[int, str]] = []
        earliest: tuple[int, str] | None = None
        for reading in readings:
            key = (reading.time_ns, reading.quantity)
            if base_pos is not None and key <= base_pos:
                self.stats.too_late += 1
                logger.info(
                    "reading %s %s at %s is older than the re-evaluation horizon; stored, "
                    "not evaluated",
                    probe.probe_id,
                    reading.quantity,
                    to_datetime(reading.time_ns).isoformat(),
                )
                continue
            series = track.series_of(reading.quantity)
            index = series.index_of(reading.time_ns)
            if index is not None:
                if series.same_reading(index, reading):
                    self.stats.duplicates += 1
                    continue
                series.replace(index, reading)
            else:
                series.insert(reading)
                inserted.append(key)
            entry = series.entry_at(reading.time_ns)
            changes.history[(probe.probe_id, entry.quantity, entry.time_ns)] = entry.row(probe)
            if earliest is None or key < earliest:
                earliest = key
        return inserted, earliest

    def _feed_live(self, track: Track, inserted: list[tuple[int, str]], changes: Changes) -> None:
        """Everything new lies after what was evaluated: feed it on."""
        current = track.current
        current.touched = {}
        for time_ns, quantity in sorted(inserted):
            # Read now: a later reading of the same batch may have replaced the value.
            entry = track.series[quantity].entry_at(time_ns)
            self._checkpoint(track, current, entry.time_ns, changes)
            self._set_flags(track.probe, entry, entry.feed(current), changes)
        self.book.reconcile(track.probe, current.touched, None, changes)

    def _replay(self, track: Track, changes: Changes) -> None:
        self.stats.replays += 1
        probe = track.probe
        evaluator = ProbeEvaluator.from_snapshot(track.plan, self._base_of(track))
        evaluator.touched = {}
        changes.drop_checkpoints(probe.probe_id)
        start_ns: int | None = None
        for entry in track.merged():
            if start_ns is None:
                start_ns = entry.time_ns
            self._checkpoint(track, evaluator, entry.time_ns, changes)
            flags = entry.feed(evaluator)
            self._set_flags(probe, entry, flags, changes)
        track.current = evaluator
        self.book.reconcile(probe, evaluator.touched, start_ns, changes)

    def _checkpoint(
        self, track: Track, evaluator: ProbeEvaluator, time_ns: int, changes: Changes
    ) -> None:
        """Before feeding a reading at `time_ns`: a snapshot at the grid time before it if
        the evaluator has not passed that time yet (the state file keeps it; a prune
        moves `base` to the newest one old enough, with or without a restart between)."""
        if evaluator.pos is None:
            return
        step = max(self._horizon_ns // 10, 1)
        boundary = time_ns // step * step
        if boundary > evaluator.pos[0]:
            changes.add_checkpoint(track.probe.probe_id, boundary, evaluator.snapshot_json())

    def _set_flags(
        self, probe: Probe, entry: Entry, flags: tuple[Flag, ...], changes: Changes
    ) -> None:
        old = {flag.flag: flag for flag in entry.flags}
        new = {flag.flag: flag for flag in flags}
        key = (probe.probe_id, entry.quantity, entry.time_ns)
        if old == new and not (flags and key in changes.history):
            return  # unchanged (a replaced value with flags must rewrite the qc value)
        # "mark" (InfluxDB 3 has no point-level DELETE): a withdrawn flag's point is
        # written again with withdrawn = true, and every flag carries withdrawn = false
        # (a rewrite must clear a former withdrawal: InfluxDB merges a point's fields).
        marking = self.settings.qc_withdrawal == "mark"
        for name in sorted(old.keys() - new.keys()):
            if marking:
                point = qc_point(
                    probe, entry.quantity, entry.time_ns, entry.value, old[name], withdrawn=True
                )
                changes.add_line(point.to_line())
            else:
                withdrawn = QcWithdrawal(probe.probe_id, entry.quantity, name, entry.time_ns)
                changes.add_qc_delete(withdrawn.to_body())
        self._add_flag_lines(
            probe, entry.quantity, entry.time_ns, entry.value, flags=flags, changes=changes
        )
        entry.keep_flags(flags)
        changes.history[key] = entry.row(probe)

    def _prune(self, track: Track, changes: Changes, batch: Sequence[Row]) -> None:
        """Move `base` past the readings older than the horizon and forget them. `batch`:
        the rows (sorted) this batch fed in order while the series were not loaded."""
        newest, oldest = track.newest_ns(), track.oldest_ns()
        if newest is None or oldest is None:
            return
        cutoff = newest - self._horizon_ns
        if oldest >= cutoff - self._horizon_ns // 10:
            return  # prune in chunks, not on every batch
        probe_id = track.probe.probe_id
        checkpoint = self._checkpoint_before(probe_id, cutoff, changes)
        if checkpoint is not None:
            cutoff, blob = checkpoint
            track.base_from_checkpoint(blob)
        else:  # e.g. a state file from before the checkpoints were kept: feed forward
            self._load_series(track, changes, batch)
            evaluator = ProbeEvaluator.from_snapshot(track.plan, self._base_of(track))
            for entry in track.merged(before_ns=cutoff):
                entry.feed(evaluator)
            track.set_base_json(json.dumps(evaluator.snapshot()))
        changes.cut_checkpoints(probe_id, cutoff)
        changes.history_cut.append((probe_id, cutoff))
        if track.loaded:
            for quantity, series in track.series.items():
                for time_ns in series.drop_before(cutoff):
                    changes.history.pop((probe_id, quantity, time_ns), None)
        else:
            # `batch` is sorted: its rows before the cutoff are those before (cutoff,).
            split = bisect_left(batch, (cutoff,))
            if split:
                changes.cut_quiet(probe_id, cutoff)
            for time_ns, quantity, *_ in batch[:split]:
                changes.history.pop((probe_id, quantity, time_ns), None)
            first_kept = batch[split][0] if split < len(batch) else None
            # The file's rows before the cutoff go at the commit; the batch's are after them.
            in_file = self._state.oldest_from(probe_id, cutoff)
            firsts = [t for t in (in_file, first_kept) if t is not None]
            track.oldest = min(firsts, default=None)
            if track.oldest is None:
                track.newest = None
        self.book.forget_resolved(probe_id, cutoff, changes)

    def _base_of(self, track: Track) -> dict[str, Any] | None:
        """The evaluator's state just before the oldest retained reading: the one a prune
        of this batch set, else the stored one."""
        text = track.new_base
        if text is None:
            text = self._state.base_of(track.probe.probe_id)
        data: dict[str, Any] | None = json.loads(text)
        return data

    def _checkpoint_before(
        self, probe_id: str, cutoff: int, changes: Changes
    ) -> tuple[int, bytes] | None:
        """The newest checkpoint at or before `cutoff`: of this batch, or stored (unless
        this batch's replay dropped the stored ones)."""
        pending = changes.checkpoints.get(probe_id, {})
        best = max((b for b in pending if b <= cutoff), default=None)
        stored = None
        if probe_id not in changes.checkpoints_dropped:
            stored = self._state.checkpoint_before(probe_id, cutoff)
        if stored is not None and (best is None or stored[0] > best):
            return stored
        return None if best is None else (best, pending[best])

    # -- stale probes ------------------------------------------------------------------------
    def _check_stale(self, now_ns: int, changes: Changes) -> None:
        assert self._started_ns is not None
        if now_ns - self._started_ns < self.settings.stale_startup_grace_s * _NS:
            return
        for probe_id, track in self._tracks.items():
            if self.book.is_open(probe_id, AlertKind.STALE):
                continue
            factor = track.plan.alarms["stale"]["factor"]
            assert isinstance(factor, int | float)
            limit_ns = int(track.probe.expected_interval_s * float(factor) * _NS)
            heard = track.last_arrival_ns is not None
            since = track.last_arrival_ns if track.last_arrival_ns is not None else self._started_ns
            if now_ns - since > limit_ns:
                self.book.open_stale(
                    track.probe,
                    since_ns=since,
                    heard=heard,
                    limit_ns=limit_ns,
                    now_ns=now_ns,
                    changes=changes,
                )


def build_observer(
    config: GwmonConfig, registry: Registry, store: InfluxClient
) -> AnalyticsObserver:
    """The analytics observer for `gwmon run` (raises ConfigError on a bad [analytics]
    section or registry qc column, StateLockedError if another process holds the state)."""
    return AnalyticsObserver(config, registry, store)
