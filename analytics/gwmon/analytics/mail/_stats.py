"""Counters of the mail stage (`MailService.stats`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class MailStats:
    """What went through the mail stage since start. Each counter is written by one
    thread (events: the ingest's; mails: the sender's; acks: the HTTP workers')."""

    events_accepted: int = 0
    events_duplicate: int = 0
    events_ignored: int = 0
    mails_queued: int = 0
    digests_queued: int = 0
    reminders_queued: int = 0
    mails_sent: int = 0
    delivery_failures: int = 0
    mails_failed: int = 0
    acks: int = 0
