"""The alert lifecycle as pure transitions: what an alert becomes, and which event says so.

No state and no I/O here: `AlertBook` (the running service) and `StoredAlertBook` (the
CLI, on InfluxDB alone) apply these same rules (`_book.py`).

Ids are derived from data, never from counters or clocks: an alert is
`<probe>.<kind>.<opened_at as YYYYmmddTHHMMSS[fraction]Z>`, so the same readings give the
same alert id whatever order they arrived in and across restarts; event ids append the
change (`:opened`, `:resolved:<ns>`, `:acknowledged`, `:updated:<ns>`, `:reopened:<ns>`,
`:reinstated:<ns>`, `:corrected:<ns>` (stored, not announced), `:withdrawn`,
`:superseded`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from gwmon.analytics._codec import to_datetime, to_ns
from gwmon.analytics._engine import Episode
from gwmon.analytics._messages import (
    WITHDRAWN_PREFIX,
    data_again,
    drift_message,
    drift_resolved,
    episode_message,
    stale_message,
    trend_message,
    trend_resolved,
)
from gwmon.analytics._model import (
    Alert,
    AlertEvent,
    AlertEventType,
    AlertKind,
    AlertState,
    Severity,
)
from gwmon.ingest import Probe

if TYPE_CHECKING:  # numpy comes with the trend test; `gwmon run` does not import it
    from gwmon.analytics._mann_kendall import MannKendallResult

ALERT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}\.[a-z_]+\.[0-9]{8}T[0-9]{6}[0-9]*Z")
BUMP_NS = 1_000  # alert points of one (probe, kind) series never share or reverse a time
_NS = 1_000_000_000

SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.BREACH: Severity.CRITICAL,
    AlertKind.LEVEL_LOW: Severity.CRITICAL,
    AlertKind.WARNING: Severity.WARNING,
    AlertKind.LEVEL_HIGH: Severity.WARNING,
    AlertKind.TREND: Severity.WARNING,
    AlertKind.SENSOR_FAULT: Severity.WARNING,
    AlertKind.STALE: Severity.WARNING,
    AlertKind.DRIFT: Severity.WARNING,
}
QUANTITY_UNIT = {
    "nitrate": "mg/L",
    "level": "m",
    "depth": "m",
    "temperature": "Cel",
    "conductivity": "uS/cm",
    "battery": "%",
}
KIND_UNIT = {
    AlertKind.BREACH: "mg/L",
    AlertKind.WARNING: "mg/L",
    AlertKind.LEVEL_LOW: "m",
    AlertKind.LEVEL_HIGH: "m",
    AlertKind.STALE: "s",
    AlertKind.TREND: "mg/L/a",
    AlertKind.DRIFT: "m",
}
# Kinds the evaluator derives from readings: a replay may withdraw them.
MEASURED_KINDS = frozenset(
    {
        AlertKind.BREACH,
        AlertKind.WARNING,
        AlertKind.LEVEL_LOW,
        AlertKind.LEVEL_HIGH,
        AlertKind.SENSOR_FAULT,
    }
)

Change = tuple[AlertEvent, int]  # the event and the natural time (ns) of its alert point
TrendAction = Literal["opened", "updated", "resolved"]


def stamp(time_ns: int) -> str:
    seconds, fraction = divmod(time_ns, _NS)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y%m%dT%H%M%S")
    if fraction:
        text += f"{fraction:09d}".rstrip("0")
    return text + "Z"


def alert_id(probe: str, kind: str, opened_ns: int) -> str:
    return f"{probe}.{kind}.{stamp(opened_ns)}"


def announced(event: AlertEvent) -> bool:
    """Whether listeners hear of the change (a correction of a resolved alert is only
    stored)."""
    return not event.event_id.split(":")[1].startswith("corrected")


def _opened(
    probe: Probe,
    kind: AlertKind,
    *,
    opened_ns: int,
    updated_ns: int,
    value: float | None,
    threshold: float,
    message: str,
    quantity: str | None = None,
    arrival_ns: int | None = None,
) -> Alert:
    """A new open alert of `kind` at `probe`: what every kind derives the same way."""
    return Alert(
        alert_id=alert_id(probe.probe_id, kind.value, opened_ns),
        probe=probe.probe_id,
        site=probe.site,
        municipality=probe.municipality,
        kind=kind,
        severity=SEVERITY[kind],
        state=AlertState.OPEN,
        opened_at=to_datetime(opened_ns),
        updated_at=to_datetime(updated_ns),
        value=value,
        threshold=threshold,
        unit=KIND_UNIT[kind],
        message=message,
        arrival_at=None if arrival_ns is None else to_datetime(arrival_ns),
        quantity=quantity,
    )


# -- alarms of the evaluator ---------------------------------------------------------------
def _alert_from_episode(probe: Probe, episode: Episode, base: Alert | None) -> Alert:
    kind = AlertKind(episode.kind)
    resolved = episode.resolved_ns is not None
    acked = base is not None and base.acked_at is not None
    state = (
        AlertState.RESOLVED if resolved else AlertState.ACKNOWLEDGED if acked else AlertState.OPEN
    )
    changed = [episode.opened_ns, episode.last_ns, episode.resolved_ns or 0]
    return Alert(
        alert_id=alert_id(probe.probe_id, kind.value, episode.opened_ns),
        probe=probe.probe_id,
        site=probe.site,
        municipality=probe.municipality,
        kind=kind,
        severity=SEVERITY[kind],
        state=state,
        opened_at=to_datetime(episode.opened_ns),
        updated_at=to_datetime(max(changed)),
        value=episode.value,
        threshold=episode.threshold,
        unit=KIND_UNIT.get(kind) or QUANTITY_UNIT.get(episode.quantity, ""),
        message=episode_message(probe, episode),
        arrival_at=None if episode.arrival_ns is None else to_datetime(episode.arrival_ns),
        acked_at=None if base is None else base.acked_at,
        acked_by=None if base is None else base.acked_by,
        ack_comment=None if base is None else base.ack_comment,
        resolved_at=None if episode.resolved_ns is None else to_datetime(episode.resolved_ns),
        quantity=episode.quantity,
    )


def _event(alert: Alert, change: str, kind: AlertEventType, time_ns: int) -> Change:
    return AlertEvent(f"{alert.alert_id}:{change}", kind, alert), time_ns


def _first_changes(alert: Alert, episode: Episode, existing: Alert | None) -> list[Change]:
    """An episode without a stored alert, or whose alert was withdrawn."""
    if existing is None:
        first = alert
        if alert.state == AlertState.RESOLVED:  # opened and closed in one go: say both
            first = alert.with_changes(
                state=AlertState.OPEN, resolved_at=None, updated_at=alert.opened_at
            )
        changes = [_event(first, "opened", AlertEventType.OPENED, episode.opened_ns)]
    else:
        reinstated = f"reinstated:{episode.last_ns}"
        changes = [_event(alert, reinstated, AlertEventType.UPDATED, episode.opened_ns)]
    if episode.resolved_ns is not None:
        resolved = f"resolved:{episode.resolved_ns}"
        changes.append(_event(alert, resolved, AlertEventType.RESOLVED, episode.resolved_ns))
    return changes


def episode_changes(probe: Probe, episode: Episode, existing: Alert | None) -> list[Change]:
    """What storing `episode` changes relative to `existing` (None: a new alert)."""
    alert = _alert_from_episode(probe, episode, existing)
    if existing is None or existing.withdrawn:
        return _first_changes(alert, episode, existing)
    changes: list[Change] = []
    still_open = episode.resolved_ns is None
    if existing.state == AlertState.RESOLVED and still_open:
        changes.append(
            _event(alert, f"reopened:{episode.last_ns}", AlertEventType.UPDATED, episode.last_ns)
        )
    elif existing.value != alert.value and still_open:
        changes.append(
            _event(alert, f"updated:{episode.last_ns}", AlertEventType.UPDATED, episode.last_ns)
        )
    if episode.resolved_ns is not None and (
        existing.state != AlertState.RESOLVED or existing.resolved_at != alert.resolved_at
    ):
        resolved = f"resolved:{episode.resolved_ns}"
        changes.append(_event(alert, resolved, AlertEventType.RESOLVED, episode.resolved_ns))
    elif not changes and existing != alert:
        # Peak of an already resolved alert corrected by late data: store, no event.
        changes.append(
            _event(alert, f"corrected:{episode.last_ns}", AlertEventType.UPDATED, episode.last_ns)
        )
    return changes


def withdrawal(existing: Alert) -> Change:
    """Late readings showed that the alarm never held: resolved at its opening time."""
    alert = existing.with_changes(
        state=AlertState.RESOLVED,
        withdrawn=True,
        resolved_at=existing.opened_at,
        message=WITHDRAWN_PREFIX + existing.message,
    )
    return _event(alert, "withdrawn", AlertEventType.RESOLVED, to_ns(existing.opened_at))


# -- acknowledgement ------------------------------------------------------------------------
def acknowledged(alert: Alert, *, by: str, comment: str | None, at_ns: int) -> Change:
    """The acknowledgement of `alert` (not yet acknowledged) at wall-clock `at_ns`. A
    resolved alert stays resolved, with the acknowledgement recorded."""
    at = to_datetime(at_ns)
    state = AlertState.RESOLVED if alert.state == AlertState.RESOLVED else AlertState.ACKNOWLEDGED
    new = alert.with_changes(
        state=state, acked_at=at, acked_by=by, ack_comment=comment, updated_at=at
    )
    return _event(new, "acknowledged", AlertEventType.ACKNOWLEDGED, at_ns)


# -- stale probes ---------------------------------------------------------------------------
def stale_opened(probe: Probe, *, since_ns: int, heard: bool, limit_ns: int, now_ns: int) -> Change:
    """A probe silent since `since_ns` (its last arrival if `heard`, else the start of
    analytics) for longer than `limit_ns`: opened when the limit passed."""
    opened_ns = since_ns + limit_ns
    alert = _opened(
        probe,
        AlertKind.STALE,
        opened_ns=opened_ns,
        updated_ns=opened_ns,
        value=(now_ns - since_ns) / _NS,
        threshold=limit_ns / _NS,
        message=stale_message(probe, since_ns if heard else None, limit_ns),
    )
    return _event(alert, "opened", AlertEventType.OPENED, opened_ns)


def stale_resolved(alert: Alert, arrival_ns: int) -> Change:
    """Data arrived again (arrival time, not measurement time: the probe was silent)."""
    at = to_datetime(arrival_ns)
    resolved = alert.with_changes(
        state=AlertState.RESOLVED,
        resolved_at=at,
        updated_at=at,
        message=alert.message + data_again(arrival_ns),
    )
    return _event(resolved, f"resolved:{arrival_ns}", AlertEventType.RESOLVED, arrival_ns)


# -- trend alerts (written by `gwmon trend`, announced by the service) ----------------------
@dataclass(frozen=True, slots=True)
class TrendOutcome:
    """What a trend result does to the probe's trend alert: `action` None changes
    nothing; otherwise `alert` is written at `point_ns`."""

    alert: Alert | None
    action: TrendAction | None
    point_ns: int = 0


def trend_outcome(
    probe: Probe, result: MannKendallResult, latest: tuple[Alert, int] | None
) -> TrendOutcome:
    """A rising verdict opens a trend alert (or updates the open one); another verdict
    resolves it; `insufficient` leaves it alone. `latest`: the probe's newest stored
    trend alert and its point time."""
    if result.verdict == "insufficient" or result.last_s is None:
        return TrendOutcome(None, None)
    last_ns = round(result.last_s * _NS)
    existing, existing_ns = latest if latest is not None else (None, 0)
    active = existing if existing is not None and existing.state != AlertState.RESOLVED else None
    point_ns = max(last_ns, existing_ns + BUMP_NS)
    if result.verdict == "rising":
        message = trend_message(probe, result)
        if active is not None:
            if active.value == result.slope_per_year and active.message == message:
                return TrendOutcome(active, None)
            updated = active.with_changes(
                value=result.slope_per_year, message=message, updated_at=to_datetime(point_ns)
            )
            return TrendOutcome(updated, "updated", point_ns)
        opened = _opened(
            probe,
            AlertKind.TREND,
            opened_ns=last_ns,
            updated_ns=point_ns,
            value=result.slope_per_year,
            threshold=0.0,
            message=message,
            quantity="nitrate",
        )
        return TrendOutcome(opened, "opened", point_ns)
    if active is None:
        return TrendOutcome(None, None)
    resolved = active.with_changes(
        state=AlertState.RESOLVED,
        resolved_at=to_datetime(last_ns),
        updated_at=to_datetime(point_ns),
        message=active.message + trend_resolved(last_ns, result),
    )
    return TrendOutcome(resolved, "resolved", point_ns)


def superseded(previous: Alert, by: Alert, point_ns: int) -> Change:
    """An open trend alert closed because a newer one of the same probe was opened."""
    closed = previous.with_changes(state=AlertState.RESOLVED, resolved_at=by.opened_at)
    return _event(closed, "superseded", AlertEventType.RESOLVED, point_ns)


# -- drift of a level logger against manual dips (written by `gwmon dips` / `corrections`) ---
@dataclass(frozen=True, slots=True)
class DriftCheck:
    """The comparison that decides a probe's drift alert: its latest dip (time `dip_ns`)
    against the logger's corrected level nearest to it. `offset_m`: logger minus dip,
    None when that logger value is deleted from the corrected series; `correction`: the
    operation that changed the comparison (for the message), if one did."""

    dip_ns: int
    offset_m: float | None
    tolerance_m: float
    correction: str | None = None

    @property
    def exceeded(self) -> bool:
        return self.offset_m is not None and abs(self.offset_m) > self.tolerance_m


def drift_outcome(
    probe: Probe, check: DriftCheck, latest: tuple[Alert, int] | None, *, now_ns: int
) -> TrendOutcome:
    """An offset beyond the tolerance opens a drift alert (at the dip's time) or updates
    the open one; a check within the tolerance, or with the logger value deleted,
    resolves it (at the dip's time; at `now_ns` when a correction made the difference).
    `latest`: the probe's newest stored drift alert and its point time."""
    existing, existing_ns = latest if latest is not None else (None, 0)
    active = existing if existing is not None and existing.state != AlertState.RESOLVED else None
    natural_ns = now_ns if check.correction is not None else check.dip_ns
    point_ns = max(natural_ns, existing_ns + BUMP_NS)
    if check.exceeded:
        assert check.offset_m is not None
        message = drift_message(probe, check.dip_ns, check.offset_m, check.tolerance_m)
        if active is not None:
            if active.value == check.offset_m and active.message == message:
                return TrendOutcome(active, None)
            updated = active.with_changes(
                value=check.offset_m,
                threshold=check.tolerance_m,
                message=message,
                updated_at=to_datetime(point_ns),
            )
            return TrendOutcome(updated, "updated", point_ns)
        opened_ns = check.dip_ns
        if existing is not None and existing.alert_id == alert_id(
            probe.probe_id, AlertKind.DRIFT.value, opened_ns
        ):
            opened_ns = point_ns  # opened again by a revert: a new alert, not the old id
        opened = _opened(
            probe,
            AlertKind.DRIFT,
            opened_ns=opened_ns,
            updated_ns=point_ns,
            value=check.offset_m,
            threshold=check.tolerance_m,
            message=message,
            quantity="level",
            arrival_ns=now_ns,
        )
        return TrendOutcome(opened, "opened", point_ns)
    if active is None:
        return TrendOutcome(None, None)
    resolved = active.with_changes(
        state=AlertState.RESOLVED,
        resolved_at=to_datetime(max(natural_ns, to_ns(active.opened_at))),
        updated_at=to_datetime(point_ns),
        message=active.message + drift_resolved(check.dip_ns, check.offset_m, check.correction),
    )
    return TrendOutcome(resolved, "resolved", point_ns)
