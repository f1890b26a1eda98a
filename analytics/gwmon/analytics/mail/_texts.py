"""What the mails say: subjects, and the plain-text and HTML bodies of one or more
sections (a digest has several).

The readers are Stabsstellen, not engineers, reading on a phone: what, where, how bad,
since when, what it means legally (`_legal`), and what to do, in that order.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from gwmon.analytics import MAINTENANCE_KINDS, Alert, AlertKind, AlertState

from ._legal import headline, meaning, threshold_row
from ._words import (
    DEFAULT_ALPHA,
    Language,
    fmt_duration,
    fmt_every,
    fmt_time,
    fmt_value,
    one_line,
    word,
)

NoticeType = Literal["opened", "resolved", "reminder"]


def what(alert: Alert, lang: Language) -> str:
    """'SCHWELLENWERT ÜBERSCHRITTEN Nitrat 54,2 mg/L' — the kind, the quantity, the value."""
    head = headline(alert, lang)
    if alert.kind in (AlertKind.BREACH, AlertKind.WARNING):
        return f"{head} {word('nitrate', lang)} {fmt_value(alert, alert.value, lang)}"
    if alert.kind == AlertKind.TREND:
        return f"{head} {word('nitrate', lang)} {'steigend' if lang == 'de' else 'rising'}"
    if alert.kind in (AlertKind.LEVEL_LOW, AlertKind.LEVEL_HIGH):
        return f"{head} {fmt_value(alert, alert.value, lang)}"
    return head


def where(alert: Alert, lang: Language) -> str:
    return f"{word('Probe', lang)} {alert.probe} ({alert.site})"


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell: an alert opened, was resolved, or still waits for an ack."""

    type: NoticeType
    event_id: str
    alert: Alert
    queued_at_s: float
    reminder_no: int = 0


def subject(notice: Notice, lang: Language) -> str:
    return one_line(_subject(notice, lang))


def _subject(notice: Notice, lang: Language) -> str:
    alert = notice.alert
    if notice.type == "resolved":
        prefix = "BEENDET: " if lang == "de" else "RESOLVED: "
        head = f"{headline(alert, lang)}{_quantity_suffix(alert, lang)}"
        return f"[gwmon] {prefix}{head} – {where(alert, lang)}"
    prefix = ""
    if notice.type == "reminder":
        prefix = "ERINNERUNG: " if lang == "de" else "REMINDER: "
    return f"[gwmon] {prefix}{what(alert, lang)} – {where(alert, lang)}"


def _quantity_suffix(alert: Alert, lang: Language) -> str:
    if alert.kind in (AlertKind.BREACH, AlertKind.WARNING, AlertKind.TREND):
        return f" {word('nitrate', lang)}"
    return ""


def digest_subject(notices: Sequence[Notice], audience: str, lang: Language) -> str:
    return one_line(_digest_subject(notices, audience, lang))


def _digest_subject(notices: Sequence[Notice], audience: str, lang: Language) -> str:
    worst = sorted(notices, key=_rank)[0]
    # Name the worst alert as it stands now (its latest notice in this digest, e.g. the
    # peak a later reading set), not as it was when it opened: a digest tells the story
    # so far, and where a batch boundary fell must not change the subject.
    worst = max(
        (notice for notice in notices if notice.alert.alert_id == worst.alert.alert_id),
        key=lambda notice: notice.alert.updated_at,
    )
    if lang == "de":
        return (
            f"[gwmon] SAMMELMELDUNG: {len(notices)} Meldungen für {audience} – u. a. "
            f"{what(worst.alert, lang)} {worst.alert.probe}"
        )
    return (
        f"[gwmon] DIGEST: {len(notices)} notices for {audience} – incl. "
        f"{what(worst.alert, lang)} {worst.alert.probe}"
    )


_KIND_RANK = {
    AlertKind.BREACH: 0,
    AlertKind.LEVEL_LOW: 1,
    AlertKind.LEVEL_HIGH: 1,
    AlertKind.WARNING: 2,
    AlertKind.TREND: 3,
    AlertKind.SENSOR_FAULT: 4,
    AlertKind.DRIFT: 5,
    AlertKind.STALE: 6,
}


def _rank(notice: Notice) -> tuple[int, int, float]:
    type_rank = {"opened": 0, "reminder": 1, "resolved": 2}[notice.type]
    return (type_rank, _KIND_RANK[notice.alert.kind], -notice.queued_at_s)


@dataclass(slots=True)
class Section:
    """One alert's part of a mail (a digest has several)."""

    notice: Notice
    count: int = 1
    opened_count: int = 0
    resolved_count: int = 0
    first_at: datetime | None = None
    chart_cid: str | None = None
    chart_missing: bool = False
    ack_url: str | None = None
    ack_until: datetime | None = None
    dashboard_url: str = ""
    extra: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RenderContext:
    lang: Language
    audience: str
    now: datetime
    late_after_s: float
    reminder_every: timedelta | None
    reminded: frozenset[AlertKind] = frozenset()
    trend_alpha: float = DEFAULT_ALPHA  # [analytics.trend] alpha, named in trend mails


def _rows(section: Section, ctx: RenderContext) -> list[tuple[str, str]]:
    lang = ctx.lang
    notice = section.notice
    alert = notice.alert
    rows: list[tuple[str, str]] = [
        (word("Probe", lang), f"{alert.probe} – {alert.site}"),
        (word("municipality", lang), alert.municipality),
    ]
    if alert.value is not None:
        key = {
            AlertKind.BREACH: "peak",
            AlertKind.WARNING: "peak",
            AlertKind.TREND: "slope",
            AlertKind.STALE: "silent",
            AlertKind.DRIFT: "offset",
        }.get(alert.kind, "value")
        value_text = fmt_value(alert, alert.value, lang)
        if alert.kind in (AlertKind.BREACH, AlertKind.WARNING, AlertKind.TREND):
            value_text += " Nitrat (NO₃)" if lang == "de" else " nitrate (NO₃)"
        rows.append((word(key, lang), value_text))
    if alert.kind == AlertKind.STALE and alert.threshold is not None:
        rows.append((word("expected_within", lang), fmt_value(alert, alert.threshold, lang)))
    else:
        row = threshold_row(alert, lang)
        if row is not None:
            rows.append(row)
    rows.append((word("measured", lang), fmt_time(alert.opened_at, lang)))
    if alert.arrival_at is not None:
        lag = (alert.arrival_at - alert.opened_at).total_seconds()
        if lag > ctx.late_after_s:
            rows.append(
                (
                    word("arrived", lang),
                    f"{fmt_time(alert.arrival_at, lang)} ({word('late', lang)})",
                )
            )
    if notice.type == "resolved" and alert.resolved_at is not None:
        rows.append((word("resolved_at", lang), fmt_time(alert.resolved_at, lang)))
        rows.append(
            (word("duration", lang), fmt_duration(alert.resolved_at - alert.opened_at, lang))
        )
    else:
        rows.append((word("since", lang), fmt_duration(ctx.now - alert.opened_at, lang)))
    return rows


def _state_word(alert: Alert, lang: Language) -> str:
    return {
        AlertState.OPEN: word("open_state", lang),
        AlertState.ACKNOWLEDGED: word("ack_state", lang),
        AlertState.RESOLVED: word("resolved_state", lang),
    }[alert.state]


def _lead(section: Section, ctx: RenderContext) -> list[str]:
    lang = ctx.lang
    notice = section.notice
    alert = notice.alert
    lines: list[str] = []
    if notice.type == "resolved":
        maint = alert.kind in MAINTENANCE_KINDS
        lines.append(word("resolved_line_maint" if maint else "resolved_line", lang))
    if notice.type == "reminder":
        lines.append(word("reminder_no", lang).format(n=notice.reminder_no))
    if alert.acked_at is not None and alert.acked_by:
        lines.append(
            word("acked", lang).format(by=alert.acked_by, at=fmt_time(alert.acked_at, lang))
        )
    if section.count > 1 and section.opened_count > 0 and section.first_at is not None:
        lines.append(
            word("flap", lang).format(
                first=fmt_time(section.first_at, lang),
                opened=section.opened_count,
                resolved=section.resolved_count,
            )
            + (f" {word('flap_hint', lang)}" if section.opened_count > 1 else "")
            + f" {word('current', lang)}: {_state_word(alert, lang)}."
        )
    return lines


def section_title(section: Section, lang: Language) -> str:
    notice = section.notice
    alert = notice.alert
    if notice.type == "resolved":
        prefix = "BEENDET: " if lang == "de" else "RESOLVED: "
        head = f"{headline(alert, lang)}{_quantity_suffix(alert, lang)}"
        return f"{prefix}{head} – {where(alert, lang)}"
    prefix = ("ERINNERUNG: " if lang == "de" else "REMINDER: ") if notice.type == "reminder" else ""
    return f"{prefix}{what(alert, lang)} – {where(alert, lang)}"


def render_plain(sections: Sequence[Section], ctx: RenderContext) -> str:
    lang = ctx.lang
    out: list[str] = []
    total = sum(s.count for s in sections)
    if total > 1:
        out += [word("digest_intro", lang).format(n=total, audience=ctx.audience), ""]
    for number, section in enumerate(sections, 1):
        title = section_title(section, lang)
        if len(sections) > 1:
            title = f"{number}. {title}"
        out += [title, "=" * min(len(title), 72), ""]
        out += [line for line in _lead(section, ctx)]
        if _lead(section, ctx):
            out.append("")
        out += [f"{name}: {value}" for name, value in _rows(section, ctx)]
        out += [
            "",
            f"{word('meaning', lang)}: "
            f"{meaning(section.notice.alert, lang, trend_alpha=ctx.trend_alpha)}",
        ]
        if section.notice.alert.kind in MAINTENANCE_KINDS and section.notice.alert.message:
            out.append(f"{word('detail', lang)}: {section.notice.alert.message}")
        out += ["", f"{word('dashboard', lang)}: {section.dashboard_url}"]
        if section.chart_missing:
            out.append(word("no_chart", lang))
        if section.ack_url is not None and section.ack_until is not None:
            out += [
                "",
                word("ack_hint", lang).format(until=fmt_time(section.ack_until, lang)),
                section.ack_url,
            ]
            if ctx.reminder_every is not None and section.notice.alert.kind in ctx.reminded:
                out.append(
                    word("reminder_hint", lang).format(every=fmt_every(ctx.reminder_every, lang))
                )
        out.append("")
    ids = ", ".join(s.notice.alert.alert_id for s in sections)
    out += ["-- ", word("footer", lang).format(ids=ids, audience=ctx.audience), ""]
    return "\n".join(out)


def render_html(sections: Sequence[Section], ctx: RenderContext) -> str:
    lang = ctx.lang
    e = html.escape
    parts: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>',
        '<body style="font-family: sans-serif; font-size: 16px; line-height: 1.4; '
        'max-width: 640px; margin: 0 auto; padding: 8px;">',
    ]
    total = sum(s.count for s in sections)
    if total > 1:
        parts.append(
            f"<p>{e(word('digest_intro', lang).format(n=total, audience=ctx.audience))}</p>"
        )
    for section in sections:
        alert = section.notice.alert
        colour = "#555555"
        if section.notice.type != "resolved":
            colour = {"critical": "#b00020", "warning": "#b35900"}.get(
                alert.severity.value, "#555555"
            )
        else:
            colour = "#1b5e20"
        parts.append(
            f'<h2 style="color: {colour}; font-size: 20px;">{e(section_title(section, lang))}</h2>'
        )
        parts += [f"<p><strong>{e(line)}</strong></p>" for line in _lead(section, ctx)]
        parts.append('<table style="border-collapse: collapse;">')
        for name, value in _rows(section, ctx):
            parts.append(
                f'<tr><th style="text-align: left; padding: 2px 12px 2px 0; vertical-align: top;">'
                f"{e(name)}</th><td>{e(value)}</td></tr>"
            )
        parts.append("</table>")
        parts.append(
            f"<p><strong>{e(word('meaning', lang))}:</strong> "
            f"{e(meaning(alert, lang, trend_alpha=ctx.trend_alpha))}</p>"
        )
        if alert.kind in MAINTENANCE_KINDS and alert.message:
            parts.append(f"<p><small>{e(word('detail', lang))}: {e(alert.message)}</small></p>")
        if section.chart_cid is not None:
            alt = f"{word('chart', lang)} {alert.probe}"
            parts.append(
                f'<p><img src="cid:{e(section.chart_cid.strip("<>"))}" alt="{e(alt)}" '
                'style="width: 100%; max-width: 640px; height: auto;"></p>'
            )
        elif section.chart_missing:
            parts.append(f"<p><small>{e(word('no_chart', lang))}</small></p>")
        parts.append(
            f'<p><a href="{e(section.dashboard_url)}">{e(word("dashboard", lang))}</a></p>'
        )
        if section.ack_url is not None and section.ack_until is not None:
            hint = word("ack_hint", lang).format(until=fmt_time(section.ack_until, lang))
            parts.append(
                f"<p>{e(hint)}</p>"
                f'<p><a href="{e(section.ack_url)}" style="display: inline-block; '
                "padding: 10px 16px; "
                'background: #0b5394; color: #ffffff; text-decoration: none; border-radius: 4px;">'
                f"{e(word('ack', lang))}</a></p>"
            )
            if ctx.reminder_every is not None and alert.kind in ctx.reminded:
                hint = word("reminder_hint", lang).format(every=fmt_every(ctx.reminder_every, lang))
                parts.append(f"<p><small>{e(hint)}</small></p>")
        parts.append("<hr>")
    ids = ", ".join(s.notice.alert.alert_id for s in sections)
    parts.append(
        f'<p style="color: #666666; font-size: 13px;">'
        f"{e(word('footer', lang).format(ids=ids, audience=ctx.audience))}</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)
