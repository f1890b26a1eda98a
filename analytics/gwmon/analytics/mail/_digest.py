"""From outbox events to queued mails: one mail per audience, or a digest.

The first mail to an audience goes out at once; what else comes for it within the
digest window waits and leaves as one digest when the window ends. The rate limit
holds mails back the same way.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from gwmon.analytics import Alert, alert_from_json, alert_to_json

from ._composer import MailComposer
from ._deliverer import RateLimit
from ._outbox import Outbox, QueuedMail
from ._router import UNROUTED, Audience, MailRouter
from ._stats import MailStats
from ._texts import Notice
from ._words import one_line

logger = logging.getLogger("gwmon.analytics.mail")

COMPOSE_RETRY_S = 60.0
_NOTICE_TYPES = ("opened", "resolved", "reminder")


def event_record(
    event_id: str, notice_type: str, alert: Alert | dict[str, Any], now: float, number: int
) -> dict[str, object]:
    """An outbox event (before its audience is added): what `notice_from_record` reads.
    `alert` as the Alert or as its JSON already."""
    return {
        "event_id": event_id,
        "type": notice_type,
        "alert": alert_to_json(alert) if isinstance(alert, Alert) else alert,
        "queued_at_s": now,
        "reminder_no": number,
    }


def notice_from_record(record: dict[str, Any]) -> Notice:
    """The notice of an outbox event; KeyError, ValueError or TypeError when unusable."""
    if record.get("type") not in _NOTICE_TYPES:
        raise ValueError(f"unknown type {record.get('type')!r}")
    return Notice(
        type=record["type"],
        event_id=str(record["event_id"]),
        alert=_printable(alert_from_json(record["alert"])),
        queued_at_s=float(record["queued_at_s"]),
        reminder_no=int(record.get("reminder_no", 0)),
    )


def _printable(alert: Alert) -> Alert:
    """Text from the registry and analytics, safe for headers and one-line fields."""
    return alert.with_changes(
        site=one_line(alert.site),
        municipality=one_line(alert.municipality),
        message=one_line(alert.message),
        acked_by=one_line(alert.acked_by) if alert.acked_by else alert.acked_by,
    )


class DigestQueue:
    """Groups the pending events by audience and queues a mail for each audience whose
    digest window, compose retry and rate limit allow it.

    Sender thread only (not thread-safe); the outbox it shares is. The windows are in
    memory: after a restart the first mail per audience goes out at once.
    """

    def __init__(
        self,
        outbox: Outbox,
        router: MailRouter,
        composer: MailComposer,
        *,
        sender: str,
        digest_window_s: float,
        rate_limit: RateLimit,
        stats: MailStats,
        on_queued: Callable[[], None],
    ) -> None:
        self._outbox = outbox
        self._router = router
        self._composer = composer
        self._sender = sender
        self._window_s = digest_window_s
        self._rate_limit = rate_limit
        self._stats = stats
        self._on_queued = on_queued
        self._last_mail_s: dict[str, float] = {}
        self._compose_retry_s: dict[str, float] = {}
        self._seq = 0

    def compose_due(self, now: float) -> None:
        """Queue the mails that are due now; the rest of the events keep waiting."""
        groups = self._pending_by_audience()
        for audience, items in sorted(
            groups.items(), key=lambda g: self._router.compose_order(g[0])
        ):
            if not audience.recipients:
                logger.error("no recipients for %s: %d notice(s) wait", audience.name, len(items))
                continue
            last = self._last_mail_s.get(audience.key)
            if last is not None and now < last + self._window_s:
                continue  # within the digest window: wait and send these together
            if now < self._compose_retry_s.get(audience.key, 0.0):
                continue
            if not self._rate_limit.allows(audience.recipients, now):
                logger.info(
                    "rate limit reached for %s; %d notice(s) wait", audience.name, len(items)
                )
                continue
            items.sort(key=lambda item: (item[1].queued_at_s, item[1].event_id))
            try:
                self._queue_mail(audience, items, now)
            except Exception:  # a bug in one mail must not stop the others; logged
                logger.exception(
                    "composing a mail for %s failed; %d notice(s) stay in the outbox, "
                    "next try in %.0f s",
                    audience.name,
                    len(items),
                    COMPOSE_RETRY_S,
                )
                self._compose_retry_s[audience.key] = now + COMPOSE_RETRY_S
                continue
            self._last_mail_s[audience.key] = now
            self._rate_limit.record(audience.recipients, now)

    def _pending_by_audience(self) -> dict[Audience, list[tuple[str, Notice]]]:
        """(event key, notice) per audience; an unusable event is set aside for a human."""
        groups: dict[Audience, list[tuple[str, Notice]]] = defaultdict(list)
        for key, record in self._outbox.pending_events():
            try:
                notice = notice_from_record(record)
            except (KeyError, ValueError, TypeError) as exc:
                where = self._outbox.set_aside(key)
                logger.error("outbox event %s unusable (%s); moved to %s", key, exc, where)
                continue
            audience = self._router.audience(str(record.get("audience", UNROUTED)))
            groups[audience].append((key, notice))
        return groups

    def _queue_mail(self, audience: Audience, items: list[tuple[str, Notice]], now: float) -> None:
        keys = [key for key, _ in items]
        notices = [notice for _, notice in items]
        mail_key = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:40]
        composed = self._composer.compose(mail_key, audience, notices, now)
        mail = QueuedMail(
            key=mail_key,
            recipients=list(audience.recipients),
            sender=self._sender,
            event_keys=keys,
            created_s=now,
            seq=self._seq,
        )
        self._seq += 1
        self._outbox.queue_mail(mail, composed.data)
        self._stats.mails_queued += 1
        if len(notices) > 1:
            self._stats.digests_queued += 1
        logger.info(
            "queued mail %s for %s (%d notice(s)): %s",
            mail_key[:12],
            audience.name,
            len(notices),
            composed.subject,
        )
        self._on_queued()
