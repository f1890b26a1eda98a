"""Alerts: ids, messages, the storage contract (`alert`, `qc`; docs/alerts.md) and the
translation of alarm episodes into alert changes and events.

Ids are derived from data, never from counters or clocks: an alert is
`<probe>.<kind>.<opened_at as YYYYmmddTHHMMSS[fraction]Z>`, so the same readings give the
same alert id whatever order they arrived in and across restarts; event ids append the
change (`:opened`, `:resolved:<ns>`, `:acknowledged`, `:updated:<ns>`, `:withdrawn`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gwmon.analytics._engine import Episode, Flag
from gwmon.analytics._model import (
    Alert,
    AlertEvent,
    AlertEventType,
    AlertKind,
    AlertState,
    Severity,
)
from gwmon.ingest import DEFAULT_NITRATE_BREACH_MG_L, DEFAULT_NITRATE_WARNING_MG_L, Probe
from gwmon.storage import FieldValue, InfluxClient, Point

ALERT = "alert"
QC = "qc"
TREND = "trend"
ALERT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}\.[a-z_]+\.[0-9]{8}T[0-9]{6}[0-9]*Z")

_NS = 1_000_000_000
GRWV_NITRATE_MG_L = DEFAULT_NITRATE_BREACH_MG_L  # Schwellenwert, GrwV Anlage 2
# The start of trend reversal: at most 75 % of the Schwellenwert (GrwV § 10, Anlage 2).
TREND_REVERSAL_START_MG_L = DEFAULT_NITRATE_WARNING_MG_L

SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.BREACH: Severity.CRITICAL,
    AlertKind.LEVEL_LOW: Severity.CRITICAL,
    AlertKind.WARNING: Severity.WARNING,
    AlertKind.LEVEL_HIGH: Severity.WARNING,
    AlertKind.TREND: Severity.WARNING,
    AlertKind.SENSOR_FAULT: Severity.WARNING,
    AlertKind.STALE: Severity.WARNING,
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
}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(time_ns: int) -> datetime:
    """UTC datetime of a UNIX time in ns (exact to the microsecond, integer arithmetic)."""
    return _EPOCH + timedelta(microseconds=time_ns // 1000)


def to_ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        msg = "times must be timezone-aware (UTC)"
        raise ValueError(msg)
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000


def stamp(time_ns: int) -> str:
    seconds, fraction = divmod(time_ns, _NS)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y%m%dT%H%M%S")
    if fraction:
        text += f"{fraction:09d}".rstrip("0")
    return text + "Z"


def alert_id(probe: str, kind: str, opened_ns: int) -> str:
    return f"{probe}.{kind}.{stamp(opened_ns)}"


def _when(time_ns: int) -> str:
    return to_datetime(time_ns).strftime("%Y-%m-%d %H:%M UTC")


def _place(probe: Probe) -> str:
    return f"{probe.probe_id} ({probe.site}, {probe.municipality})"


def _is_value(threshold: float, legal: float) -> bool:
    return abs(threshold - legal) < 1e-9


def episode_message(probe: Probe, episode: Episode) -> str:
    """English alert text. The legal values are named as such (GrwV Anlage 2: 50 mg/L;
    trend-reversal start: at most 75 % of it, 37.5 mg/L); a probe's own registry
    thresholds are called the probe's, never the GrwV's."""
    kind = AlertKind(episode.kind)
    since = _when(episode.opened_ns)
    threshold = episode.threshold if episode.threshold is not None else math.nan
    values = f"({episode.open_value:.1f} mg/L, peak {episode.value:.1f} mg/L)"
    if kind is AlertKind.BREACH:
        if _is_value(threshold, GRWV_NITRATE_MG_L):
            text = (
                f"Nitrate at {_place(probe)} exceeded the GrwV Anlage 2 threshold value "
                f"(Schwellenwert) of {threshold:g} mg/L on {since} {values}."
            )
        else:
            text = (
                f"Nitrate at {_place(probe)} exceeded the probe's alarm threshold of "
                f"{threshold:g} mg/L on {since} {values}; the GrwV Anlage 2 threshold value "
                f"is {GRWV_NITRATE_MG_L:g} mg/L."
            )
        text += " Groundwater, not a drinking-water result."
    elif kind is AlertKind.WARNING:
        if _is_value(threshold, TREND_REVERSAL_START_MG_L):
            text = (
                f"Nitrate at {_place(probe)} exceeded {threshold:g} mg/L, the trend-reversal "
                f"starting point (75 % of the GrwV threshold value of {GRWV_NITRATE_MG_L:g} "
                f"mg/L), on {since} {values}."
            )
        else:
            text = (
                f"Nitrate at {_place(probe)} exceeded the probe's warning threshold of "
                f"{threshold:g} mg/L on {since} {values}; the GrwV trend-reversal starting "
                f"point is at most 75 % of the {GRWV_NITRATE_MG_L:g} mg/L threshold value, "
                f"{TREND_REVERSAL_START_MG_L:g} mg/L."
            )
    elif kind is AlertKind.LEVEL_LOW:
        text = (
            f"Groundwater level at {_place(probe)} fell below the minimum operating level "
            f"{threshold:.2f} m NHN on {since} (lowest {episode.value:.2f} m NHN)."
        )
    elif kind is AlertKind.LEVEL_HIGH:
        text = (
            f"Groundwater level at {_place(probe)} rose above the maximum level "
            f"{threshold:.2f} m NHN on {since} (highest {episode.value:.2f} m NHN)."
        )
    else:
        text = (
            f"Sensor fault at {_place(probe)} since {since}: {episode.detail}. Flagged "
            "readings are kept but raise no water-quality alarm; please check the probe."
        )
    if episode.resolved_ns is not None:
        text += f" Back to normal on {_when(episode.resolved_ns)}."
    return text


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


Change = tuple[AlertEvent, int]  # the event and the natural time (ns) of its alert point


def episode_changes(probe: Probe, episode: Episode, existing: Alert | None) -> list[Change]:
    """What storing `episode` changes relative to `existing` (None: a new alert)."""
    alert = _alert_from_episode(probe, episode, existing)
    aid = alert.alert_id
    if existing is None or existing.withdrawn:
        if existing is None:
            opened = alert if alert.state != AlertState.RESOLVED else None
            first = opened or alert.with_changes(
                state=AlertState.OPEN, resolved_at=None, updated_at=alert.opened_at
            )
            changes: list[Change] = [
                (AlertEvent(f"{aid}:opened", AlertEventType.OPENED, first), episode.opened_ns)
            ]
        else:
            changes = [
                (
                    AlertEvent(
                        f"{aid}:reinstated:{episode.last_ns}", AlertEventType.UPDATED, alert
                    ),
                    episode.opened_ns,
                )
            ]
        if episode.resolved_ns is not None:
            changes.append(
                (
                    AlertEvent(
                        f"{aid}:resolved:{episode.resolved_ns}", AlertEventType.RESOLVED, alert
                    ),
                    episode.resolved_ns,
                )
            )
        return changes
    changes = []
    if existing.state == AlertState.RESOLVED and episode.resolved_ns is None:
        changes.append(
            (
                AlertEvent(f"{aid}:reopened:{episode.last_ns}", AlertEventType.UPDATED, alert),
                episode.last_ns,
            )
        )
    elif existing.value != alert.value and episode.resolved_ns is None:
        changes.append(
            (
                AlertEvent(f"{aid}:updated:{episode.last_ns}", AlertEventType.UPDATED, alert),
                episode.last_ns,
            )
        )
    if episode.resolved_ns is not None and (
        existing.state != AlertState.RESOLVED or existing.resolved_at != alert.resolved_at
    ):
        changes.append(
            (
                AlertEvent(f"{aid}:resolved:{episode.resolved_ns}", AlertEventType.RESOLVED, alert),
                episode.resolved_ns,
            )
        )
    elif not changes and existing != alert:
        # Peak of an already resolved alert corrected by late data: store, no event.
        changes.append(
            (
                AlertEvent(f"{aid}:corrected:{episode.last_ns}", AlertEventType.UPDATED, alert),
                episode.last_ns,
            )
        )
    return changes


def withdrawal(existing: Alert) -> Change:
    alert = existing.with_changes(
        state=AlertState.RESOLVED,
        withdrawn=True,
        resolved_at=existing.opened_at,
        message="Withdrawn after re-evaluation with late readings (the alarm did not hold in "
        "measurement-time order): " + existing.message,
    )
    event = AlertEvent(f"{existing.alert_id}:withdrawn", AlertEventType.RESOLVED, alert)
    return event, to_ns(existing.opened_at)


# -- storage ----------------------------------------------------------------------------


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else to_ns(moment) / _NS


def alert_point(alert: Alert, time_ns: int) -> Point:
    fields: dict[str, FieldValue] = {
        "alert_id": alert.alert_id,
        "state": alert.state.value,
        "opened_at_s": to_ns(alert.opened_at) / _NS,
        "unit": alert.unit,
        "message": alert.message,
        "withdrawn": alert.withdrawn,
    }
    optional: dict[str, FieldValue | None] = {
        "arrival_at_s": _seconds(alert.arrival_at),
        "acked_at_s": _seconds(alert.acked_at),
        "acked_by": alert.acked_by,
        "ack_comment": alert.ack_comment,
        "resolved_at_s": _seconds(alert.resolved_at),
        "value": alert.value,
        "threshold": alert.threshold,
        "quantity": alert.quantity,
    }
    for key, value in optional.items():
        if value is not None and not (isinstance(value, float) and not math.isfinite(value)):
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            fields[key] = float(value) if is_number else value
    tags = {
        "probe": alert.probe,
        "site": alert.site,
        "municipality": alert.municipality,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
    }
    return Point(ALERT, tags, fields, time_ns)


def qc_point(probe: Probe, quantity: str, time_ns: int, value: float, flag: Flag) -> Point:
    return Point(
        QC,
        {
            "probe": probe.probe_id,
            "site": probe.site,
            "municipality": probe.municipality,
            "quantity": quantity,
            "flag": flag.flag,
        },
        {"value": float(value), "detector": flag.detector, "detail": flag.detail},
        time_ns,
    )


def qc_delete(probe: str, quantity: str, flag: str, time_ns: int) -> str:
    # probe ids match [A-Za-z0-9_-]; quantity and flag come from our own tables.
    return (
        f'DELETE FROM "{QC}" WHERE "probe" = \'{probe}\' AND "quantity" = \'{quantity}\' '  # noqa: S608
        f"AND \"flag\" = '{flag}' AND time >= {time_ns} AND time <= {time_ns}"
    )


LAST_STATES = (
    'SELECT last("state") AS state, last("alert_id") AS alert_id FROM "alert" '
    'GROUP BY "probe", "kind"'
)


def fetch_alert(store: InfluxClient, aid: str) -> tuple[Alert, int] | None:
    """The latest stored state of an alert and its point time (ns), or None."""
    if not ALERT_ID_PATTERN.fullmatch(aid):
        return None
    rows = store.query_rows(
        f'SELECT * FROM "{ALERT}" WHERE "alert_id" = \'{aid}\' '  # noqa: S608 - id validated
        "ORDER BY time DESC LIMIT 1"
    )
    if not rows:
        return None
    return alert_from_row(rows[0]), int(rows[0]["time"])


def _dt_or_none(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return to_datetime(round(float(value) * _NS))
    return None


def alert_from_row(row: Mapping[str, Any]) -> Alert:
    """An Alert from one `alert` point as returned by InfluxQL `SELECT *` (epoch ns)."""
    opened = _dt_or_none(row.get("opened_at_s"))
    if opened is None:
        msg = f"alert point without opened_at_s: {row.get('alert_id')!r}"
        raise ValueError(msg)
    value = row.get("value")
    threshold = row.get("threshold")
    return Alert(
        alert_id=str(row["alert_id"]),
        probe=str(row.get("probe") or ""),
        site=str(row.get("site") or ""),
        municipality=str(row.get("municipality") or ""),
        kind=AlertKind(row["kind"]),
        severity=Severity(row.get("severity") or SEVERITY[AlertKind(row["kind"])]),
        state=AlertState(row["state"]),
        opened_at=opened,
        updated_at=to_datetime(int(row["time"])),
        value=float(value) if isinstance(value, int | float) else None,
        threshold=float(threshold) if isinstance(threshold, int | float) else None,
        unit=str(row.get("unit") or ""),
        message=str(row.get("message") or ""),
        arrival_at=_dt_or_none(row.get("arrival_at_s")),
        acked_at=_dt_or_none(row.get("acked_at_s")),
        acked_by=row.get("acked_by") if isinstance(row.get("acked_by"), str) else None,
        ack_comment=row.get("ack_comment") if isinstance(row.get("ack_comment"), str) else None,
        resolved_at=_dt_or_none(row.get("resolved_at_s")),
        withdrawn=bool(row.get("withdrawn") or False),
        quantity=row.get("quantity") if isinstance(row.get("quantity"), str) else None,
    )


# -- JSON codec for the state file and the outbox -----------------------------------------


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    def ns(moment: datetime | None) -> int | None:
        return None if moment is None else to_ns(moment)

    return {
        "alert_id": alert.alert_id,
        "probe": alert.probe,
        "site": alert.site,
        "municipality": alert.municipality,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "state": alert.state.value,
        "opened_at": ns(alert.opened_at),
        "updated_at": ns(alert.updated_at),
        "value": alert.value,
        "threshold": alert.threshold,
        "unit": alert.unit,
        "message": alert.message,
        "arrival_at": ns(alert.arrival_at),
        "acked_at": ns(alert.acked_at),
        "acked_by": alert.acked_by,
        "ack_comment": alert.ack_comment,
        "resolved_at": ns(alert.resolved_at),
        "withdrawn": alert.withdrawn,
        "quantity": alert.quantity,
    }


def alert_from_dict(data: Mapping[str, Any]) -> Alert:
    def dt(key: str) -> datetime | None:
        value = data.get(key)
        return None if value is None else to_datetime(int(value))

    opened, updated = dt("opened_at"), dt("updated_at")
    assert opened is not None and updated is not None
    return Alert(
        alert_id=data["alert_id"],
        probe=data["probe"],
        site=data["site"],
        municipality=data["municipality"],
        kind=AlertKind(data["kind"]),
        severity=Severity(data["severity"]),
        state=AlertState(data["state"]),
        opened_at=opened,
        updated_at=updated,
        value=data["value"],
        threshold=data["threshold"],
        unit=data["unit"],
        message=data["message"],
        arrival_at=dt("arrival_at"),
        acked_at=dt("acked_at"),
        acked_by=data["acked_by"],
        ack_comment=data["ack_comment"],
        resolved_at=dt("resolved_at"),
        withdrawn=bool(data.get("withdrawn", False)),
        quantity=data.get("quantity"),
    )


def event_to_dict(event: AlertEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "type": event.type.value,
        "alert": alert_to_dict(event.alert),
    }


def event_from_dict(data: Mapping[str, Any]) -> AlertEvent:
    return AlertEvent(
        event_id=data["event_id"],
        type=AlertEventType(data["type"]),
        alert=alert_from_dict(data["alert"]),
    )
