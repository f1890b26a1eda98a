"""The composer: one mail (MIME bytes) from the notices of one audience.

Sections (one per probe and kind; a digest has several), acknowledgement links, the
Grafana link, the inline charts from InfluxDB, subject and the plain-text and HTML
bodies in the configured language (`_texts`, `_legal`, `_words`).
"""

from __future__ import annotations

import email.utils
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.policy import EmailPolicy
from urllib.parse import urlencode

from gwmon.analytics import Alert, AlertKind, AlertState
from gwmon.ingest import DEFAULT_NITRATE_BREACH_MG_L, DEFAULT_NITRATE_WARNING_MG_L, Registry
from gwmon.storage import InfluxClient, InfluxSettings

from ._chart import ChartSpec, ThresholdLine, chart_for
from ._legal import chart_line_labels
from ._router import Audience
from ._settings import MailSettings
from ._texts import Notice, RenderContext, Section, digest_subject, render_html, render_plain
from ._texts import subject as notice_subject
from ._token import AckClaims, make_token
from ._words import CHART_CENSORED, CHART_DAYS, CHART_LEVEL, DEFAULT_ALPHA, pick, quantity_of, word


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
# The uid of the dashboards stage's probe dashboard; the mails link to it.
_NOTICE_ORDER = {"opened": 0, "reminder": 1, "resolved": 2}


@dataclass(frozen=True, slots=True)
class ComposedMail:
    """A finished message: its subject (for the log) and its bytes (for the outbox)."""

    subject: str
    data: bytes


class MailComposer:
    """Builds mails; holds the chart's own InfluxDB session, opened on first use.

    Sender thread only (not thread-safe): the chart session is not shared. `close()`
    when the service stops; a later mail opens a new session.
    """

    def __init__(
        self,
        settings: MailSettings,
        registry: Registry,
        *,
        chart_source: InfluxSettings | None,
        token_secret: bytes,
        ack_base_url: Callable[[], str],
        probe_link: Callable[[str], str],
        trend_alpha: float = DEFAULT_ALPHA,
    ) -> None:
        self._settings = settings
        self._probe_link = probe_link
        self._registry = registry
        self._chart_source = chart_source
        self._chart_client: InfluxClient | None = None
        # The charts drawn in this sending cycle (one `now`): an alert mailed to several
        # audiences (Stabsstelle and operators) is drawn once; drawing is most of the
        # time a mail takes to compose, and every mail of a cycle waits for all of them.
        self._cycle_charts: dict[Alert, bytes | None] = {}
        self._cycle_now: float | None = None
        self._secret = token_secret
        self._ack_base_url = ack_base_url
        self._trend_alpha = trend_alpha  # [analytics.trend] alpha, named in trend mails

    def close(self) -> None:
        if self._chart_client is not None:
            self._chart_client.close()
            self._chart_client = None

    def compose(
        self, mail_key: str, audience: Audience, notices: Sequence[Notice], now: float
    ) -> ComposedMail:
        """The mail about `notices` (oldest first) for `audience`; `mail_key` names it
        (Message-ID, chart content ids)."""
        s = self._settings
        lang = s.language
        sections = self._sections(audience, notices, now)
        domain = s.from_addr_spec.rpartition("@")[2]
        charts = self._charts(sections, f"{mail_key[:16]}@{domain}", now)
        ctx = RenderContext(
            lang=lang,
            audience=audience.name,
            now=datetime.fromtimestamp(now, UTC),
            late_after_s=s.late_after_s,
            reminder_every=timedelta(seconds=s.reminder_interval_s)
            if s.reminder_interval_s > 0
            else None,
            reminded=frozenset(s.reminder_kinds),
            trend_alpha=self._trend_alpha,
        )
        message = EmailMessage(policy=MAIL_POLICY)
        if len(notices) == 1:
            message["Subject"] = notice_subject(notices[0], lang)
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
        return ComposedMail(str(message["Subject"]), message.as_bytes(policy=MAIL_POLICY))

    # -- sections -------------------------------------------------------------------------------
    def _sections(self, audience: Audience, notices: Sequence[Notice], now: float) -> list[Section]:
        """One section per probe and kind (a flapping alert is one section), most
        urgent first; open alerts get an acknowledgement link."""
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
                expires = int(now + self._settings.token_lifetime_s)
                token = make_token(self._secret, AckClaims(alert.alert_id, audience.name, expires))
                section.ack_url = f"{self._ack_base_url()}/ack?{urlencode({'t': token})}"
                section.ack_until = datetime.fromtimestamp(expires, UTC)
        sections.sort(
            key=lambda s: (_NOTICE_ORDER[s.notice.type], s.notice.alert.severity != "critical")
        )
        return sections

    def _dashboard_url(self, probe: str) -> str:
        return self._probe_link(probe)

    # -- charts ---------------------------------------------------------------------------------
    def _charts(
        self, sections: Sequence[Section], cid_suffix: str, now: float
    ) -> list[tuple[str, str, bytes]]:
        """(probe, content id, PNG) for at most MAX_CHARTS sections, one per probe; a
        section whose chart has no data says so."""
        charts: list[tuple[str, str, bytes]] = []
        for section in sections:
            if len(charts) >= MAX_CHARTS:
                break
            alert = section.notice.alert
            if any(probe == alert.probe for probe, _, _ in charts):
                continue
            png = self._chart(alert, now)
            if png is None:
                section.chart_missing = quantity_of(alert.kind, alert.unit) is not None
                continue
            cid = f"chart-{len(charts)}.{cid_suffix}"
            section.chart_cid = cid
            charts.append((alert.probe, cid, png))
        return charts

    def _chart(self, alert: Alert, now: float) -> bytes | None:
        quantity = quantity_of(alert.kind, alert.unit)
        if quantity is None or self._chart_source is None:
            return None
        if now != self._cycle_now:
            self._cycle_charts.clear()
            self._cycle_now = now
        if alert in self._cycle_charts:
            return self._cycle_charts[alert]
        if self._chart_client is None:
            self._chart_client = InfluxClient(self._chart_source)
        latest = max(
            t for t in (alert.opened_at, alert.updated_at, alert.resolved_at) if t is not None
        )
        end = min(datetime.fromtimestamp(now, UTC), latest + timedelta(days=1))
        end = max(end, latest)
        png = chart_for(
            self._chart_client,
            probe=alert.probe,
            quantity=quantity,
            start=end - timedelta(days=self._settings.chart_days),
            end=end,
            spec=self._chart_spec(alert, quantity),
        )
        self._cycle_charts[alert] = png
        return png

    def _chart_spec(self, alert: Alert, quantity: str) -> ChartSpec:
        """Title, unit and the probe's threshold lines (nitrate: breach and warning from
        the registry; level: its minimum and maximum)."""
        lang = self._settings.language
        probe = self._registry.probes.get(alert.probe)
        lines: list[ThresholdLine] = []
        if quantity == "nitrate":
            breach = probe.nitrate_breach_mg_l if probe else DEFAULT_NITRATE_BREACH_MG_L
            warning = probe.nitrate_warning_mg_l if probe else DEFAULT_NITRATE_WARNING_MG_L
            breach_label, warning_label = chart_line_labels(breach, warning, lang)
            lines = [
                ThresholdLine(breach, breach_label, "#b00020"),
                ThresholdLine(warning, warning_label, "#e69138"),
            ]
            unit, name = "mg/L NO₃", word("nitrate", lang)
        elif quantity == "level":
            unit, name = "m NHN", pick(CHART_LEVEL, lang)
            if probe and probe.level_min_m_nhn is not None:
                lines.append(ThresholdLine(probe.level_min_m_nhn, "Min", "#b00020"))
            if probe and probe.level_max_m_nhn is not None:
                lines.append(ThresholdLine(probe.level_max_m_nhn, "Max", "#e69138"))
        else:
            unit, name = alert.unit, quantity
        days = self._settings.chart_days
        return ChartSpec(
            title=f"{name} {alert.probe} ({alert.site}), {days} {pick(CHART_DAYS, lang)}",
            unit=unit,
            lines=lines,
            marker=alert.opened_at,
            decimal_comma=lang == "de",
            censored_label=pick(CHART_CENSORED, lang),
        )
