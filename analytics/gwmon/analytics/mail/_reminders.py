"""When the mail stage reminds of an open alert, and how often it did.

The alerts themselves come from the alert book (`gwmon.analytics.AlertBookView`): what
a reminder says, whether the alert is still open, and what the acknowledgement page
names are read there when needed, never copied. This book keeps only the mail stage's own
schedule, in the outbox's `alerts.json` (alert id -> {"next_s": time of the next
reminder or null, "count": reminders so far}), so reminders continue after a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gwmon.analytics import (
    Alert,
    AlertBookView,
    AlertEvent,
    AlertEventType,
    AlertState,
    alert_to_json,
)

from ._digest import event_record
from ._outbox import Outbox
from ._settings import MailSettings

PutEvent = Callable[[dict[str, object], Alert], bool]
"""Writes an outbox event for the alert's audiences; False when all were there already."""


class ReminderBook:
    """Which open alerts are due for a reminder, and when.

    Thread-safe (its own lock): events come from the ingest thread, reminders are
    queued on the sender thread, acknowledgements arrive on HTTP threads. Every change
    is saved before the call returns.
    """

    def __init__(self, outbox: Outbox, settings: MailSettings, book: AlertBookView) -> None:
        self._outbox = outbox
        self._book = book
        self._interval_s = settings.reminder_interval_s
        self._kinds = frozenset(settings.reminder_kinds)
        self._lock = threading.Lock()
        self._schedule: dict[str, dict[str, Any]] = {
            # Files of earlier versions also held a copy of the alert: dropped here.
            alert_id: {"next_s": entry.get("next_s"), "count": int(entry.get("count", 0))}
            for alert_id, entry in outbox.load_alerts().items()
        }

    def track(self, event: AlertEvent, now: float) -> None:
        """Follow an alert event: an opened alert gets its first reminder time when its
        kind is reminded, an acknowledged one is no longer reminded, a resolved one is
        forgotten."""
        alert = event.alert
        with self._lock:
            entry = self._schedule.get(alert.alert_id)
            if event.type == AlertEventType.OPENED:
                if alert.state != AlertState.OPEN:
                    return
                remind = self._interval_s > 0 and alert.kind in self._kinds
                self._schedule[alert.alert_id] = {
                    "next_s": now + self._interval_s if remind else None,
                    "count": 0,
                }
            elif entry is None:
                return
            elif event.type == AlertEventType.RESOLVED:
                del self._schedule[alert.alert_id]
            elif event.type == AlertEventType.ACKNOWLEDGED or alert.acked_at is not None:
                entry["next_s"] = None
            else:
                return
            self._outbox.save_alerts(self._schedule)

    def queue_due(self, now: float, put: PutEvent) -> int:
        """Put a reminder event for every alert due at `now` that the alert book still
        shows open, and schedule the next one.

        The events are written before the schedule: a crash in between repeats the same
        reminder number, which the outbox drops as a duplicate. Returns how many were new.
        """
        queued = 0
        with self._lock:
            changed = False
            for alert_id, entry in list(self._schedule.items()):
                if entry["next_s"] is None or now < float(entry["next_s"]):
                    continue
                changed = True
                alert = self._book.get(alert_id)
                if alert is None or alert.state == AlertState.RESOLVED:
                    del self._schedule[alert_id]  # gone from the book: nothing to remind of
                    continue
                if alert.state == AlertState.ACKNOWLEDGED:
                    entry["next_s"] = None
                    continue
                number = int(entry["count"]) + 1
                record = event_record(
                    f"{alert_id}:reminder:{number}", "reminder", alert_to_json(alert), now, number
                )
                if put(record, alert):
                    queued += 1
                entry["count"] = number
                entry["next_s"] = now + self._interval_s
            if changed:
                self._outbox.save_alerts(self._schedule)
        return queued

    def acknowledged(self, alert: Alert) -> None:
        """The alert was acknowledged through a mail link: no more reminders."""
        with self._lock:
            entry = self._schedule.get(alert.alert_id)
            if entry is not None:
                entry["next_s"] = None
                self._outbox.save_alerts(self._schedule)
