"""The alert book: the one owner of the alert lifecycle.

An alert is opened by an alarm episode of the evaluator, a silent probe (stale), a
rising trend (`gwmon trend`) or a logger that disagrees with a manual dip (drift,
`gwmon dips import`); it is updated by a new peak or a correction, acknowledged by a
person (mail link, `gwmon alerts ack`), and resolved when the alarm releases, data
arrives again, the trend ends or a dip agrees again. A replay with late readings
withdraws an alert whose alarm never held (resolved at its opening, `withdrawn`). At
most one alert per (probe, kind) is open or acknowledged. The rules are the transitions
of `_lifecycle.py`; the book applies them and keeps the result:

- `AlertBook`, inside `gwmon run`: the alerts in memory and in the analytics state file,
  every change an `alert` point and an event. It takes over what other processes wrote
  to InfluxDB (acknowledgements by the CLI, trend and drift alerts) on `adopt_stored`.
- `StoredAlertBook`, for processes without that state (`gwmon alerts`, `gwmon trend`):
  the same operations on InfluxDB alone; the running service picks its points up.

Both offer `AlertBookView` (get, open_alerts, acknowledge), what the mail stage uses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from gwmon.analytics._codec import alert_from_row, alert_from_state, alert_point, to_datetime, to_ns
from gwmon.analytics._delivery import write_points
from gwmon.analytics._engine import Episode
from gwmon.analytics._lifecycle import (
    ALERT_ID_PATTERN,
    BUMP_NS,
    MEASURED_KINDS,
    Change,
    DriftCheck,
    TrendOutcome,
    acknowledged,
    alert_id,
    announced,
    drift_outcome,
    episode_changes,
    stale_opened,
    stale_resolved,
    superseded,
    trend_outcome,
    withdrawal,
)
from gwmon.analytics._model import Alert, AlertEvent, AlertEventType, AlertKind, AlertState
from gwmon.analytics._state import Changes
from gwmon.ingest import Probe
from gwmon.storage import ALERT, InfluxClient, StoreWriter
from gwmon.storage import influxql as q

if TYPE_CHECKING:  # numpy comes with the trend test; `gwmon run` does not import it
    from gwmon.analytics._mann_kendall import MannKendallResult

logger = logging.getLogger("gwmon.analytics.book")

SeriesKey = tuple[str, str]  # (probe, kind): one series of `alert` points
# Kinds that commands write to InfluxDB (`gwmon trend`, `gwmon dips` / `corrections`) and
# the running service adopts and announces.
STORED_KINDS = frozenset({AlertKind.TREND.value, AlertKind.DRIFT.value})


class AlertBookView(Protocol):
    """Reading and acknowledging alerts: what the mail stage needs from analytics.

    Thread-safe. `open_alerts` lists the alerts in state open or acknowledged, oldest
    first. `acknowledge` raises KeyError for an unknown id; acknowledging an alert
    already acknowledged returns it unchanged (idempotent). `at` defaults to now.
    """

    def get(self, alert_id: str) -> Alert | None: ...

    def open_alerts(self) -> list[Alert]: ...

    def acknowledge(
        self, alert_id: str, *, by: str, comment: str | None = None, at: datetime | None = None
    ) -> Alert: ...


def _oldest_first(alerts: Iterable[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (a.opened_at, a.alert_id))


@dataclass(frozen=True, slots=True)
class _Published:
    alerts: Mapping[str, Alert]
    open: tuple[Alert, ...]


class AlertBook:
    """The alerts of the running service (see the module docstring).

    Thread-safety: `get`, `open_alerts` and `alerts` may be called from any thread at
    any time; they take no lock and never wait for the ingest. They read the book as of
    the last commit of the analytics state (a snapshot published after each commit), so
    they never show a change that a failed batch then takes back. Every other method
    changes the book and runs under `write_lock`, the observer's lock: the ingest thread
    holds it while it evaluates a batch, `acknowledge` takes it from any thread (mail
    sender or HTTP threads). `acknowledge` returns once the acknowledgement is committed
    and announced: listeners are called on the acknowledging thread, so call it without
    holding a lock that a listener takes.
    """

    def __init__(self, *, write_lock: threading.RLock, persist: Callable[[Changes], None]) -> None:
        self._write_lock = write_lock
        self._persist = persist
        self._alerts: dict[str, Alert] = {}
        self._open: dict[SeriesKey, str] = {}
        self._series_ns: dict[SeriesKey, int] = {}
        self._changed = False
        self._published = _Published({}, ())

    # -- reading (any thread) ------------------------------------------------------------------
    def get(self, alert_id: str) -> Alert | None:
        return self._published.alerts.get(alert_id)

    def open_alerts(self) -> list[Alert]:
        return list(self._published.open)

    def alerts(self) -> list[Alert]:
        """Every alert the book still keeps (open ones and recently resolved)."""
        return _oldest_first(self._published.alerts.values())

    # -- acknowledging (any thread) ------------------------------------------------------------
    def acknowledge(
        self, alert_id: str, *, by: str, comment: str | None = None, at: datetime | None = None
    ) -> Alert:
        """Acknowledge an alert at `at` (wall clock, default now): stored and announced.
        Raises KeyError for an unknown id; an alert already acknowledged is returned
        unchanged (idempotent)."""
        at_ns = to_ns(at or datetime.now(tz=UTC))
        with self._write_lock:
            alert = self._alerts.get(alert_id)
            if alert is None:
                raise KeyError(alert_id)
            if alert.acked_at is not None:
                return alert
            change = acknowledged(alert, by=by, comment=comment, at_ns=at_ns)
            changes = Changes()
            self.record([change], changes)
            self._persist(changes)
            return change[0].alert

    # -- the service's state (under the write lock) --------------------------------------------
    def load(self, records: Iterable[Mapping[str, Any]], series: Mapping[SeriesKey, int]) -> None:
        """Replace the book by the alerts and point times of the state file."""
        self._alerts.clear()
        self._open.clear()
        self._series_ns = dict(series)
        for record in records:
            alert = alert_from_state(record)
            self._alerts[alert.alert_id] = alert
            if alert.state != AlertState.RESOLVED:
                self._open[(alert.probe, alert.kind.value)] = alert.alert_id
        self._changed = True
        self.publish()

    def publish(self) -> None:
        """Show the changes to readers: called after they are committed."""
        if not self._changed:
            return
        alerts = dict(self._alerts)
        opened = _oldest_first(alerts[aid] for aid in self._open.values())
        self._published = _Published(alerts, tuple(opened))
        self._changed = False

    def open_count(self) -> int:
        return len(self._open)

    def is_open(self, probe_id: str, kind: AlertKind) -> bool:
        return (probe_id, kind.value) in self._open

    def record(self, pending: Iterable[Change], changes: Changes, *, write: bool = True) -> None:
        """Record alert changes: state, open index, `alert` points (unless `write` is
        False: adopted from storage, where the point already is) and events."""
        for event, natural_ns in pending:
            alert = event.alert
            key = (alert.probe, alert.kind.value)
            bump = BUMP_NS if write else 0
            point_ns = max(natural_ns, self._series_ns.get(key, 0) + bump)
            self._series_ns[key] = point_ns
            changes.series[key] = point_ns
            self._alerts[alert.alert_id] = alert
            changes.put_alert(alert)
            if alert.state == AlertState.RESOLVED:
                if self._open.get(key) == alert.alert_id:
                    del self._open[key]
            else:
                self._open[key] = alert.alert_id
            if write:
                changes.add_line(alert_point(alert, point_ns).to_line())
            if announced(event):
                changes.add_event(event)
            logger.info("alert %s: %s (%s)", event.type.value, alert.alert_id, alert.state.value)
            self._changed = True

    def reconcile(
        self,
        probe: Probe,
        touched: Mapping[tuple[str, int], Episode],
        replay_start_ns: int | None,
        changes: Changes,
    ) -> None:
        """Record what the evaluator's episodes change. After a replay from
        `replay_start_ns`, a measured alert opened since then that the replay did not
        produce again is withdrawn."""
        pending: list[Change] = []
        if replay_start_ns is not None:
            produced = {alert_id(probe.probe_id, kind, opened) for kind, opened in touched}
            since = to_datetime(replay_start_ns)
            pending.extend(
                withdrawal(alert)
                for alert in list(self._alerts.values())
                if alert.probe == probe.probe_id
                and alert.kind in MEASURED_KINDS
                and not alert.withdrawn
                and alert.opened_at >= since
                and alert.alert_id not in produced
            )
        for episode in touched.values():
            existing = self._alerts.get(alert_id(probe.probe_id, episode.kind, episode.opened_ns))
            pending.extend(episode_changes(probe, episode, existing))
        self.record(pending, changes)

    def open_stale(
        self,
        probe: Probe,
        *,
        since_ns: int,
        heard: bool,
        limit_ns: int,
        now_ns: int,
        changes: Changes,
    ) -> None:
        change = stale_opened(
            probe, since_ns=since_ns, heard=heard, limit_ns=limit_ns, now_ns=now_ns
        )
        self.record([change], changes)

    def resolve_stale(self, probe: Probe, arrival_ns: int, changes: Changes) -> None:
        aid = self._open.get((probe.probe_id, AlertKind.STALE.value))
        if aid is not None:
            self.record([stale_resolved(self._alerts[aid], arrival_ns)], changes)

    def forget_resolved(self, probe_id: str, before_ns: int, changes: Changes) -> None:
        """Drop alerts resolved before `before_ns`: they can no longer change, and
        InfluxDB has them."""
        for aid, alert in list(self._alerts.items()):
            if (
                alert.probe == probe_id
                and alert.state == AlertState.RESOLVED
                and alert.resolved_at is not None
                and to_ns(alert.resolved_at) < before_ns
            ):
                del self._alerts[aid]
                changes.drop_alert(aid)
                self._changed = True

    # -- what other processes wrote ----------------------------------------------------------
    def adopt_stored(
        self, stored: StoredAlertBook, probes: Container[str], changes: Changes
    ) -> None:
        """Take over acknowledgements, trend and drift alerts written to InfluxDB by the
        CLI (`gwmon alerts ack`, `gwmon trend`, `gwmon dips import`, `gwmon corrections`);
        trend and drift alerts only of `probes` (those the service evaluates). Raises
        StoreError when InfluxDB fails."""
        for aid, state, kind in stored.present_states():
            local = self._alerts.get(aid)
            if local is None:
                if kind in STORED_KINDS and state != AlertState.RESOLVED.value:
                    self._adopt_opened(stored, aid, probes, changes)
                continue
            if state == local.state.value:
                continue
            if state == AlertState.ACKNOWLEDGED.value and local.acked_at is None:
                self._adopt_ack(stored, local, changes)
            elif kind in STORED_KINDS and state == AlertState.RESOLVED.value:
                self._adopt_resolution(stored, aid, changes)
            elif local.state == AlertState.RESOLVED:
                self._write_over_older(stored, local, changes)

    def _note_point(self, key: SeriesKey, point_ns: int) -> None:
        self._series_ns[key] = max(self._series_ns.get(key, 0), point_ns)

    def _adopt_ack(self, stored: StoredAlertBook, local: Alert, changes: Changes) -> None:
        fetched = stored.fetch(local.alert_id)
        if fetched is None:
            return
        remote, point_ns = fetched
        self._note_point((local.probe, local.kind.value), point_ns)
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
        self.record([(event, point_ns)], changes, write=resolved)

    def _adopt_opened(
        self, stored: StoredAlertBook, aid: str, probes: Container[str], changes: Changes
    ) -> None:
        fetched = stored.fetch(aid)
        if fetched is None or fetched[0].probe not in probes:
            return
        alert, point_ns = fetched
        key = (alert.probe, alert.kind.value)
        self._note_point(key, point_ns)
        older = self._open.get(key)
        if older is not None and older != aid:
            self.record([superseded(self._alerts[older], alert, point_ns)], changes)
        event = AlertEvent(f"{aid}:opened", AlertEventType.OPENED, alert)
        self.record([(event, point_ns)], changes, write=False)

    def _adopt_resolution(self, stored: StoredAlertBook, aid: str, changes: Changes) -> None:
        fetched = stored.fetch(aid)
        if fetched is None:
            return
        alert, point_ns = fetched
        self._note_point((alert.probe, alert.kind.value), point_ns)
        resolved_ns = to_ns(alert.resolved_at or alert.updated_at)
        event = AlertEvent(f"{aid}:resolved:{resolved_ns}", AlertEventType.RESOLVED, alert)
        self.record([(event, point_ns)], changes, write=False)

    def _write_over_older(self, stored: StoredAlertBook, local: Alert, changes: Changes) -> None:
        # Storage shows an older state above ours (an ack written after our resolve,
        # with a later time): write ours again on top.
        fetched = stored.fetch(local.alert_id)
        if fetched is None:
            return
        remote, point_ns = fetched
        self._note_point((local.probe, local.kind.value), point_ns)
        merged = local.with_changes(
            acked_at=local.acked_at or remote.acked_at,
            acked_by=local.acked_by or remote.acked_by,
            ack_comment=local.ack_comment or remote.ack_comment,
        )
        event = AlertEvent(f"{local.alert_id}:corrected:{point_ns}", AlertEventType.UPDATED, merged)
        self.record([(event, point_ns)], changes)


class StoredAlertBook:
    """The alerts as InfluxDB holds them: every alert's present state is its latest
    `alert` point. For processes without the service's state (the CLI), and for the
    service to read what they wrote. Writes go through a `StoreWriter`; a refused point
    raises StoreWriteError (after being recorded in `rejected`), and so does InfluxDB
    being unavailable: a CLI reports it and exits rather than wait. Not thread-safe
    (one InfluxClient). `writer` names the process in `rejected`."""

    def __init__(self, client: InfluxClient, *, writer: str = "gwmon-cli") -> None:
        self._client = client
        self._writer = StoreWriter(client, writer=writer, should_stop=lambda: True)

    # -- reading -----------------------------------------------------------------------------
    def fetch(self, alert_id: str) -> tuple[Alert, int] | None:
        """The latest stored state of an alert and its point time (ns), or None."""
        if not ALERT_ID_PATTERN.fullmatch(alert_id):
            return None
        statement = q.select(ALERT, q.STAR).where(q.eq("alert_id", alert_id))
        return self._first(self._client.query_rows(statement.newest_first().limit(1)))

    def get(self, alert_id: str) -> Alert | None:
        fetched = self.fetch(alert_id)
        return None if fetched is None else fetched[0]

    def current(self) -> list[tuple[Alert, int]]:
        """The present state of every stored alert and its point time, oldest first."""
        latest: dict[str, tuple[Alert, int]] = {}
        for row in self._client.query_rows(q.select(ALERT, q.STAR)):
            aid = row.get("alert_id")
            if not isinstance(aid, str):
                continue
            known = latest.get(aid)
            if known is None or int(row["time"]) >= known[1]:
                decoded = _decoded(row)
                if decoded is not None:
                    latest[aid] = decoded
        return sorted(latest.values(), key=lambda item: (item[0].opened_at, item[0].alert_id))

    def alerts(self) -> list[Alert]:
        return [alert for alert, _ in self.current()]

    def open_alerts(self) -> list[Alert]:
        return [alert for alert in self.alerts() if alert.state != AlertState.RESOLVED]

    def present_states(self) -> list[tuple[str, str, str]]:
        """(alert_id, state, kind) of the latest point of each (probe, kind) series."""
        statement = q.select(
            ALERT, q.last("state").as_("state"), q.last("alert_id").as_("alert_id")
        ).group_by("probe", "kind")
        states = []
        for row in self._client.query_rows(statement):
            aid, state, kind = row.get("alert_id"), row.get("state"), row.get("kind")
            if isinstance(aid, str) and isinstance(state, str) and isinstance(kind, str):
                states.append((aid, state, kind))
        return states

    def latest(self, probe_id: str, kind: AlertKind) -> tuple[Alert, int] | None:
        """The newest alert point of a (probe, kind) series and its time, or None."""
        statement = q.select(ALERT, q.STAR).where(q.eq("probe", probe_id), q.eq("kind", kind.value))
        return self._first(self._client.query_rows(statement.newest_first().limit(1)))

    @staticmethod
    def _first(rows: list[dict[str, Any]]) -> tuple[Alert, int] | None:
        return _decoded(rows[0]) if rows else None

    # -- changing ----------------------------------------------------------------------------
    def acknowledge(
        self, alert_id: str, *, by: str, comment: str | None = None, at: datetime | None = None
    ) -> Alert:
        """As `AlertBook.acknowledge`; the point goes at `at` or just after the alert's
        latest point, and a running service takes it over on its next poll."""
        fetched = self.fetch(alert_id)
        if fetched is None:
            raise KeyError(alert_id)
        alert, point_ns = fetched
        if alert.acked_at is not None:
            return alert
        at_ns = max(to_ns(at or datetime.now(tz=UTC)), point_ns + BUMP_NS)
        event, _ = acknowledged(alert, by=by, comment=comment, at_ns=at_ns)
        self.write(event.alert, at_ns)
        return event.alert

    def record_trend(self, probe: Probe, result: MannKendallResult) -> TrendOutcome:
        """Open, update or resolve the probe's trend alert after a trend test."""
        if result.verdict == "insufficient":
            return TrendOutcome(None, None)
        outcome = trend_outcome(probe, result, self.latest(probe.probe_id, AlertKind.TREND))
        if outcome.action is not None and outcome.alert is not None:
            self.write(outcome.alert, outcome.point_ns)
        return outcome

    def record_drift(self, probe: Probe, check: DriftCheck, *, now_ns: int) -> TrendOutcome:
        """Open, update or resolve the probe's drift alert after its latest dip was
        compared with the logger (`gwmon dips import`, `gwmon corrections`)."""
        latest = self.latest(probe.probe_id, AlertKind.DRIFT)
        outcome = drift_outcome(probe, check, latest, now_ns=now_ns)
        if outcome.action is not None and outcome.alert is not None:
            self.write(outcome.alert, outcome.point_ns)
        return outcome

    def write(self, alert: Alert, point_ns: int) -> None:
        write_points(self._writer, [alert_point(alert, point_ns)])


def _decoded(row: Mapping[str, Any]) -> tuple[Alert, int] | None:
    """The alert of a stored point and its time; None (logged) for a point no gwmon
    wrote, so that one foreign point does not stop a listing or the service's poll."""
    try:
        return alert_from_row(row), int(row["time"])
    except (ValueError, KeyError, TypeError) as exc:
        logger.warning(
            "alert point %r at %s cannot be read (%s); skipped",
            row.get("alert_id"),
            row.get("time"),
            exc,
        )
        return None
