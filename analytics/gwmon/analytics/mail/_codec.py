"""Alerts and events to and from the outbox's JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gwmon.analytics import Alert, AlertKind, AlertState, Severity


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def alert_to_json(alert: Alert) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "probe": alert.probe,
        "site": alert.site,
        "municipality": alert.municipality,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "state": alert.state.value,
        "opened_at": _time(alert.opened_at),
        "updated_at": _time(alert.updated_at),
        "value": alert.value,
        "threshold": alert.threshold,
        "unit": alert.unit,
        "message": alert.message,
        "arrival_at": _time(alert.arrival_at),
        "acked_at": _time(alert.acked_at),
        "acked_by": alert.acked_by,
        "ack_comment": alert.ack_comment,
        "resolved_at": _time(alert.resolved_at),
    }


def alert_from_json(data: dict[str, Any]) -> Alert:
    opened = _parse_time(data["opened_at"])
    updated = _parse_time(data["updated_at"])
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
        arrival_at=_parse_time(data.get("arrival_at")),
        acked_at=_parse_time(data.get("acked_at")),
        acked_by=data.get("acked_by"),
        ack_comment=data.get("ack_comment"),
        resolved_at=_parse_time(data.get("resolved_at")),
    )
