"""Alert types shared by the analytics stage and its consumers (mail, CLI, dashboards).

This module is the contract; docs/alerts.md documents how alerts are stored, and
`_codec.py` derives every stored form of an `Alert` from its fields.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class AlertKind(StrEnum):
    BREACH = "breach"  # nitrate > breach threshold (default: the GrwV Schwellenwert)
    WARNING = "warning"  # nitrate > warning threshold (default: the trend-reversal start)
    LEVEL_LOW = "level_low"  # groundwater below the minimum operating level
    LEVEL_HIGH = "level_high"  # groundwater above the maximum level
    SENSOR_FAULT = "sensor_fault"  # QC says the sensor, not the aquifer, has a problem
    STALE = "stale"  # probe silent for longer than expected_interval_s x N
    TREND = "trend"  # significant rising nitrate trend (GrwV Anlage 6)
    DRIFT = "drift"  # the logger's level differs from a manual dip beyond the tolerance


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# Maintenance kinds go to the operators' maintenance crew only; the others (water
# quality) to the Stabsstelle and the waterworks operators.
MAINTENANCE_KINDS = frozenset({AlertKind.SENSOR_FAULT, AlertKind.STALE, AlertKind.DRIFT})


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
    broker is acknowledged (and, for an acknowledgement, on the acknowledging thread):
    when `alert_event` returns, the listener must have made the event durable (e.g. the
    mail outbox has it on disk). It must not raise for an
    individual event's content; an exception is logged and counted by the caller.
    """

    def alert_event(self, event: AlertEvent) -> None: ...
