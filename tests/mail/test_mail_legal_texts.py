"""Legal wording of the mails (issue 9, points 4, 5 and 7): "Schwellenwert", never the
drinking-water "Grenzwert"; the legal values by name (50 mg/L, start of trend reversal at
most 75 % = 37.5 mg/L); a probe's own registry thresholds called the probe's; the
configured α in trend mails."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.analytics import Alert, AlertKind, AlertState
from gwmon.analytics.mail._texts import (
    Notice,
    RenderContext,
    Section,
    digest_subject,
    render_html,
    render_plain,
    subject,
)
from gwmon.ingest import Registry, load_registry
from mail.mail_helpers import (
    MailRig,
    RigFactory,
    SmtpServer,
    make_alert,
    opened,
    resolved,
    sent_to,
    text_of,
)

T0 = dt.datetime(2026, 11, 26, 9, 15, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(hours=2)
KINDS = list(AlertKind)


REGISTRY: Registry = load_registry(
    Path(__file__).resolve().parents[2] / "examples" / "registry-wertvoll.csv"
)


def _mail(alert: Alert, lang: str = "de", notice_type: str = "opened") -> tuple[str, str, str]:
    notice = Notice(notice_type, f"{alert.alert_id}:{notice_type}", alert, 0.0)  # type: ignore[arg-type]
    ctx = RenderContext(
        lang=lang,  # type: ignore[arg-type]
        audience="Stabsstelle",
        now=NOW,
        late_after_s=900.0,
        reminder_every=None,
    )
    section = Section(notice=notice, dashboard_url="https://grafana.example.org/d/gwmon-probe")
    return (
        subject(notice, lang),  # type: ignore[arg-type]
        render_plain([section], ctx),
        render_html([section], ctx),
    )


def _alert(kind: AlertKind, value: float, threshold: float | None) -> Alert:
    alert = make_alert(REGISTRY, "LE-07", kind, value, opened_at=T0, threshold=threshold)
    return alert if threshold is not None else alert.with_changes(threshold=None)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(KINDS),
    st.sampled_from(["opened", "resolved", "reminder"]),
    st.floats(20, 80).map(lambda v: round(v, 1)),
    st.sampled_from([None, 30.0, 37.5, 45.0, 50.0, 60.0]),
)
def test_no_german_text_says_grenzwert(
    kind: AlertKind, notice_type: str, value: float, threshold: float | None
) -> None:
    for text in _mail(_alert(kind, value, threshold), "de", notice_type):
        assert "grenzwert" not in text.lower()


def test_default_breach_names_the_grwv_schwellenwert() -> None:
    head, plain, _ = _mail(_alert(AlertKind.BREACH, 54.2, 50.0))
    assert head == (
        "[gwmon] SCHWELLENWERT ÜBERSCHRITTEN Nitrat 54,2 mg/L – Messstelle LE-07 "
        "(Leipzig-Probstheida)"
    )
    assert "Schwellenwert: 50,0 mg/L (GrwV Anlage 2)" in plain
    assert (
        "Der Schwellenwert der Grundwasserverordnung (GrwV, Anlage 2) für Nitrat von 50 mg/L "
        "ist an dieser Grundwassermessstelle überschritten." in plain
    )
    english, plain_en, _ = _mail(_alert(AlertKind.BREACH, 54.2, 50.0), "en")
    assert english.startswith("[gwmon] THRESHOLD EXCEEDED Nitrate 54.2 mg/L")
    assert "Threshold: 50.0 mg/L (GrwV Annex 2)" in plain_en


def test_a_probe_threshold_of_60_is_the_probes_alarm_threshold_not_the_grwvs() -> None:
    head, plain, html = _mail(_alert(AlertKind.BREACH, 61.3, 60.0))
    assert head.startswith("[gwmon] SCHWELLENWERT ÜBERSCHRITTEN Nitrat 61,3 mg/L")  # > 50 too
    assert (
        "Alarmschwelle der Messstelle: 60,0 mg/L (Schwellenwert GrwV Anlage 2: 50,0 mg/L)" in plain
    )
    assert (
        "Die Alarmschwelle dieser Messstelle von 60,0 mg/L Nitrat (im Messstellenregister "
        "festgelegt) ist überschritten. Damit ist auch der Schwellenwert der "
        "Grundwasserverordnung (GrwV, Anlage 2) von 50 mg/L überschritten." in plain
    )
    assert "von 60 mg/L ist an dieser" not in plain and "GrwV Anlage 2)\n" not in plain
    assert "Alarmschwelle der Messstelle" in html
    _, english, _ = _mail(_alert(AlertKind.BREACH, 61.3, 60.0), "en")
    assert "The probe's alarm threshold of 60.0 mg/L nitrate" in english
    assert "Probe alarm threshold: 60.0 mg/L (GrwV Annex 2 threshold value: 50.0 mg/L)" in english


def test_a_stricter_probe_threshold_below_50_does_not_claim_the_grwv_value() -> None:
    head, plain, _ = _mail(_alert(AlertKind.BREACH, 46.0, 45.0))
    assert head.startswith("[gwmon] ALARMSCHWELLE ÜBERSCHRITTEN Nitrat 46,0 mg/L")
    assert "Der Schwellenwert der Grundwasserverordnung (GrwV, Anlage 2) liegt bei 50 mg/L." in (
        plain
    )
    assert "50 mg/L überschritten" not in plain


def test_a_probe_warning_of_45_is_not_called_the_start_of_trend_reversal() -> None:
    _, plain, _ = _mail(_alert(AlertKind.WARNING, 46.0, 45.0))
    assert (
        "Warnschwelle der Messstelle: 45,0 mg/L (Ausgangspunkt der Trendumkehr nach GrwV: "
        "höchstens 37,5 mg/L)" in plain
    )
    assert "Die Warnschwelle dieser Messstelle von 45,0 mg/L Nitrat" in plain
    assert "höchstens 75 % des Schwellenwerts, 37,5 von 50 mg/L" in plain
    assert "Ausgangspunkt der Trendumkehr, 75 %" not in plain  # 45 is not that point
    # The default warning is the legal point itself.
    _, default, _ = _mail(_alert(AlertKind.WARNING, 38.1, 37.5))
    assert "Warnschwelle: 37,5 mg/L (Ausgangspunkt der Trendumkehr, 75 % von 50 mg/L)" in default
    assert "Der Ausgangspunkt für die Trendumkehr ist erreicht: 75 % des GrwV-Schwellenwerts" in (
        default
    )
    # A stricter probe warning (30) below the legal point does not claim it was reached.
    _, strict, _ = _mail(_alert(AlertKind.WARNING, 31.0, 30.0))
    assert "liegt nach GrwV bei höchstens 75 % des Schwellenwerts: 37,5 von 50 mg/L" in strict
    assert "ist erreicht" not in strict and "Damit ist auch" not in strict


def test_trend_mail_prints_the_configured_alpha(
    mail_rig: RigFactory, smtp_server: SmtpServer
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server, extra="\n[analytics.trend]\nalpha = 0.01\n")
    service = rig.build()
    trend = make_alert(rig.registry, "LO-01", AlertKind.TREND, 1.234)
    service.alert_event(opened(trend.with_changes(unit="mg/L/a", threshold=0.0)))
    service.run_once()
    (mail,) = sent_to(smtp_server.mails(), ["stab@lossatal.example.invalid"])
    plain = text_of(mail.message, "plain")
    assert "GrwV Anlage 6 (Mann-Kendall, α = 0,01)" in plain
    assert "α = 0,05" not in plain
    assert "α = 0,01" in text_of(mail.message, "html")


def test_alert_states_do_not_change_the_wording() -> None:
    acked = _alert(AlertKind.BREACH, 61.3, 60.0).with_changes(state=AlertState.ACKNOWLEDGED)
    assert "Alarmschwelle der Messstelle: 60,0 mg/L" in _mail(acked)[1]


def test_a_digest_subject_names_the_alert_as_it_stands_not_as_it_opened() -> None:
    # The peak a later reading set is in the resolved notice; where the ingest's batch
    # boundary fell (open and peak in one batch or two) must not change the subject.
    first = make_alert(REGISTRY, value=59.4)
    later = first.with_changes(value=59.9, updated_at=first.updated_at + dt.timedelta(hours=3))
    closed = resolved(later, later.updated_at).alert
    notices = [
        Notice("opened", f"{first.alert_id}:opened", first, 1.0),
        Notice("resolved", f"{first.alert_id}:resolved", closed, 2.0),
    ]
    text = digest_subject(notices, "Stabsstelle Umwelt Leipzig", "de")
    assert text.endswith("SCHWELLENWERT ÜBERSCHRITTEN Nitrat 59,9 mg/L LE-07"), text
