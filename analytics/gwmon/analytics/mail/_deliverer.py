"""The deliverer: queued mails to the mail server, with backoff while it is down.

Also the per-recipient rate limit that decides when a next mail may be queued.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable, Sequence

from gwmon.backoff import Backoff

from ._outbox import Outbox
from ._stats import MailStats
from ._transport import DeliveryError, Transport

logger = logging.getLogger("gwmon.analytics.mail")

HOUR_S = 3600.0


class RateLimit:
    """At most `per_hour` mails per recipient within any hour.

    Counted when a mail is queued, so notices over the limit wait as events and leave
    as one digest when it allows. In memory: a restart starts afresh. Sender thread
    only (not thread-safe).
    """

    def __init__(self, per_hour: int) -> None:
        self._per_hour = per_hour
        self._sent_times: dict[str, deque[float]] = defaultdict(deque)

    def allows(self, recipients: Sequence[str], now: float) -> bool:
        for recipient in recipients:
            times = self._sent_times[recipient]
            while times and times[0] <= now - HOUR_S:
                times.popleft()
            if len(times) >= self._per_hour:
                return False
        return True

    def record(self, recipients: Sequence[str], now: float) -> None:
        for recipient in recipients:
            self._sent_times[recipient].append(now)


class MailDeliverer:
    """Hands the outbox's queued mails to the transport, oldest first.

    A mail leaves the queue only when the server accepted it. A retryable failure
    stops the round and blocks delivery for the backoff's next delay (the next success
    resets it); a permanent refusal (5xx) moves the mail to failed/ for a human and the
    round goes on. Sender thread only (not thread-safe); the outbox is.
    """

    def __init__(
        self, outbox: Outbox, transport: Transport, stats: MailStats, backoff: Backoff
    ) -> None:
        self._outbox = outbox
        self._transport = transport
        self._stats = stats
        self._backoff = backoff
        self._blocked_until_s = 0.0

    def deliver(self, now: float, *, should_stop: Callable[[], bool]) -> None:
        """One round over the queue; returns early when `should_stop()` says so."""
        if now < self._blocked_until_s:
            return
        queued = self._outbox.queued()
        for mail in queued:
            if should_stop():
                return
            try:
                data = self._outbox.message_bytes(mail.key)
            except FileNotFoundError:
                continue
            try:
                self._transport.send(data, mail.sender, mail.recipients)
            except DeliveryError as exc:
                self._stats.delivery_failures += 1
                mail.attempts += 1
                mail.last_error = str(exc)
                if not exc.retryable:
                    self._outbox.mark_failed(mail)
                    self._stats.mails_failed += 1
                    logger.error(
                        "mail %s refused permanently, kept in %s: %s",
                        mail.key[:12],
                        self._outbox.failed,
                        exc,
                    )
                    continue
                self._outbox.update(mail)
                delay = self._backoff.next_delay()
                self._blocked_until_s = now + delay
                logger.warning(
                    "mail delivery failed (%s); %d mail(s) wait, next try in %.0f s",
                    exc,
                    len(queued),
                    delay,
                )
                return
            self._outbox.mark_sent(mail, now)
            self._stats.mails_sent += 1
            self._backoff.reset()
            logger.info("mail %s delivered to %d recipient(s)", mail.key[:12], len(mail.recipients))
