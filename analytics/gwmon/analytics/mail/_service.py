"""The mail stage's public face: alert events in, mails out, acknowledgements back.

`MailService` wires the parts, each with its own module: the router (`_router`: who
hears of an alert), the durable outbox (`_outbox`), the reminder book (`_reminders`),
the digest queue and composer (`_digest`, `_composer`: when a mail goes, what it says),
the deliverer (`_deliverer`: SMTP or maildir, backoff, permanent refusals) and the
acknowledgement endpoint (`_ackserver`).

Lifecycle (see `MailService`):
- `build_mail_service(...)` validates [mail] against the registry and opens the outbox
  (recovering whatever a crash left half-done);
- `alert_event(event)` is called on the ingest's thread; it writes the event to the
  outbox (fsync) and returns — no network, no rendering;
- `start()` starts the sender thread and the acknowledgement endpoint; the sender
  thread composes (digest window, rate limit, chart from InfluxDB) and delivers with
  backoff while the server is down;
- `stop()` stops both; undelivered mails stay in the outbox for the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus

from gwmon.analytics import Alert, AlertBookView, AlertEvent, AlertEventType
from gwmon.analytics import load_settings as load_analytics_settings
from gwmon.backoff import Backoff
from gwmon.config import ConfigError, read_secret_file
from gwmon.dashboards import CONFIG_SECTION as DASHBOARDS_SECTION
from gwmon.dashboards import DashboardsSettings
from gwmon.ingest import GwmonConfig, Registry
from gwmon.storage import InfluxClient, InfluxSettings

from ._ackserver import AckRefused, AckServer
from ._composer import MailComposer
from ._deliverer import MailDeliverer, RateLimit
from ._digest import DigestQueue, event_record
from ._outbox import Outbox, event_key
from ._reminders import ReminderBook
from ._router import MailRouter
from ._settings import TOKEN_KEY_FILE, MailSettings, check_config, load_settings
from ._stats import MailStats
from ._texts import what, where
from ._token import AckClaims
from ._transport import Transport, make_transport
from ._words import DEFAULT_ALPHA

logger = logging.getLogger("gwmon.analytics.mail")

PRUNE_EVERY_S = 3600.0


_DEFAULT_DASHBOARDS = DashboardsSettings()


class MailService:
    """The mail stage; implements `AlertListener`.

    Thread-safe: `alert_event` on the ingest thread, composing and sending on the
    sender thread (or in `run_once`, one cycle at a time), acknowledgements on the
    endpoint's HTTP threads. The outbox and the reminder book lock themselves; the
    digest queue, composer and deliverer run only inside a cycle.
    """

    def __init__(
        self,
        settings: MailSettings,
        registry: Registry,
        *,
        book: AlertBookView,
        transport: Transport,
        chart_source: InfluxSettings | None,
        token_secret: bytes,
        clock: Callable[[], float] = time.time,
        trend_alpha: float = DEFAULT_ALPHA,
        probe_link: Callable[[str], str] = _DEFAULT_DASHBOARDS.probe_dashboard_url,
    ) -> None:
        self.settings = settings
        self.stats = MailStats()
        self._book = book
        self._secret = token_secret
        self._clock = clock
        self._cycle_lock = threading.Lock()  # one composing/delivering cycle at a time
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ack_server: AckServer | None = None
        self._last_prune_s = 0.0
        self._outbox = Outbox(settings.outbox_dir, create=settings.enabled)
        fixed = self._outbox.recover()
        if fixed:
            logger.warning("outbox recovery: %d event(s) were already in a mail", fixed)
        self._router = MailRouter(settings)
        self._reminders = ReminderBook(self._outbox, settings, book)
        self._composer = MailComposer(
            settings,
            registry,
            chart_source=chart_source,
            token_secret=token_secret,
            ack_base_url=lambda: self.ack_base_url,
            probe_link=probe_link,
            trend_alpha=trend_alpha,
        )
        self._digests = DigestQueue(
            self._outbox,
            self._router,
            self._composer,
            sender=settings.from_addr_spec,
            digest_window_s=settings.digest_window_s,
            rate_limit=RateLimit(settings.rate_limit_per_hour),
            stats=self.stats,
            on_queued=self._wake.set,
        )
        self._deliverer = MailDeliverer(
            self._outbox,
            transport,
            self.stats,
            Backoff(settings.retry_initial_s, settings.retry_max_s),
        )

    # -- AlertListener --------------------------------------------------------------------
    def alert_event(self, event: AlertEvent) -> None:
        """Make the event durable in the outbox; mailing happens on the sender thread."""
        if not self.settings.enabled:
            return
        now = self._clock()
        if event.type in (AlertEventType.OPENED, AlertEventType.RESOLVED):
            record = event_record(event.event_id, event.type.value, event.alert, now, 0)
            if not self._put(record, event.alert):
                self.stats.events_duplicate += 1
                logger.debug("alert event %s already in the outbox", event.event_id)
                return
            self.stats.events_accepted += 1
        else:
            self.stats.events_ignored += 1
        self._reminders.track(event, now)
        self._wake.set()

    def _put(self, record: dict[str, object], alert: Alert) -> bool:
        """One outbox entry per audience of the alert; False when all were there already.

        The key is (event id, audience), so a replayed event is mailed once per audience.
        """
        entries = {
            event_key(f"{record['event_id']}|{audience_key}"): {**record, "audience": audience_key}
            for audience_key in self._router.audience_keys(alert)
        }
        return self._outbox.put_new_events(entries) > 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, *, sender_thread: bool = True) -> None:
        """Start the ack endpoint and (unless told otherwise, e.g. by tests that drive
        `run_once`) the sender thread."""
        if not self.settings.enabled:
            logger.info("mail is disabled ([mail] enabled = false)")
            return
        if self._ack_server is None:
            self._ack_server = AckServer(
                host=self.settings.ack_bind_host,
                port=self.settings.ack_bind_port,
                secret=self._secret,
                lang=self.settings.language,
                on_ack=self._handle_ack,
                describe=self._describe,
                clock=self._clock,
            )
            self._ack_server.start()
            logger.info("acknowledgement endpoint at %s/ack", self.ack_base_url)
        if sender_thread and self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="gwmon-mail-sender", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop sending and the endpoint; what is not delivered stays in the outbox."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.settings.smtp_timeout_s * 3 + 10)
            self._thread = None
        if self._ack_server is not None:
            self._ack_server.stop()
            self._ack_server = None
        self._composer.close()

    @property
    def ack_base_url(self) -> str:
        """Where the acknowledgement links point: `ack_public_url`, else the endpoint."""
        if self.settings.ack_public_url:
            return self.settings.ack_public_url
        port = self._ack_server.port if self._ack_server else self.settings.ack_bind_port
        return f"http://{self.settings.ack_bind_host}:{port}"

    def pending(self) -> int:
        """Mails waiting for the server plus events not yet in a mail."""
        return self._outbox.pending_count()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:  # the sender thread must survive any bug; logged
                logger.exception("mail sender cycle failed; retrying")
            self._wake.wait(timeout=1.0)
            self._wake.clear()

    # -- one cycle ----------------------------------------------------------------------------
    def run_once(self, now_s: float | None = None) -> None:
        """Reminders due -> compose pending events -> deliver queued mails."""
        if not self.settings.enabled:
            return
        with self._cycle_lock:
            now = self._clock() if now_s is None else now_s
            self.stats.reminders_queued += self._reminders.queue_due(now, self._put)
            self._digests.compose_due(now)
            self._deliverer.deliver(now, should_stop=self._stopped_while_threaded)
            if now - self._last_prune_s > PRUNE_EVERY_S:
                self._last_prune_s = now
                self._outbox.prune(self.settings.keep_sent_days * 86_400.0)

    def _stopped_while_threaded(self) -> bool:
        # `stop()` interrupts the sender thread's round; a `run_once` of a test finishes.
        return self._stopping.is_set() and self._thread is not None

    # -- acknowledgement ------------------------------------------------------------------------
    def _handle_ack(self, claims: AckClaims, by: str, comment: str | None) -> str:
        try:
            alert = self._book.acknowledge(
                claims.alert_id,
                by=by,
                comment=comment,
                at=datetime.fromtimestamp(self._clock(), UTC),
            )
        except KeyError:
            raise AckRefused(HTTPStatus.NOT_FOUND, "unknown alert") from None
        except ValueError as exc:
            raise AckRefused(HTTPStatus.CONFLICT, str(exc)) from None
        self._reminders.acknowledged(alert)
        self.stats.acks += 1
        logger.info("alert %s acknowledged by %s via mail link", claims.alert_id, by)
        return alert.acked_by or by

    def _describe(self, alert_id: str) -> str | None:
        alert = self._book.get(alert_id)
        if alert is None:
            return None
        lang = self.settings.language
        return f"{what(alert, lang)} – {where(alert, lang)}"


def _token_secret(settings: MailSettings) -> bytes:
    if settings.token_secret is not None:
        return settings.token_secret.get_secret_value().encode("utf-8")
    if settings.token_secret_file is not None:
        try:
            secret = read_secret_file(settings.token_secret_file, "mail.token_secret_file")
        except ValueError as exc:
            raise ConfigError(str(exc), source="mail", key="mail.token_secret_file") from None
        return secret.get_secret_value().encode("utf-8")
    path = settings.outbox_dir / TOKEN_KEY_FILE
    settings.outbox_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def build_mail_service(
    config: GwmonConfig,
    registry: Registry,
    store: InfluxClient,
    book: AlertBookView,
    *,
    transport: Transport | None = None,
    clock: Callable[[], float] = time.time,
) -> MailService:
    """The mail stage for `gwmon run`. Raises ConfigError when [mail] is unusable.

    With `[mail] enabled = false` the service accepts events and does nothing. The
    chart queries use their own InfluxDB session built from `store.settings` (the
    store itself belongs to the ingest thread).
    """
    settings = load_settings(config)
    if settings.enabled:
        problems = check_config(config, registry)
        if problems:
            raise ConfigError(
                "the [mail] section does not fit the registry:\n  " + "\n  ".join(problems),
                source=config.source,
                key="mail",
            )
        try:
            settings.resolved_password()
        except ValueError as exc:
            raise ConfigError(f"{config.source}: {exc}", source=config.source, key="mail") from None
    secret = _token_secret(settings) if settings.enabled else b"disabled"
    trend = load_analytics_settings(config).trend
    dashboards = config.section(DASHBOARDS_SECTION)
    return MailService(
        settings,
        registry,
        book=book,
        transport=transport or make_transport(settings),
        chart_source=store.settings,
        token_secret=secret,
        clock=clock,
        trend_alpha=trend.alpha,
        probe_link=dashboards.probe_dashboard_url,
    )
