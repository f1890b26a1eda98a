"""The mail stage: alert events in, durable outbox, digests, reminders, delivery.

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
import email.utils
import hashlib
import logging
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.policy import EmailPolicy
from http import HTTPStatus
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlencode

from gwmon.analytics import (
    MAINTENANCE_KINDS,
    Alert,
    AlertEvent,
    AlertEventType,
    AlertKind,
    AlertState,
    alert_from_json,
    alert_to_json,
)
from gwmon.analytics import load_settings as load_analytics_settings
from gwmon.config import ConfigError, read_secret_file
from gwmon.ingest import GwmonConfig, Registry
from gwmon.storage import InfluxClient, InfluxSettings

from ._ackserver import AckRefused, AckServer
from ._outbox import Outbox, QueuedMail, event_key
from ._settings import TOKEN_KEY_FILE, MailSettings, check_config, load_settings
from ._texts import (
    DEFAULT_ALPHA,
    GRWV_NITRATE_MG_L,
    TREND_REVERSAL_MG_L,
    Notice,
    RenderContext,
    Section,
    digest_subject,
    fmt_number,
    is_legal_value,
    one_line,
    quantity_of,
    render_html,
    render_plain,
    subject,
    what,
    where,
)
from ._token import AckClaims, make_token
from ._transport import DeliveryError, Transport, make_transport

logger = logging.getLogger("gwmon.analytics.mail")


class _MailPolicy(EmailPolicy):
    """`email.policy.SMTP` (CRLF, RFC 2047, 78-character lines), except that a non-ASCII
    Subject is folded by the stdlib's `email.header.Header` encoder: the modern folder
    doubles the space before an encoded word it moves to a new line, so the subject a
    reader sees would differ from the one gwmon wrote."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() == "subject" and not str(value).isascii():
            return self._fold_encoded(name, str(value))
        folded: str = super().fold(name, value)
        return folded

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() == "subject" and not str(value).isascii():
            return self._fold_encoded(name, str(value)).encode("ascii")
        folded: bytes = super().fold_binary(name, value)
        return folded

    def _fold_encoded(self, name: str, value: str) -> str:
        header = Header(value, "utf-8", maxlinelen=self.max_line_length, header_name=name)
        return f"{name}: {header.encode(linesep=self.linesep)}{self.linesep}"


MAIL_POLICY = _MailPolicy(linesep="\r\n")
MAX_CHARTS = 4
# Audience keys: each is one stream of mails with its own digest window.
STABSSTELLE = "stabsstelle:"
OPERATORS = "operators"
MAINTENANCE = "maintenance"
UNROUTED = "unrouted"
PRUNE_EVERY_S = 3600.0
COMPOSE_RETRY_S = 60.0


class Acknowledger(Protocol):
    """What the mail stage needs from analytics: record an acknowledgement.

    Thread-safe; raises KeyError for an unknown alert id; returns the updated alert.
    """

    def acknowledge(
        self, alert_id: str, *, by: str, comment: str | None, at: datetime
    ) -> Alert: ...


@dataclass(frozen=True, slots=True)
class Audience:
    key: str
    name: str
    recipients: tuple[str, ...]


@dataclass(slots=True)
class MailStats:
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


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


class MailService:
    """Implements `AlertListener`. Thread-safe: `alert_event` from the ingest thread,
    composing and sending on the sender thread, acknowledgements on HTTP threads."""

    def __init__(
        self,
        settings: MailSettings,
        registry: Registry,
        *,
        acknowledger: Acknowledger,
        transport: Transport,
        chart_source: InfluxSettings | None,
        token_secret: bytes,
        clock: Callable[[], float] = time.time,
        trend_alpha: float = DEFAULT_ALPHA,
    ) -> None:
        self.settings = settings
        self.trend_alpha = trend_alpha  # [analytics.trend] alpha, named in trend mails
        self.registry = registry
        self.acknowledger = acknowledger
        self.transport = transport
        self.stats = MailStats()
        self._chart_source = chart_source
        self._chart_client: InfluxClient | None = None
        self._secret = token_secret
        self._clock = clock
        self._lock = threading.RLock()  # outbox files and in-memory state
        self._send_lock = threading.Lock()  # one composing/delivering cycle at a time
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ack_server: AckServer | None = None
        self._last_mail_s: dict[str, float] = {}
        self._sent_times: dict[str, deque[float]] = defaultdict(deque)
        self._blocked_until_s = 0.0
        self._retry_delay_s = settings.retry_initial_s
        self._last_prune_s = 0.0
        self._seq = 0
        self._compose_retry_s: dict[str, float] = {}
        self.outbox = Outbox(settings.outbox_dir, create=settings.enabled)
        fixed = self.outbox.recover()
        if fixed:
            logger.warning("outbox recovery: %d event(s) were already in a mail", fixed)
        self._alerts = self.outbox.load_alerts()

    # -- AlertListener --------------------------------------------------------------------
    def alert_event(self, event: AlertEvent) -> None:
        """Make the event durable in the outbox; mailing happens on the sender thread."""
        if not self.settings.enabled:
            return
        now = self._clock()
        with self._lock:
            if event.type in (AlertEventType.OPENED, AlertEventType.RESOLVED):
                record = {
                    "event_id": event.event_id,
                    "type": event.type.value,
                    "alert": alert_to_json(event.alert),
                    "queued_at_s": now,
                    "reminder_no": 0,
                }
                if not self._put(record, event.alert):
                    self.stats.events_duplicate += 1
                    logger.debug("alert event %s already in the outbox", event.event_id)
                    return
                self.stats.events_accepted += 1
            else:
                self.stats.events_ignored += 1
            self._track(event, now)
        self._wake.set()

    def _put(self, record: dict[str, object], alert: Alert) -> bool:
        """One outbox entry per audience of the alert; False when all were there already.

        The key is (event id, audience), so a replayed event is mailed once per audience.
        """
        new: dict[str, dict[str, object]] = {}
        for audience_key in self.audience_keys(alert):
            key = event_key(f"{record['event_id']}|{audience_key}")
            if not self.outbox.has_event(key):
                new[key] = {**record, "audience": audience_key}
        self.outbox.put_events(new)
        return bool(new)

    def _track(self, event: AlertEvent, now: float) -> None:
        """Open alerts (alerts.json, under the lock): for reminders and the ack page.

        `next_s` is the time of the next reminder, None when no reminder is due (kind not
        reminded, or acknowledged)."""
        alert = event.alert
        s = self.settings
        entry = self._alerts.get(alert.alert_id)
        if event.type == AlertEventType.OPENED:
            if alert.state != AlertState.OPEN:
                return
            remind = s.reminder_interval_s > 0 and alert.kind in s.reminder_kinds
            self._alerts[alert.alert_id] = {
                "alert": alert_to_json(alert),
                "next_s": now + s.reminder_interval_s if remind else None,
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
        self.outbox.save_alerts(self._alerts)

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
        if self._chart_client is not None:
            self._chart_client.close()
            self._chart_client = None

    def tick(self, now_s: float) -> None:
        """Cheap: wakes the sender thread (reminders are due by wall clock)."""
        self._wake.set()

    @property
    def ack_base_url(self) -> str:
        if self.settings.ack_public_url:
            return self.settings.ack_public_url
        port = self._ack_server.port if self._ack_server else self.settings.ack_bind_port
        return f"http://{self.settings.ack_bind_host}:{port}"

    def pending(self) -> int:
        """Mails waiting for the server plus events not yet in a mail."""
        with self._lock:
            return len(self.outbox.queued()) + sum(1 for _ in self.outbox.events.glob("*.json"))

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
        with self._send_lock:
            now = self._clock() if now_s is None else now_s
            self._queue_reminders(now)
            self._compose(now)
            self._deliver(now)
            if now - self._last_prune_s > PRUNE_EVERY_S:
                self._last_prune_s = now
                with self._lock:
                    self.outbox.prune(self.settings.keep_sent_days * 86_400.0)

    def _queue_reminders(self, now: float) -> None:
        with self._lock:
            changed = False
            for alert_id, entry in self._alerts.items():
                if entry["next_s"] is None or now < float(entry["next_s"]):
                    continue
                number = int(entry["count"]) + 1
                record = {
                    "event_id": f"{alert_id}:reminder:{number}",
                    "type": "reminder",
                    "alert": entry["alert"],
                    "queued_at_s": now,
                    "reminder_no": number,
                }
                if self._put(record, alert_from_json(entry["alert"])):
                    self.stats.reminders_queued += 1
                entry["count"] = number
                entry["next_s"] = now + self.settings.reminder_interval_s
                changed = True
            if changed:
                self.outbox.save_alerts(self._alerts)

    def audience_keys(self, alert: Alert) -> list[str]:
        """Who hears of this alert: water-quality kinds the municipality's Stabsstelle and
        the operators; sensor faults and stale probes maintenance only."""
        s = self.settings
        if alert.kind in MAINTENANCE_KINDS:
            return [MAINTENANCE]
        route = s.routes.get(alert.municipality)
        if route is None:
            logger.error(
                "no [mail.routes] entry for municipality %r (probe %s): mailing operators and "
                "maintenance instead; run `gwmon config check`",
                alert.municipality,
                alert.probe,
            )
            return [UNROUTED]
        keys = [STABSSTELLE + route.stabsstelle]
        if s.operators:
            keys.append(OPERATORS)
        return keys

    def audience(self, key: str) -> Audience:
        """Recipients of an audience key as configured now (a restart may have changed them)."""
        s = self.settings
        de = s.language == "de"
        if key == MAINTENANCE and (s.maintenance or s.operators):
            name = "Instandhaltung Messnetz" if de else "Network maintenance"
            return Audience(key, name, _unique(s.maintenance or s.operators))
        if key == OPERATORS and s.operators:
            name = "Betreiber der Wasserwerke" if de else "Waterworks operators"
            return Audience(key, name, _unique(s.operators))
        if key.startswith(STABSSTELLE):
            name = key.removeprefix(STABSSTELLE)
            recipients = [
                address
                for route in s.routes.values()
                if route.stabsstelle == name
                for address in route.recipients
            ]
            if recipients:
                return Audience(key, name, _unique(recipients))
            logger.error("no [mail.routes] entry names Stabsstelle %r any more", name)
        name = "Betreiber und Instandhaltung (ohne Route)" if de else "Operators (no route)"
        return Audience(UNROUTED, name, _unique([*s.operators, *s.maintenance]))

    def _rate_ok(self, recipients: Sequence[str], now: float) -> bool:
        limit = self.settings.rate_limit_per_hour
        for recipient in recipients:
            times = self._sent_times[recipient]
            while times and times[0] <= now - 3600.0:
                times.popleft()
            if len(times) >= limit:
                return False
        return True

    def _compose(self, now: float) -> None:
        with self._lock:
            pending = list(self.outbox.pending_events())
        groups: dict[Audience, list[tuple[str, Notice]]] = defaultdict(list)
        for key, record in pending:
            try:
                if record.get("type") not in ("opened", "resolved", "reminder"):
                    raise ValueError(f"unknown type {record.get('type')!r}")
                notice = Notice(
                    type=record["type"],
                    event_id=str(record["event_id"]),
                    alert=_printable(alert_from_json(record["alert"])),
                    queued_at_s=float(record["queued_at_s"]),
                    reminder_no=int(record.get("reminder_no", 0)),
                )
            except (KeyError, ValueError, TypeError) as exc:
                with self._lock:
                    where = self.outbox.set_aside(key)
                logger.error("outbox event %s unusable (%s); moved to %s", key, exc, where)
                continue
            groups[self.audience(str(record.get("audience", UNROUTED)))].append((key, notice))
        window = self.settings.digest_window_s
        rank = {OPERATORS: 1, MAINTENANCE: 2, UNROUTED: 3}  # Stabsstellen first
        ordered = sorted(
            groups.items(),
            key=lambda group: (rank.get(group[0].key, 0), group[0].key),
        )
        for audience, items in ordered:
            if not audience.recipients:
                logger.error("no recipients for %s: %d notice(s) wait", audience.name, len(items))
                continue
            last = self._last_mail_s.get(audience.key)
            if last is not None and now < last + window:
                continue  # within the digest window: wait and send these together
            if now < self._compose_retry_s.get(audience.key, 0.0):
                continue
            if not self._rate_ok(audience.recipients, now):
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
            for recipient in audience.recipients:
                self._sent_times[recipient].append(now)

    def _queue_mail(self, audience: Audience, items: list[tuple[str, Notice]], now: float) -> None:
        keys = [key for key, _ in items]
        notices = [notice for _, notice in items]
        mail_key = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:40]
        message = self._build_message(mail_key, audience, notices, now)
        mail = QueuedMail(
            key=mail_key,
            recipients=list(audience.recipients),
            sender=self.settings.from_addr_spec,
            event_keys=keys,
            created_s=now,
            seq=self._seq,
        )
        self._seq += 1
        with self._lock:
            self.outbox.enqueue(mail, message.as_bytes(policy=MAIL_POLICY))
            self.outbox.mark_done(keys)
        self.stats.mails_queued += 1
        if len(notices) > 1:
            self.stats.digests_queued += 1
        logger.info(
            "queued mail %s for %s (%d notice(s)): %s",
            mail_key[:12],
            audience.name,
            len(notices),
            message["Subject"],
        )
        self._wake.set()

    # -- content ----------------------------------------------------------------------------
    def _sections(self, audience: Audience, notices: Sequence[Notice], now: float) -> list[Section]:
        by_alert: dict[tuple[str, AlertKind], list[Notice]] = defaultdict(list)
        for notice in notices:
            by_alert[(notice.alert.probe, notice.alert.kind)].append(notice)
        sections: list[Section] = []
        for group in by_alert.values():
            latest = group[-1]
            sections.append(
                Section(
                    notice=latest,
                    count=len(group),
                    opened_count=sum(1 for n in group if n.type == "opened"),
                    resolved_count=sum(1 for n in group if n.type == "resolved"),
                    first_at=min(n.alert.opened_at for n in group),
                    dashboard_url=self._dashboard_url(latest.alert.probe),
                )
            )
        for section in sections:
            alert = section.notice.alert
            if section.notice.type != "resolved" and alert.state == AlertState.OPEN:
                expires = int(now + self.settings.token_lifetime_s)
                token = make_token(self._secret, AckClaims(alert.alert_id, audience.name, expires))
                section.ack_url = f"{self.ack_base_url}/ack?{urlencode({'t': token})}"
                section.ack_until = datetime.fromtimestamp(expires, UTC)
        order = {"opened": 0, "reminder": 1, "resolved": 2}
        sections.sort(key=lambda s: (order[s.notice.type], s.notice.alert.severity != "critical"))
        return sections

    def _dashboard_url(self, probe: str) -> str:
        return f"{self.settings.grafana_url}/d/gwmon-probe?var-probe={quote(probe, safe='')}"

    def _chart(self, alert: Alert, now: float) -> bytes | None:
        quantity = quantity_of(alert.kind, alert.unit)
        if quantity is None or self._chart_source is None:
            return None
        from ._chart import ThresholdLine, chart_for  # noqa: PLC0415 - matplotlib is slow to import

        if self._chart_client is None:
            self._chart_client = InfluxClient(self._chart_source)
        lang = self.settings.language
        probe = self.registry.probes.get(alert.probe)
        lines: list[ThresholdLine] = []
        if quantity == "nitrate":
            warning = probe.nitrate_warning_mg_l if probe else 37.5
            breach = probe.nitrate_breach_mg_l if probe else 50.0
            # The legal values by name; a probe's own thresholds as the probe's.
            breach_name = (
                ("Schwellenwert", "Threshold value")
                if is_legal_value(breach, GRWV_NITRATE_MG_L)
                else ("Alarmschwelle", "Alarm threshold")
            )
            warning_name = (
                ("Trendumkehr", "Trend reversal")
                if is_legal_value(warning, TREND_REVERSAL_MG_L)
                else ("Warnschwelle", "Warning threshold")
            )
            lines = [
                ThresholdLine(
                    breach,
                    breach_name[0 if lang == "de" else 1] + f" {fmt_number(breach, 1, lang)}",
                    "#b00020",
                ),
                ThresholdLine(
                    warning,
                    warning_name[0 if lang == "de" else 1] + f" {fmt_number(warning, 1, lang)}",
                    "#e69138",
                ),
            ]
            unit, name = "mg/L NO₃", ("Nitrat" if lang == "de" else "Nitrate")
        elif quantity == "level":
            unit, name = "m NHN", ("Grundwasserstand" if lang == "de" else "Groundwater level")
            if probe and probe.level_min_m_nhn is not None:
                lines.append(ThresholdLine(probe.level_min_m_nhn, "Min", "#b00020"))
            if probe and probe.level_max_m_nhn is not None:
                lines.append(ThresholdLine(probe.level_max_m_nhn, "Max", "#e69138"))
        else:
            unit, name = alert.unit, quantity
        latest = max(
            t for t in (alert.opened_at, alert.updated_at, alert.resolved_at) if t is not None
        )
        end = min(datetime.fromtimestamp(now, UTC), latest + timedelta(days=1))
        end = max(end, latest)
        days = self.settings.chart_days
        title = f"{name} {alert.probe} ({alert.site}), {days} {'Tage' if lang == 'de' else 'days'}"
        return chart_for(
            self._chart_client,
            probe=alert.probe,
            quantity=quantity,
            start=end - timedelta(days=days),
            end=end,
            title=title,
            unit=unit,
            lines=lines,
            marker=alert.opened_at,
            decimal_comma=lang == "de",
        )

    def _build_message(
        self, mail_key: str, audience: Audience, notices: Sequence[Notice], now: float
    ) -> EmailMessage:
        s = self.settings
        lang = s.language
        sections = self._sections(audience, notices, now)
        charts: list[tuple[str, str, bytes]] = []
        domain = s.from_addr_spec.rpartition("@")[2]
        for section in sections:
            if len(charts) >= MAX_CHARTS:
                break
            if any(probe == section.notice.alert.probe for probe, _, _ in charts):
                continue
            png = self._chart(section.notice.alert, now)
            if png is None:
                section.chart_missing = (
                    quantity_of(section.notice.alert.kind, section.notice.alert.unit) is not None
                )
                continue
            cid = f"chart-{len(charts)}.{mail_key[:16]}@{domain}"
            section.chart_cid = cid
            charts.append((section.notice.alert.probe, cid, png))
        ctx = RenderContext(
            lang=lang,
            audience=audience.name,
            now=datetime.fromtimestamp(now, UTC),
            late_after_s=s.late_after_s,
            reminder_every=timedelta(seconds=s.reminder_interval_s)
            if s.reminder_interval_s > 0
            else None,
            reminded=frozenset(s.reminder_kinds),
            trend_alpha=self.trend_alpha,
        )
        message = EmailMessage(policy=MAIL_POLICY)
        if len(notices) == 1:
            message["Subject"] = subject(notices[0], lang)
        else:
            message["Subject"] = digest_subject(notices, audience.name, lang)
        message["From"] = s.from_address
        message["To"] = ", ".join(audience.recipients)
        message["Date"] = email.utils.format_datetime(datetime.fromtimestamp(now, UTC))
        message["Message-ID"] = f"<{mail_key}@{domain}>"
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message["X-Gwmon-Alerts"] = " ".join(sorted({n.alert.alert_id for n in notices}))
        message["Content-Language"] = lang
        message.set_content(render_plain(sections, ctx), cte="quoted-printable")
        message.add_alternative(render_html(sections, ctx), subtype="html", cte="quoted-printable")
        html_part = message.get_payload()[1]  # type: ignore[index]
        assert isinstance(html_part, EmailMessage)
        for probe, cid, png in charts:
            html_part.add_related(
                png, "image", "png", cid=f"<{cid}>", filename=f"{probe}.png", disposition="inline"
            )
        return message

    # -- delivery ---------------------------------------------------------------------------
    def _deliver(self, now: float) -> None:
        if now < self._blocked_until_s:
            return
        with self._lock:
            queued = self.outbox.queued()
        for mail in queued:
            if self._stopping.is_set() and self._thread is not None:
                return
            try:
                with self._lock:
                    data = self.outbox.message_bytes(mail.key)
            except FileNotFoundError:
                continue
            try:
                self.transport.send(data, mail.sender, mail.recipients)
            except DeliveryError as exc:
                self.stats.delivery_failures += 1
                mail.attempts += 1
                mail.last_error = str(exc)
                with self._lock:
                    if not exc.retryable:
                        self.outbox.mark_failed(mail)
                        self.stats.mails_failed += 1
                        logger.error(
                            "mail %s refused permanently, kept in %s: %s",
                            mail.key[:12],
                            self.outbox.failed,
                            exc,
                        )
                        continue
                    self.outbox.update(mail)
                self._blocked_until_s = now + self._retry_delay_s
                logger.warning(
                    "mail delivery failed (%s); %d mail(s) wait, next try in %.0f s",
                    exc,
                    len(queued),
                    self._retry_delay_s,
                )
                self._retry_delay_s = min(self._retry_delay_s * 2, self.settings.retry_max_s)
                return
            with self._lock:
                self.outbox.mark_sent(mail, now)
            self.stats.mails_sent += 1
            self._retry_delay_s = self.settings.retry_initial_s
            logger.info("mail %s delivered to %d recipient(s)", mail.key[:12], len(mail.recipients))

    # -- acknowledgement ------------------------------------------------------------------------
    def _handle_ack(self, claims: AckClaims, by: str, comment: str | None) -> str:
        try:
            alert = self.acknowledger.acknowledge(
                claims.alert_id,
                by=by,
                comment=comment,
                at=datetime.fromtimestamp(self._clock(), UTC),
            )
        except KeyError:
            raise AckRefused(HTTPStatus.NOT_FOUND, "unknown alert") from None
        except ValueError as exc:
            raise AckRefused(HTTPStatus.CONFLICT, str(exc)) from None
        with self._lock:
            entry = self._alerts.get(claims.alert_id)
            if entry is not None:
                entry["alert"] = alert_to_json(alert)
                entry["next_s"] = None
                self.outbox.save_alerts(self._alerts)
        self.stats.acks += 1
        logger.info("alert %s acknowledged by %s via mail link", claims.alert_id, by)
        return alert.acked_by or by

    def _describe(self, alert_id: str) -> str | None:
        with self._lock:
            entry = self._alerts.get(alert_id)
        if entry is None:
            return None
        alert = alert_from_json(entry["alert"])
        lang = self.settings.language
        return f"{what(alert, lang)} – {where(alert, lang)}"


def _printable(alert: Alert) -> Alert:
    """Text from the registry and analytics, safe for headers and one-line fields."""
    return alert.with_changes(
        site=one_line(alert.site),
        municipality=one_line(alert.municipality),
        message=one_line(alert.message),
        acked_by=one_line(alert.acked_by) if alert.acked_by else alert.acked_by,
    )


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
    acknowledger: Acknowledger,
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
    return MailService(
        settings,
        registry,
        acknowledger=acknowledger,
        transport=transport or make_transport(settings),
        chart_source=store.settings,
        token_secret=secret,
        clock=clock,
        trend_alpha=trend.alpha,
    )


def describe_delivery(settings: MailSettings) -> str:
    """One line for `gwmon run`'s start-up log / `make demo`: where mails go."""
    if settings.transport == "maildir":
        return f"mail: maildir {Path(settings.maildir).resolve()} (new mails in new/)"
    return f"mail: SMTP {settings.smtp_host}:{settings.port} ({settings.smtp_security})"
