"""The open alerts the mail stage remembers: reminders and the acknowledgement page.

Kept in the outbox's `alerts.json` (alert id -> {"alert": JSON, "next_s": time of the
next reminder or null, "count": reminders so far}), so reminders continue after a
restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gwmon.analytics import (
    Alert,
    AlertEvent,
    AlertEventType,
    AlertState,
    alert_from_json,
    alert_to_json,
)

from ._digest import event_record
from ._outbox import Outbox
from ._settings import MailSettings

PutEvent = Callable[[dict[str, object], Alert], bool]
"""Writes an outbox event for the alert's audiences; False when all were there already."""


class ReminderBook:
    """Open alerts, when each is due for a reminder, and what the ack page names.

    Thread-safe (its own lock): events come from the ingest thread, reminders are
    queued on the sender thread, acknowledgements arrive on HTTP threads. Every change
    is saved before the call returns.
    """

    def __init__(self, outbox: Outbox, settings: MailSettings) -> None:
        self._outbox = outbox
        self._interval_s = settings.reminder_interval_s
        self._kinds = frozenset(settings.reminder_kinds)
        self._lock = threading.Lock()
        self._alerts: dict[str, dict[str, Any]] = outbox.load_alerts()

    def track(self, event: AlertEvent, now: float) -> None:
        """Follow an alert event: an opened alert is remembered (with its first reminder
        time when its kind is reminded), an acknowledged one no longer reminded, a
        resolved one forgotten."""
        alert = event.alert
        with self._lock:
            entry = self._alerts.get(alert.alert_id)
            if event.type == AlertEventType.OPENED:
                if alert.state != AlertState.OPEN:
                    return
                remind = self._interval_s > 0 and alert.kind in self._kinds
                self._alerts[alert.alert_id] = {
                    "alert": alert_to_json(alert),
                    "next_s": now + self._interval_s if remind else None,
                    "count": 0,
                }
            elif entry is None:
                return
            elif event.type == AlertEventType.RESOLVED:
                del self._alerts[alert.alert_id]
            else:
                entry["alert"] = alert_to_json(alert)
                if event.type == AlertEventType.ACKNOWLEDGED or alert.acked_at is not None:
                    entry["next_s"] = None
            self._outbox.save_alerts(self._alerts)

    def queue_due(self, now: float, put: PutEvent) -> int:
        """Put a reminder event for every alert due at `now` and schedule the next one.

        The events are written before the schedule: a crash in between repeats the same
        reminder number, which the outbox drops as a duplicate. Returns how many were new.
        """
        queued = 0
        with self._lock:
            changed = False
            for alert_id, entry in self._alerts.items():
                if entry["next_s"] is None or now < float(entry["next_s"]):
                    continue
                number = int(entry["count"]) + 1
                record = event_record(
                    f"{alert_id}:reminder:{number}", "reminder", entry["alert"], now, number
                )
                if put(record, alert_from_json(entry["alert"])):
                    queued += 1
                entry["count"] = number
                entry["next_s"] = now + self._interval_s
                changed = True
            if changed:
                self._outbox.save_alerts(self._alerts)
        return queued

    def acknowledged(self, alert: Alert) -> None:
        """The alert was acknowledged through a mail link: no more reminders."""
        with self._lock:
            entry = self._alerts.get(alert.alert_id)
            if entry is not None:
                entry["alert"] = alert_to_json(alert)
                entry["next_s"] = None
                self._outbox.save_alerts(self._alerts)

    def alert(self, alert_id: str) -> Alert | None:
        """The remembered state of an open alert, None when it is not open (or unknown)."""
        with self._lock:
            entry = self._alerts.get(alert_id)
        return None if entry is None else alert_from_json(entry["alert"])
