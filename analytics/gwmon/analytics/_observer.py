"""The analytics stage inside `gwmon run`: a `gwmon.ingest.BatchObserver`.

Ordering design (docs/quality-control.md, "Late and duplicate readings"): per probe the
observer keeps every reading of the last `reorder_horizon_s` (measurement time, behind
the probe's newest reading) with its flags, plus a snapshot of the evaluator's state
just before the oldest retained reading (`base`). A reading newer than everything
evaluated so far is simply fed on (the live path). A reading that lands before the
newest one evaluated makes the observer replay the probe from `base` through the
retained readings in (time, quantity) order; the resulting flags and alarm episodes
are compared with what was stored before, and only the differences are written and
announced. Hence the alarms are a function of the set of readings, not of their
arrival order. Exact duplicates change nothing. Readings older than the horizon are
stored by the ingest but cannot change alarms any more (counted as `too_late`).
"""

from __future__ import annotations

import bisect
import heapq
import json
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gwmon.analytics._alerts import (
    KIND_UNIT,
    LAST_STATES,
    SEVERITY,
    Change,
    alert_from_dict,
    alert_id,
    alert_point,
    alert_to_dict,
    episode_changes,
    event_from_dict,
    event_to_dict,
    fetch_alert,
    qc_delete,
    qc_point,
    to_datetime,
    to_ns,
    withdrawal,
)
from gwmon.analytics._detectors import DetectorRegistry, default_detectors
from gwmon.analytics._engine import Episode, Flag, ProbeEvaluator
from gwmon.analytics._model import (
    Alert,
    AlertEvent,
    AlertEventType,
    AlertKind,
    AlertListener,
    AlertState,
)
from gwmon.analytics._settings import (
    AnalyticsSettings,
    ProbePlan,
    build_plan,
    config_problems,
    load_settings,
)
from gwmon.analytics._state import Changes, HistoryRow, StateStore
from gwmon.config import ConfigError
from gwmon.ingest import CANONICAL_QUANTITIES, GwmonConfig, Probe, Reading, Registry
from gwmon.storage import InfluxClient, StoreError, StoreWriteError

logger = logging.getLogger("gwmon.analytics.observer")

_NS = 1_000_000_000
_BUMP_NS = 1_000  # alert points of one (probe, kind) series never share or reverse a time
_MEASURED_KINDS = frozenset(
    {
        AlertKind.BREACH,
        AlertKind.WARNING,
        AlertKind.LEVEL_LOW,
        AlertKind.LEVEL_HIGH,
        AlertKind.SENSOR_FAULT,
    }
)
_OUTBOX_LINES = 5_000


class _Entry:
    __slots__ = ("arrival_ns", "censored", "derived_from", "flags", "quantity", "time_ns", "value")

    def __init__(
        self,
        time_ns: int,
        quantity: str,
        value: float,
        arrival_ns: int,
        flags: tuple[Flag, ...],
        *,
        censored: bool = False,
        derived_from: str | None = None,
    ) -> None:
        self.time_ns = time_ns
        self.quantity = quantity
        self.value = value
        self.arrival_ns = arrival_ns
        self.flags = flags
        self.censored = censored
        self.derived_from = derived_from

    def feed(self, evaluator: ProbeEvaluator) -> tuple[Flag, ...]:
        return evaluator.feed(
            self.time_ns,
            self.quantity,
            self.value,
            self.arrival_ns,
            censored=self.censored,
            derived_from=self.derived_from,
        )


def derived_from(reading: Reading) -> str | None:
    """The quantity a reading was computed from: the ingest derives `level` from a
    `depth` record and keeps the record name ("depth") on the derived reading."""
    name = reading.record_name
    if name != reading.quantity and name in CANONICAL_QUANTITIES:
        return name
    return None


@dataclass
class _Series:
    times: list[int] = field(default_factory=list)
    entries: list[_Entry] = field(default_factory=list)


@dataclass
class _Track:
    plan: ProbePlan
    base: dict[str, Any] | None
    current: ProbeEvaluator
    series: dict[str, _Series] = field(default_factory=dict)
    last_arrival_ns: int | None = None
    # Evaluator snapshots taken while feeding, at grid times (state before the first
    # reading at or after the time): pruning moves `base` to one without re-feeding.
    checkpoints: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def probe(self) -> Probe:
        return self.plan.probe

    def merged(self, before_ns: int | None = None) -> Iterator[_Entry]:
        streams = [series.entries for series in self.series.values()]
        for entry in heapq.merge(*streams, key=lambda e: (e.time_ns, e.quantity)):
            if before_ns is not None and entry.time_ns >= before_ns:
                return
            yield entry

    def base_pos(self) -> tuple[int, str] | None:
        if not self.base or self.base.get("pos") is None:
            return None
        pos = self.base["pos"]
        return (int(pos[0]), str(pos[1]))

    def newest_ns(self) -> int | None:
        times = [series.times[-1] for series in self.series.values() if series.times]
        return max(times) if times else None

    def oldest_ns(self) -> int | None:
        times = [series.times[0] for series in self.series.values() if series.times]
        return min(times) if times else None


@dataclass
class AnalyticsStats:
    readings: int = 0
    duplicates: int = 0
    too_late: int = 0
    replays: int = 0
    flags: int = 0
    events: int = 0
    listener_errors: int = 0
    store_errors: int = 0


def _flags_json(flags: tuple[Flag, ...]) -> str:
    return json.dumps([list(flag) for flag in flags]) if flags else "[]"


def _flags_from_json(text: str) -> tuple[Flag, ...]:
    return tuple(
        Flag(str(a), str(b), str(c), "bad" if d == "bad" else "info")
        for a, b, c, d in json.loads(text)
    )


class AnalyticsObserver:
    """QC flags, alarms and the alert lifecycle, fed by the ingest (see module docstring).

    `batch_stored`, `tick` and `close` run on the ingest's thread; `acknowledge`,
    `open_alerts` and `add_listener` may be called from any thread.
    """

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
        problems = config_problems(self.settings, self.detectors, registry, config.source)
        plans: dict[str, ProbePlan] = {}
        for probe in registry:
            plan, found = build_plan(self.settings, self.detectors, probe)
            problems.extend(found)
            if plan is not None:
                plans[probe.probe_id] = plan
        if problems:
            raise ConfigError(
                "invalid analytics configuration:\n  " + "\n  ".join(problems),
                source=config.source,
                key="analytics",
            )
        self.store = store
        self._ack_store: InfluxClient | None = None
        self._lock = threading.RLock()
        self._listeners: list[AlertListener] = []
        self.stats = AnalyticsStats()
        self._horizon_ns = int(self.settings.reorder_horizon_s * _NS)
        self._tracks: dict[str, _Track] = {}
        self._alerts: dict[str, Alert] = {}
        self._open: dict[tuple[str, str], str] = {}
        self._series_ns: dict[tuple[str, str], int] = {}
        self._started_ns: int | None = None
        self._last_poll = 0.0
        self._closed = False
        # [analytics] enabled = false (e.g. the other members of a shared subscription):
        # the observer accepts batches and does nothing; no state file is opened.
        self.enabled = self.settings.enabled
        if not self.enabled:
            self._closed = True
            logger.info("analytics disabled ([analytics] enabled = false)")
            return
        self._plans = plans
        self._state = StateStore(self.settings.resolved_state_dir(config))
        self._load()

    # -- start-up ----------------------------------------------------------------------------
    def _load(self) -> None:
        self._tracks.clear()
        self._alerts.clear()
        self._open.clear()
        self._series_ns = self._state.series()
        states = self._state.probe_states()
        for probe_id, plan in self._plans.items():
            base, current, last_arrival = states.get(probe_id, (None, None, None))
            self._tracks[probe_id] = _Track(
                plan=plan,
                base=base,
                current=ProbeEvaluator.from_snapshot(plan, current),
                last_arrival_ns=last_arrival,
            )
        for row in self._state.history():
            probe, quantity, time_ns, value, arrival_ns, flags, censored, source = row
            track = self._tracks.get(probe)
            if track is None:
                continue  # probe removed from the registry
            series = track.series.setdefault(quantity, _Series())
            series.times.append(time_ns)
            series.entries.append(
                _Entry(
                    time_ns,
                    quantity,
                    value,
                    arrival_ns,
                    _flags_from_json(flags),
                    censored=bool(censored),
                    derived_from=source,
                )
            )
        for data in self._state.alerts():
            alert = alert_from_dict(data)
            self._alerts[alert.alert_id] = alert
            if alert.state != AlertState.RESOLVED:
                self._open[(alert.probe, alert.kind.value)] = alert.alert_id
        logger.info(
            "analytics state loaded from %s: %d probes, %d open alerts",
            self._state.path,
            len(self._tracks),
            len(self._open),
        )

    # -- public API --------------------------------------------------------------------------
    def add_listener(self, listener: AlertListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def open_alerts(self) -> list[Alert]:
        with self._lock:
            alerts = [self._alerts[aid] for aid in self._open.values()]
        return sorted(alerts, key=lambda a: (a.opened_at, a.alert_id))

    def alerts(self) -> list[Alert]:
        """Every alert the observer still keeps (open ones and recently resolved)."""
        with self._lock:
            return sorted(self._alerts.values(), key=lambda a: (a.opened_at, a.alert_id))

    def acknowledge(self, alert_id: str, *, by: str, comment: str | None, at: datetime) -> Alert:
        """Acknowledge an alert (thread-safe). Raises KeyError for an unknown id. An alert
        already acknowledged is returned unchanged (idempotent)."""
        at_ns = to_ns(at)
        with self._lock:
            alert = self._alerts.get(alert_id)
            if alert is None:
                raise KeyError(alert_id)
            if alert.acked_at is not None:
                return alert
            new = alert.with_changes(
                state=AlertState.RESOLVED
                if alert.state == AlertState.RESOLVED
                else AlertState.ACKNOWLEDGED,
                acked_at=to_datetime(at_ns),
                acked_by=by,
                ack_comment=comment,
                updated_at=to_datetime(at_ns),
            )
            event = AlertEvent(f"{alert_id}:acknowledged", AlertEventType.ACKNOWLEDGED, new)
            changes = Changes()
            self._apply([(event, at_ns)], changes)
            self._state.commit(changes)
            # Called from another thread than the ingest's: use a client of our own
            # (InfluxClient is not thread-safe; the lock serialises our use of it).
            if self._ack_store is None:
                self._ack_store = InfluxClient(self.store.settings)
            self._flush_outbox(self._ack_store)
            return new

    # -- BatchObserver -----------------------------------------------------------------------
    def batch_stored(self, readings: Sequence[Reading]) -> None:
        if not self.enabled:
            return
        with self._lock:
            changes = Changes()
            by_probe: dict[str, list[Reading]] = {}
            for reading in readings:
                by_probe.setdefault(reading.probe, []).append(reading)
            try:
                for probe_id, group in by_probe.items():
                    track = self._tracks.get(probe_id)
                    if track is None:
                        logger.warning("readings of probe %s not in the registry ignored", probe_id)
                        continue
                    self._process(track, group, changes)
                self._state.commit(changes)
            except BaseException:
                # Keep memory equal to the state file: drop what was not committed. The
                # batch's readings are then not evaluated (they are safe in InfluxDB).
                logger.exception("analytics failed on a batch; state reloaded from disk")
                self._load()
                raise
            self._flush_outbox(self.store)

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
                    self._poll_storage(changes)
                except StoreError as exc:
                    self.stats.store_errors += 1
                    logger.warning("cannot read alerts from InfluxDB (%s); will retry", exc)
            self._state.commit(changes)
            self._flush_outbox(self.store)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._flush_outbox(self.store)
            self._state.close()
            if self._ack_store is not None:
                self._ack_store.close()

    # -- evaluation --------------------------------------------------------------------------
    def _process(self, track: _Track, readings: list[Reading], changes: Changes) -> None:
        probe = track.probe
        self.stats.readings += len(readings)
        first_arrival = min(r.arrival_ns for r in readings)
        last_arrival = max(r.arrival_ns for r in readings)
        if track.last_arrival_ns is None or last_arrival > track.last_arrival_ns:
            track.last_arrival_ns = last_arrival
        self._close_stale(probe, first_arrival, changes)
        base_pos = track.base_pos()
        inserted: list[_Entry] = []
        earliest: tuple[int, str] | None = None
        for reading in sorted(readings, key=lambda r: (r.time_ns, r.quantity, r.arrival_ns)):
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
            series = track.series.setdefault(reading.quantity, _Series())
            index = bisect.bisect_left(series.times, reading.time_ns)
            if index < len(series.times) and series.times[index] == reading.time_ns:
                entry = series.entries[index]
                source = derived_from(reading)
                if (entry.value, entry.censored, entry.derived_from) == (
                    reading.value,
                    reading.censored,
                    source,
                ):
                    self.stats.duplicates += 1
                    continue
                entry.value = reading.value  # InfluxDB keeps the last write: so do we
                entry.arrival_ns = reading.arrival_ns
                entry.censored = reading.censored
                entry.derived_from = source
            else:
                entry = _Entry(
                    reading.time_ns,
                    reading.quantity,
                    reading.value,
                    reading.arrival_ns,
                    (),
                    censored=reading.censored,
                    derived_from=derived_from(reading),
                )
                series.times.insert(index, reading.time_ns)
                series.entries.insert(index, entry)
                inserted.append(entry)
            changes.history[(probe.probe_id, entry.quantity, entry.time_ns)] = self._row(
                probe, entry
            )
            if earliest is None or key < earliest:
                earliest = key
        if earliest is None:  # only duplicates (or too late): arrival still counts
            changes.probes[probe.probe_id] = (
                json.dumps(track.base),
                json.dumps(track.current.snapshot()),
                track.last_arrival_ns,
            )
            return
        current = track.current
        if current.pos is None or earliest > current.pos:
            # Live path: everything new lies after what was evaluated.
            current.touched = {}
            fresh = sorted(inserted, key=lambda e: (e.time_ns, e.quantity))
            for entry in fresh:
                self._checkpoint(track, current, entry.time_ns)
                flags = entry.feed(current)
                self._set_flags(probe, entry, flags, changes)
            self._reconcile(probe, current.touched, None, changes)
        else:
            self._replay(track, changes)
        self._prune(track, changes)
        changes.probes[probe.probe_id] = (
            json.dumps(track.base),
            json.dumps(track.current.snapshot()),
            track.last_arrival_ns,
        )

    def _replay(self, track: _Track, changes: Changes) -> None:
        self.stats.replays += 1
        probe = track.probe
        evaluator = ProbeEvaluator.from_snapshot(track.plan, track.base)
        evaluator.touched = {}
        track.checkpoints.clear()
        start_ns: int | None = None
        for entry in track.merged():
            if start_ns is None:
                start_ns = entry.time_ns
            self._checkpoint(track, evaluator, entry.time_ns)
            flags = entry.feed(evaluator)
            self._set_flags(probe, entry, flags, changes)
        track.current = evaluator
        self._reconcile(probe, evaluator.touched, start_ns, changes)

    def _checkpoint(self, track: _Track, evaluator: ProbeEvaluator, time_ns: int) -> None:
        if evaluator.pos is None:
            return
        step = max(self._horizon_ns // 10, 1)
        boundary = time_ns // step * step
        if boundary > evaluator.pos[0]:
            track.checkpoints[boundary] = evaluator.snapshot()

    def _set_flags(
        self, probe: Probe, entry: _Entry, flags: tuple[Flag, ...], changes: Changes
    ) -> None:
        old = {flag.flag: flag for flag in entry.flags}
        new = {flag.flag: flag for flag in flags}
        replaced = (probe.probe_id, entry.quantity, entry.time_ns) in changes.history
        if old == new and not (flags and replaced):
            return  # unchanged (a replaced value with flags must rewrite the qc value)
        for name in old.keys() - new.keys():
            changes.outbox.append(
                ("query", qc_delete(probe.probe_id, entry.quantity, name, entry.time_ns))
            )
        for flag in flags:
            self.stats.flags += 1
            changes.outbox.append(
                (
                    "line",
                    qc_point(probe, entry.quantity, entry.time_ns, entry.value, flag).to_line(),
                )
            )
        entry.flags = flags
        changes.history[(probe.probe_id, entry.quantity, entry.time_ns)] = self._row(probe, entry)

    @staticmethod
    def _row(probe: Probe, entry: _Entry) -> HistoryRow:
        return (
            probe.probe_id,
            entry.quantity,
            entry.time_ns,
            entry.value,
            entry.arrival_ns,
            _flags_json(entry.flags),
            int(entry.censored),
            entry.derived_from,
        )

    def _prune(self, track: _Track, changes: Changes) -> None:
        newest, oldest = track.newest_ns(), track.oldest_ns()
        if newest is None or oldest is None:
            return
        cutoff = newest - self._horizon_ns
        if oldest >= cutoff - self._horizon_ns // 10:
            return  # prune in chunks, not on every batch
        usable = [boundary for boundary in track.checkpoints if boundary <= cutoff]
        if usable:
            cutoff = max(usable)
            track.base = track.checkpoints[cutoff]
        else:  # e.g. right after a restart (checkpoints live in memory): feed forward
            evaluator = ProbeEvaluator.from_snapshot(track.plan, track.base)
            for entry in track.merged(before_ns=cutoff):
                entry.feed(evaluator)
            track.base = evaluator.snapshot()
        for boundary in [b for b in track.checkpoints if b <= cutoff]:
            del track.checkpoints[boundary]
        for quantity, series in track.series.items():
            cut = bisect.bisect_left(series.times, cutoff)
            for time_ns in series.times[:cut]:
                changes.history_deleted.append((track.probe.probe_id, quantity, time_ns))
                changes.history.pop((track.probe.probe_id, quantity, time_ns), None)
            del series.times[:cut]
            del series.entries[:cut]
        # Resolved alerts older than the horizon can no longer change: InfluxDB has them.
        for aid, alert in list(self._alerts.items()):
            if (
                alert.probe == track.probe.probe_id
                and alert.state == AlertState.RESOLVED
                and alert.resolved_at is not None
                and to_ns(alert.resolved_at) < cutoff
            ):
                del self._alerts[aid]
                changes.alerts_deleted.append(aid)
                changes.alerts.pop(aid, None)

    # -- alerts ------------------------------------------------------------------------------
    def _reconcile(
        self,
        probe: Probe,
        touched: dict[tuple[str, int], Episode],
        replay_start_ns: int | None,
        changes: Changes,
    ) -> None:
        pending: list[Change] = []
        if replay_start_ns is not None:
            produced = {alert_id(probe.probe_id, kind, opened) for kind, opened in touched}
            for alert in list(self._alerts.values()):
                if (
                    alert.probe == probe.probe_id
                    and alert.kind in _MEASURED_KINDS
                    and not alert.withdrawn
                    and alert.opened_at >= to_datetime(replay_start_ns)
                    and alert.alert_id not in produced
                ):
                    pending.append(withdrawal(alert))
        for episode in touched.values():
            existing = self._alerts.get(alert_id(probe.probe_id, episode.kind, episode.opened_ns))
            pending.extend(episode_changes(probe, episode, existing))
        self._apply(pending, changes)

    def _apply(self, pending: Iterable[Change], changes: Changes, *, write: bool = True) -> None:
        """Record alert changes: state, open index, `alert` points (unless `write` is
        False: adopted from storage, where the point already is) and events."""
        for event, natural_ns in pending:
            alert = event.alert
            key = (alert.probe, alert.kind.value)
            if write:
                point_ns = max(natural_ns, self._series_ns.get(key, 0) + _BUMP_NS)
            else:
                point_ns = max(natural_ns, self._series_ns.get(key, 0))
            self._series_ns[key] = point_ns
            changes.series[key] = point_ns
            self._alerts[alert.alert_id] = alert
            changes.alerts[alert.alert_id] = (
                alert.probe,
                alert.kind.value,
                json.dumps(alert_to_dict(alert)),
            )
            if alert.alert_id in changes.alerts_deleted:
                changes.alerts_deleted.remove(alert.alert_id)
            if alert.state == AlertState.RESOLVED:
                if self._open.get(key) == alert.alert_id:
                    del self._open[key]
            else:
                self._open[key] = alert.alert_id
            if write:
                changes.outbox.append(("line", alert_point(alert, point_ns).to_line()))
            if not event.event_id.split(":")[1].startswith("corrected"):
                changes.outbox.append(("event", json.dumps(event_to_dict(event))))
            logger.info("alert %s: %s (%s)", event.type.value, alert.alert_id, alert.state.value)

    # -- stale probes ------------------------------------------------------------------------
    def _check_stale(self, now_ns: int, changes: Changes) -> None:
        assert self._started_ns is not None
        if now_ns - self._started_ns < self.settings.stale_startup_grace_s * _NS:
            return
        for probe_id, track in self._tracks.items():
            if (probe_id, AlertKind.STALE.value) in self._open:
                continue
            factor = track.plan.alarms["stale"]["factor"]
            assert isinstance(factor, int | float)
            limit_ns = int(track.probe.expected_interval_s * float(factor) * _NS)
            since = track.last_arrival_ns if track.last_arrival_ns is not None else self._started_ns
            if now_ns - since <= limit_ns:
                continue
            opened_ns = since + limit_ns
            probe = track.probe
            heard = (
                f"last data arrived {to_datetime(since).strftime('%Y-%m-%d %H:%M UTC')}"
                if track.last_arrival_ns is not None
                else "no data since analytics started"
            )
            alert = Alert(
                alert_id=alert_id(probe_id, AlertKind.STALE.value, opened_ns),
                probe=probe_id,
                site=probe.site,
                municipality=probe.municipality,
                kind=AlertKind.STALE,
                severity=SEVERITY[AlertKind.STALE],
                state=AlertState.OPEN,
                opened_at=to_datetime(opened_ns),
                updated_at=to_datetime(opened_ns),
                value=(now_ns - since) / _NS,
                threshold=limit_ns / _NS,
                unit=KIND_UNIT[AlertKind.STALE],
                message=(
                    f"Probe {probe_id} ({probe.site}, {probe.municipality}) is silent: {heard}; "
                    f"expected every {probe.expected_interval_s} s, stale after "
                    f"{limit_ns / _NS:.0f} s."
                ),
            )
            event = AlertEvent(f"{alert.alert_id}:opened", AlertEventType.OPENED, alert)
            self._apply([(event, opened_ns)], changes)

    def _close_stale(self, probe: Probe, arrival_ns: int, changes: Changes) -> None:
        aid = self._open.get((probe.probe_id, AlertKind.STALE.value))
        if aid is None:
            return
        alert = self._alerts[aid]
        resolved = alert.with_changes(
            state=AlertState.RESOLVED,
            resolved_at=to_datetime(arrival_ns),
            updated_at=to_datetime(arrival_ns),
            message=alert.message
            + f" Data arrived again {to_datetime(arrival_ns).strftime('%Y-%m-%d %H:%M UTC')}.",
        )
        event = AlertEvent(f"{aid}:resolved:{arrival_ns}", AlertEventType.RESOLVED, resolved)
        self._apply([(event, arrival_ns)], changes)

    # -- acknowledgements and trend alerts written by the CLI ----------------------------------
    def _fetch_alert(self, aid: str) -> tuple[Alert, int] | None:
        return fetch_alert(self.store, aid)

    def _poll_storage(self, changes: Changes) -> None:
        rows = self.store.query_rows(LAST_STATES)
        for row in rows:
            aid, state, kind = row.get("alert_id"), row.get("state"), row.get("kind")
            if not isinstance(aid, str) or not isinstance(state, str) or kind is None:
                continue
            local = self._alerts.get(aid)
            if local is None:
                if kind == AlertKind.TREND.value and state != AlertState.RESOLVED.value:
                    self._adopt_trend(aid, changes)
                continue
            if state == local.state.value:
                continue
            if state == AlertState.ACKNOWLEDGED.value and local.acked_at is None:
                self._adopt_ack(local, changes)
            elif kind == AlertKind.TREND.value and state == AlertState.RESOLVED.value:
                fetched = self._fetch_alert(aid)
                if fetched is not None:
                    alert, point_ns = fetched
                    self._series_ns[(alert.probe, kind)] = max(
                        self._series_ns.get((alert.probe, kind), 0), point_ns
                    )
                    event = AlertEvent(
                        f"{aid}:resolved:{to_ns(alert.resolved_at or alert.updated_at)}",
                        AlertEventType.RESOLVED,
                        alert,
                    )
                    self._apply([(event, point_ns)], changes, write=False)
            elif local.state == AlertState.RESOLVED:
                # Storage shows an older state above ours (an ack written after our
                # resolve, with a later time): write ours again on top.
                fetched = self._fetch_alert(aid)
                if fetched is not None:
                    key = (local.probe, local.kind.value)
                    self._series_ns[key] = max(self._series_ns.get(key, 0), fetched[1])
                    merged = local.with_changes(
                        acked_at=local.acked_at or fetched[0].acked_at,
                        acked_by=local.acked_by or fetched[0].acked_by,
                        ack_comment=local.ack_comment or fetched[0].ack_comment,
                    )
                    event = AlertEvent(
                        f"{aid}:corrected:{fetched[1]}", AlertEventType.UPDATED, merged
                    )
                    self._apply([(event, fetched[1])], changes)

    def _adopt_ack(self, local: Alert, changes: Changes) -> None:
        fetched = self._fetch_alert(local.alert_id)
        if fetched is None:
            return
        remote, point_ns = fetched
        key = (local.probe, local.kind.value)
        self._series_ns[key] = max(self._series_ns.get(key, 0), point_ns)
        # Acknowledged (e.g. by the CLI) while we resolved it in between: it stays
        # resolved, and our state is written again on top of the acknowledgement point.
        resolved = local.state == AlertState.RESOLVED
        acked = local.with_changes(
            state=AlertState.RESOLVED if resolved else AlertState.ACKNOWLEDGED,
            acked_at=remote.acked_at or to_datetime(point_ns),
            acked_by=remote.acked_by,
            ack_comment=remote.ack_comment,
            updated_at=to_datetime(point_ns),
        )
        event = AlertEvent(f"{local.alert_id}:acknowledged", AlertEventType.ACKNOWLEDGED, acked)
        self._apply([(event, point_ns)], changes, write=resolved)

    def _adopt_trend(self, aid: str, changes: Changes) -> None:
        fetched = self._fetch_alert(aid)
        if fetched is None or fetched[0].probe not in self._tracks:
            return
        alert, point_ns = fetched
        key = (alert.probe, alert.kind.value)
        self._series_ns[key] = max(self._series_ns.get(key, 0), point_ns)
        older = self._open.get(key)
        if older is not None and older != aid:
            previous = self._alerts[older]
            closed = previous.with_changes(state=AlertState.RESOLVED, resolved_at=alert.opened_at)
            self._apply(
                [(AlertEvent(f"{older}:superseded", AlertEventType.RESOLVED, closed), point_ns)],
                changes,
            )
        event = AlertEvent(f"{aid}:opened", AlertEventType.OPENED, alert)
        self._apply([(event, point_ns)], changes, write=False)

    # -- delivery ----------------------------------------------------------------------------
    def _flush_outbox(self, client: InfluxClient) -> None:
        rows = self._state.outbox()
        if not rows:
            return
        done: list[int] = []
        lines: list[str] = []
        line_ids: list[int] = []
        failed = False

        def write_lines() -> bool:
            if not lines:
                return True
            for start in range(0, len(lines), _OUTBOX_LINES):
                chunk = lines[start : start + _OUTBOX_LINES]
                try:
                    client.write_lines(chunk)
                except StoreWriteError as exc:
                    self.stats.store_errors += 1
                    if exc.retryable:
                        logger.warning("analytics write to InfluxDB failed (%s); kept", exc)
                        return False
                    # Refused for good (partial write keeps the good points): retrying
                    # the same lines cannot help. Say what was lost.
                    logger.error(
                        "InfluxDB refused analytics points (%s); first line: %s", exc, chunk[0]
                    )
                except StoreError as exc:
                    self.stats.store_errors += 1
                    logger.warning("analytics write to InfluxDB failed (%s); kept", exc)
                    return False
            done.extend(line_ids)
            lines.clear()
            line_ids.clear()
            return True

        for row_id, kind, body in rows:
            if kind == "line":
                if not failed:
                    lines.append(body)
                    line_ids.append(row_id)
                continue
            if kind == "query":
                if failed or not write_lines():
                    failed = True
                    continue
                try:
                    client.query(body)
                except StoreError as exc:
                    logger.warning("analytics query failed (%s): %s", exc, body[:200])
                done.append(row_id)
                continue
            event = event_from_dict(json.loads(body))
            for listener in self._listeners:
                try:
                    listener.alert_event(event)
                except Exception:
                    self.stats.listener_errors += 1
                    logger.exception("alert listener %r failed on %s", listener, event.event_id)
            self.stats.events += 1
            done.append(row_id)
        if not failed:
            write_lines()
        self._state.outbox_done(done)


def build_observer(
    config: GwmonConfig, registry: Registry, store: InfluxClient
) -> AnalyticsObserver:
    """The analytics observer for `gwmon run` (raises ConfigError on a bad [analytics]
    section or registry qc column, StateLockedError if another process holds the state)."""
    return AnalyticsObserver(config, registry, store)
