"""Alert types shared by the analytics stage and its consumers (mail, CLI, dashboards).

This module is the contract; docs/alerts.md documents how alerts are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class AlertKind(StrEnum):
    BREACH = "breach"  # nitrate > breach threshold (GrwV Anlage 2, 50 mg/L)
    WARNING = "warning"  # nitrate > warning threshold (trend-reversal start, 37.5 mg/L)
    LEVEL_LOW = "level_low"  # groundwater below the minimum operating level
    LEVEL_HIGH = "level_high"  # groundwater above the maximum level
    SENSOR_FAULT = "sensor_fault"  # QC says the sensor, not the aquifer, has a problem
    STALE = "stale"  # probe silent for longer than expected_interval_s x N
    TREND = "trend"  # significant rising nitrate trend (GrwV Anlage 6)


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# Water-quality kinds go to the Stabsstelle and the waterworks operators; the others
# to the operators' maintenance crew only.
WATER_QUALITY_KINDS = frozenset(
    {
        AlertKind.BREACH,
        AlertKind.WARNING,
        AlertKind.TREND,
        AlertKind.LEVEL_LOW,
        AlertKind.LEVEL_HIGH,
    }
)
MAINTENANCE_KINDS = frozenset({AlertKind.SENSOR_FAULT, AlertKind.STALE})


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. Times are timezone-aware UTC; `opened_at`/`resolved_at` are
    measurement times, `arrival_at` when the reading that opened it reached gwmon."""

    alert_id: str
    probe: str
    site: str
    municipality: str
    kind: AlertKind
    severity: Severity
    state: AlertState
    opened_at: datetime
    updated_at: datetime
    value: float | None
    threshold: float | None
    unit: str
    message: str
    arrival_at: datetime | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    ack_comment: str | None = None
    resolved_at: datetime | None = None
    # Added by the analytics stage (compatible additions):
    # `withdrawn`: re-evaluation with late readings showed that the alarm never held in
    # measurement-time order; the alert is resolved with resolved_at == opened_at.
    withdrawn: bool = False
    # `quantity`: the measured quantity the alert is about (None for stale/trend-less cases).
    quantity: str | None = None

    def with_changes(self, **changes: object) -> Alert:
        return replace(self, **changes)  # type: ignore[arg-type]


class AlertEventType(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"  # a repeat raised the value (e.g. new maximum); no mail by default
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A change of an alert. `event_id` is stable across restarts and redeliveries
    (e.g. f"{alert_id}:opened"), so consumers can use it as an idempotency key."""

    event_id: str
    type: AlertEventType
    alert: Alert


class AlertListener(Protocol):
    """Receives alert events, synchronously, in the order they happen.

    Called by the analytics stage inside the ingest's batch handling, i.e. before the
    broker is acknowledged: when `alert_event` returns, the listener must have made the
    event durable (e.g. the mail outbox has it on disk). It must not raise for an
    individual event's content; an exception is logged and counted by the caller.
    """

    def alert_event(self, event: AlertEvent) -> None: ...


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse_iso(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def alert_to_json(alert: Alert) -> dict[str, Any]:
    """Every field of `alert`, times as ISO 8601 (for the CLI's JSON and the mail outbox)."""
    return {
        "alert_id": alert.alert_id,
        "probe": alert.probe,
        "site": alert.site,
        "municipality": alert.municipality,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "state": alert.state.value,
        "opened_at": _iso(alert.opened_at),
        "updated_at": _iso(alert.updated_at),
        "value": alert.value,
        "threshold": alert.threshold,
        "unit": alert.unit,
        "message": alert.message,
        "arrival_at": _iso(alert.arrival_at),
        "acked_at": _iso(alert.acked_at),
        "acked_by": alert.acked_by,
        "ack_comment": alert.ack_comment,
        "resolved_at": _iso(alert.resolved_at),
        "withdrawn": alert.withdrawn,
        "quantity": alert.quantity,
    }


def alert_from_json(data: Mapping[str, Any]) -> Alert:
    """The inverse of `alert_to_json`; raises ValueError/KeyError on a broken record."""
    opened = _parse_iso(data["opened_at"])
    updated = _parse_iso(data["updated_at"])
    if opened is None or updated is None:
        msg = "alert without opened_at/updated_at"
        raise ValueError(msg)
    return Alert(
        alert_id=str(data["alert_id"]),
        probe=str(data["probe"]),
        site=str(data["site"]),
        municipality=str(data["municipality"]),
        kind=AlertKind(data["kind"]),
        severity=Severity(data["severity"]),
        state=AlertState(data["state"]),
        opened_at=opened,
        updated_at=updated,
        value=None if data.get("value") is None else float(data["value"]),
        threshold=None if data.get("threshold") is None else float(data["threshold"]),
        unit=str(data.get("unit", "")),
        message=str(data.get("message", "")),
        arrival_at=_parse_iso(data.get("arrival_at")),
        acked_at=_parse_iso(data.get("acked_at")),
        acked_by=data.get("acked_by"),
        ack_comment=data.get("ack_comment"),
        resolved_at=_parse_iso(data.get("resolved_at")),
        withdrawn=bool(data.get("withdrawn", False)),
        quantity=data.get("quantity"),
    )
