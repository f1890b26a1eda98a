"""No mail lost, none doubled: SMTP outage, restart with a full outbox, TLS, reminders, ack."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests

from gwmon.analytics import AlertEvent, AlertEventType, AlertKind, AlertState
from gwmon.ingest.devservers import LOOPBACK
from mail.mail_helpers import (
    LEIPZIG,
    OPS,
    SMTP_PASSWORD,
    SMTP_USER,
    T0,
    CertAuthority,
    MailRig,
    Received,
    RigFactory,
    SmtpServer,
    make_alert,
    make_ca,
    opened,
    resolved,
    sent_to,
    text_of,
)


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def alerts_of(mails: list[Received]) -> Counter[str]:
    return Counter(alert for mail in mails for alert in mail.message["X-Gwmon-Alerts"].split())


PROBES = ["LE-01", "LE-02", "WU-01", "BE-02", "TH-03", "LO-02", "LE-05", "WU-03"]


def test_smtp_down_then_back_every_mail_delivered_exactly_once(mail_rig: RigFactory) -> None:
    smtp = SmtpServer()  # not started: the server is down
    rig: MailRig = mail_rig(smtp=smtp)
    service = rig.build()
    alerts = [make_alert(rig.registry, probe, n=i) for i, probe in enumerate(PROBES)]
    for alert in alerts:
        service.alert_event(opened(alert))
    service.run_once()  # composes per audience, delivery fails
    assert service.stats.delivery_failures == 1
    # Leipzig's 3 and Wurzen's 2 alerts become one digest each, Bennewitz, Thallwitz and
    # Lossatal get one mail each, the operators one digest of all 8.
    assert service.pending() == 6
    rig.clock.advance(0.5)
    service.run_once()  # inside the backoff: no new try
    assert service.stats.delivery_failures == 1
    rig.clock.advance(1.0)
    service.run_once()  # second try, still down, backoff doubles
    assert service.stats.delivery_failures == 2
    smtp.start()
    try:
        rig.clock.advance(1.0)
        service.run_once()  # 2 s backoff not over yet
        assert smtp.mails() == []
        rig.clock.advance(1.5)
        service.run_once()
        mails = smtp.mails()
        assert len(mails) == 6
        assert alerts_of(mails) == Counter({a.alert_id: 2 for a in alerts})
        assert alerts_of(sent_to(mails, OPS)) == Counter({a.alert_id: 1 for a in alerts})
        assert service.pending() == 0
        for _ in range(3):
            rig.clock.advance(60)
            service.run_once()
        assert len(smtp.mails()) == 6
        print(
            f"FAULT FIGURE SMTP down then back: alerts={len(alerts)} mails_queued=6 "
            f"delivered={len(smtp.mails())} lost=0 duplicated={len(smtp.mails()) - 6}"
        )
    finally:
        smtp.stop()


def test_sender_thread_delivers_after_outage_without_blocking_alert_event(
    mail_rig: RigFactory,
) -> None:
    smtp = SmtpServer()
    rig: MailRig = mail_rig(smtp=smtp, window=0)
    rig.clock.real = True  # the thread's backoff runs on real time here
    service = rig.build()
    service.start()
    alerts = [make_alert(rig.registry, probe, n=i) for i, probe in enumerate(PROBES)]
    started = time.monotonic()
    for alert in alerts:
        service.alert_event(opened(alert))
    # alert_event only writes the outbox; it returns promptly even with SMTP down.
    assert time.monotonic() - started < 5
    wait_until(lambda: service.stats.delivery_failures >= 1)
    smtp.start()
    try:
        wait_until(lambda: service.pending() == 0)
        mails = smtp.mails()
        assert alerts_of(mails) == Counter({a.alert_id: 2 for a in alerts})
    finally:
        service.stop()
        smtp.stop()


def test_restart_with_full_outbox_nothing_lost_nothing_doubled(mail_rig: RigFactory) -> None:
    smtp = SmtpServer()
    rig: MailRig = mail_rig(smtp=smtp)
    first = rig.build()
    alerts = [make_alert(rig.registry, probe, n=i) for i, probe in enumerate(PROBES)]
    for alert in alerts[:5]:
        first.alert_event(opened(alert))
    first.run_once()  # composed (5 mails), none delivered
    for alert in alerts[5:]:
        first.alert_event(opened(alert))  # still raw events
    first.stop()
    # Restart: the analytics stage replays the same events (redelivered batch).
    second = rig.build()
    for alert in alerts:
        second.alert_event(opened(alert))
    assert second.stats.events_duplicate == len(alerts)
    smtp.start()
    try:
        second.run_once()
        mails = smtp.mails()
        assert alerts_of(mails) == Counter({a.alert_id: 2 for a in alerts})
        second.stop()
        third = rig.build()  # and once more, after everything was sent
        for alert in alerts:
            third.alert_event(opened(alert))
        third.run_once()
        assert len(smtp.mails()) == len(mails)
    finally:
        smtp.stop()


def test_crash_between_queueing_and_marking_events_done(mail_rig: RigFactory) -> None:
    """A mail already queued must not be composed again from its events after a crash."""
    smtp = SmtpServer()
    rig: MailRig = mail_rig(smtp=smtp)
    service = rig.build()
    alert = make_alert(rig.registry)
    service.alert_event(opened(alert))
    service.run_once()
    service.stop()
    outbox = rig.workdir / "outbox"
    done = sorted((outbox / "done").iterdir())[0]
    # Simulate the crash: the event file is back, its done marker gone.
    (outbox / "events" / f"{done.name}.json").write_text(
        '{"event_id": "LE-07-breach-1:opened", "type": "opened", "queued_at_s": 0, "alert": {}}',
        encoding="utf-8",
    )
    done.unlink()
    smtp.start()
    try:
        restarted = rig.build()
        restarted.run_once()
        assert len(smtp.mails()) == 2
        assert restarted.pending() == 0
    finally:
        smtp.stop()


def test_starttls_with_verified_certificate_and_auth(
    mail_rig: RigFactory, smtp_starttls: SmtpServer, mail_ca: CertAuthority, tmp_path: Path
) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text(SMTP_PASSWORD + "\n")
    rig: MailRig = mail_rig(
        smtp=smtp_starttls,
        security="starttls",
        extra=f'smtp_username = "{SMTP_USER}"\nsmtp_password_file = "{secret}"\nsmtp_ca_file = "{mail_ca.cert_file}"',
    )
    service = rig.build()
    service.alert_event(opened(make_alert(rig.registry)))
    service.run_once()
    assert len(smtp_starttls.mails()) == 2
    assert service.stats.delivery_failures == 0


def test_implicit_tls(mail_rig: RigFactory, mail_ca: CertAuthority, tmp_path: Path) -> None:
    smtp = SmtpServer(
        mode="tls", cert=mail_ca.server_cert(tmp_path, "tls", dns=["localhost"], ips=[LOOPBACK])
    )
    smtp.start()
    try:
        rig: MailRig = mail_rig(
            smtp=smtp,
            security="tls",
            extra=f'smtp_username = "{SMTP_USER}"\nsmtp_password = "{SMTP_PASSWORD}"\nsmtp_ca_file = "{mail_ca.cert_file}"',
        )
        service = rig.build()
        service.alert_event(opened(make_alert(rig.registry)))
        service.run_once()
        assert len(smtp.mails()) == 2
    finally:
        smtp.stop()


@pytest.mark.parametrize("case", ["wrong-host-name", "unknown-ca"])
def test_certificate_mismatch_is_refused(
    mail_rig: RigFactory,
    mail_ca: CertAuthority,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    if case == "wrong-host-name":
        cert = mail_ca.server_cert(tmp_path, "other", dns=["mail.elsewhere.invalid"], ips=[])
    else:
        cert = make_ca(tmp_path / "rogue", "rogue-ca").server_cert(
            tmp_path, "rogue", dns=["localhost"], ips=[LOOPBACK]
        )
    smtp = SmtpServer(mode="starttls", cert=cert)
    smtp.start()
    try:
        rig: MailRig = mail_rig(
            smtp=smtp,
            security="starttls",
            extra=f'smtp_username = "{SMTP_USER}"\nsmtp_password = "{SMTP_PASSWORD}"\nsmtp_ca_file = "{mail_ca.cert_file}"',
        )
        service = rig.build()
        service.alert_event(opened(make_alert(rig.registry)))
        with caplog.at_level(logging.WARNING, logger="gwmon.analytics.mail"):
            service.run_once()
        assert smtp.mails() == []
        assert service.stats.delivery_failures == 1
        assert service.pending() == 2  # kept for when the certificate is fixed
        assert "certificate" in caplog.text
        assert SMTP_PASSWORD not in caplog.text
    finally:
        smtp.stop()


def test_reminders_until_acknowledged_over_http(
    mail_rig: RigFactory, smtp_server: SmtpServer
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server, reminder=3600)
    service = rig.build()
    alert = make_alert(rig.registry)
    rig.acknowledger.add(alert)
    service.alert_event(opened(alert))
    service.run_once()
    rig.clock.advance(1800)
    service.run_once()
    assert len(smtp_server.mails()) == 2
    rig.clock.advance(1800)
    service.run_once()
    assert len(sent_to(smtp_server.mails(), OPS)) == 2
    mails = sent_to(smtp_server.mails(), LEIPZIG)
    assert len(mails) == 2
    reminder = mails[1].message
    assert reminder["Subject"] == (
        "[gwmon] ERINNERUNG: SCHWELLENWERT ÜBERSCHRITTEN Nitrat 54,2 mg/L – Messstelle LE-07 (Leipzig-Probstheida)"
    )
    plain = text_of(reminder, "plain")
    assert "1. Erinnerung: noch nicht bestätigt." in plain
    assert "Solange niemand bestätigt, erinnert gwmon alle 1 Std. erneut." in plain
    assert "Dauer bisher: 3 Std. 15 Min." in plain
    link = re.search(r"(http://127\.0\.0\.1:\d+/ack\?t=[A-Za-z0-9_.%-]+)", plain)
    assert link is not None
    url = link.group(1)
    # GET shows a form and acknowledges nothing (link previews must not ack).
    page = requests.get(url, timeout=10)
    assert page.status_code == 200
    assert 'method="post"' in page.text
    assert "SCHWELLENWERT ÜBERSCHRITTEN Nitrat 54,2 mg/L" in page.text
    assert rig.acknowledger.calls == []
    token = unquote(url.split("t=", 1)[1])
    answer = requests.post(
        url.split("?")[0],
        data={"t": token, "name": "Frau Beispiel", "comment": "Probe wird genommen"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert "Frau Beispiel" in answer.text
    assert [(c[0], c[1], c[2]) for c in rig.acknowledger.calls] == [
        ("LE-07-breach-1", "Frau Beispiel", "Probe wird genommen")
    ]
    assert rig.acknowledger.calls[0][3] == dt.datetime.fromtimestamp(rig.clock.now, dt.UTC)
    # No more reminders, also after a restart.
    for _ in range(3):
        rig.clock.advance(3600)
        service.run_once()
    service.stop()
    restarted = rig.build()
    rig.clock.advance(7200)
    restarted.run_once()
    assert len(smtp_server.mails()) == 4


def test_ack_event_from_cli_stops_reminders_and_reminders_survive_restart(
    mail_rig: RigFactory, smtp_server: SmtpServer
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server, reminder=3600)
    service = rig.build()
    alert = make_alert(rig.registry)
    rig.acknowledger.add(alert)  # the alert book knows every alert it announces
    service.alert_event(opened(alert))
    service.run_once()
    service.stop()
    restarted = rig.build()
    rig.clock.advance(3600)
    restarted.run_once()
    rig.clock.advance(3600)
    restarted.run_once()
    subjects = [m.message["Subject"] for m in sent_to(smtp_server.mails(), LEIPZIG)]
    assert len(subjects) == 3 and all(s.startswith("[gwmon] ERINNERUNG") for s in subjects[1:])
    assert len(smtp_server.mails()) == 6
    acked = alert.with_changes(state=AlertState.ACKNOWLEDGED, acked_by="Leitwarte", acked_at=T0)
    rig.acknowledger.add(acked)
    restarted.alert_event(
        AlertEvent(f"{alert.alert_id}:acknowledged", AlertEventType.ACKNOWLEDGED, acked)
    )
    rig.clock.advance(7200)
    restarted.run_once()
    assert len(smtp_server.mails()) == 6
    # Warnings get no reminders by default configuration (reminder_kinds = ["breach"]).
    restarted.alert_event(opened(make_alert(rig.registry, "WU-01", AlertKind.WARNING, 39.0)))
    restarted.run_once()
    rig.clock.advance(7200)
    restarted.run_once()
    assert len(smtp_server.mails()) == 8  # the warning to Wurzen and the operators, no more


def test_ack_link_errors(mail_rig: RigFactory, smtp_server: SmtpServer) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server, reminder=3600)
    service = rig.build()
    alert = make_alert(rig.registry)  # not known to the acknowledger: 404
    service.alert_event(opened(alert))
    service.run_once()
    plain = text_of(sent_to(smtp_server.mails(), LEIPZIG)[0].message, "plain")
    found = re.search(r"(http://127\.0\.0\.1:\d+/ack\?t=\S+)", plain)
    assert found is not None
    url = found.group(1)
    token = unquote(url.split("t=", 1)[1])
    base = url.split("?")[0]
    assert requests.post(base, data={"t": token}, timeout=10).status_code == 404
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert requests.post(base, data={"t": forged}, timeout=10).status_code == 403
    assert requests.get(base + "?t=garbage", timeout=10).status_code == 403
    rig.clock.advance(15 * 86400)  # past the 14-day lifetime
    assert requests.get(url, timeout=10).status_code == 410
    assert rig.acknowledger.calls == []


def test_resolved_alert_stops_reminders(mail_rig: RigFactory, smtp_server: SmtpServer) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server, reminder=3600)
    service = rig.build()
    alert = make_alert(rig.registry)
    service.alert_event(opened(alert))
    service.run_once()
    service.alert_event(resolved(alert, T0 + dt.timedelta(hours=1)))
    service.run_once()
    rig.clock.advance(7200)
    service.run_once()
    subjects = [m.message["Subject"] for m in sent_to(smtp_server.mails(), LEIPZIG)]
    assert len(subjects) == 2
    assert subjects[1].startswith("[gwmon] BEENDET:")
    assert len(smtp_server.mails()) == 4


def test_ack_page_names_the_alert_also_without_reminders(
    mail_rig: RigFactory, smtp_server: SmtpServer
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server, reminder=0)
    service = rig.build()
    alert = make_alert(rig.registry, "WU-01", AlertKind.WARNING, 39.0)
    rig.acknowledger.add(alert)
    service.alert_event(opened(alert))
    service.run_once()
    (mail,) = sent_to(smtp_server.mails(), ["stab@wurzen.example.org"])
    found = re.search(r"(http://127\.0\.0\.1:\d+/ack\?t=\S+)", text_of(mail.message, "plain"))
    assert found is not None
    page = requests.get(found.group(1), timeout=10)
    assert page.status_code == 200
    assert "WARNUNG Nitrat 39,0 mg/L – Messstelle WU-01 (Wurzen-Dehnitz)" in page.text
    assert 'value="Stabsstelle Wurzen"' in page.text  # the name field, pre-filled
    token = unquote(found.group(1).split("t=", 1)[1])
    answer = requests.post(found.group(1).split("?")[0], data={"t": token, "name": ""}, timeout=10)
    assert answer.status_code == 200
    assert [c[:3] for c in rig.acknowledger.calls] == [
        ("WU-01-warning-1", "Stabsstelle Wurzen", None)
    ]
    state = json.loads((rig.workdir / "outbox" / "alerts.json").read_text())
    assert state["WU-01-warning-1"]["next_s"] is None
    service.alert_event(resolved(alert, T0 + dt.timedelta(hours=2)))
    state = json.loads((rig.workdir / "outbox" / "alerts.json").read_text())
    assert state == {}


def test_permanent_refusal_is_kept_aside_and_does_not_block_the_others(
    mail_rig: RigFactory, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.recorder.refuse.add("instandhaltung@wasserwerke.example.org")
    rig: MailRig = mail_rig(smtp=smtp_server)
    service = rig.build()
    service.alert_event(opened(make_alert(rig.registry, "LE-03", AlertKind.SENSOR_FAULT, 99.0)))
    service.alert_event(opened(make_alert(rig.registry)))
    with caplog.at_level(logging.ERROR, logger="gwmon.analytics.mail"):
        service.run_once()
    assert sorted(m.rcpt_tos for m in smtp_server.mails()) == sorted([LEIPZIG, OPS])
    assert service.stats.mails_failed == 1
    failed = sorted(p.suffix for p in (rig.workdir / "outbox" / "failed").iterdir())
    assert failed == [".eml", ".json"]
    assert "refused permanently" in caplog.text
    rig.clock.advance(3600)
    service.run_once()  # not retried, not lost: kept in failed/ for a human
    assert len(smtp_server.mails()) == 2
    assert service.pending() == 0


def test_one_refused_recipient_does_not_resend_to_the_others(
    mail_rig: RigFactory, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.recorder.refuse.add("bereitschaft@leipzig.example.org")
    rig: MailRig = mail_rig(smtp=smtp_server)
    service = rig.build()
    service.alert_event(opened(make_alert(rig.registry)))
    with caplog.at_level(logging.ERROR, logger="gwmon.analytics.mail"):
        service.run_once()
        rig.clock.advance(3600)
        service.run_once()
    assert sorted(m.rcpt_tos for m in smtp_server.mails()) == sorted(
        [["stabsstelle@leipzig.example.org"], OPS]
    )
    assert "refused some recipients" in caplog.text
    assert "bereitschaft@leipzig.example.org" in caplog.text
    assert service.stats.mails_sent == 2


def test_unusable_outbox_event_is_set_aside_not_retried_forever(
    mail_rig: RigFactory, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server)
    service = rig.build()
    events = rig.workdir / "outbox" / "events"
    (events / "broken.json").write_text('{"event_id": "x", "type": "opened"}', encoding="utf-8")
    (events / "garbled.json").write_text("{not json", encoding="utf-8")
    service.alert_event(opened(make_alert(rig.registry)))
    with caplog.at_level(logging.ERROR, logger="gwmon.analytics.mail"):
        service.run_once()
        service.run_once()
    assert len(smtp_server.mails()) == 2  # the good event still went out
    failed = sorted(p.name for p in (rig.workdir / "outbox" / "failed").iterdir())
    assert failed == ["event-broken.json", "event-garbled.json"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(messages) == 2
    assert messages[0].startswith("unreadable outbox event") and "garbled.json" in messages[0]
    assert messages[1].startswith("outbox event broken unusable")


def test_reminders_read_the_alert_book_not_a_copy(
    mail_rig: RigFactory, smtp_server: SmtpServer
) -> None:
    # The mail stage keeps no copy of an alert: a reminder says what the book says now,
    # and an alert the book shows acknowledged (e.g. by `gwmon alerts ack` on another
    # machine, before its event reached the mail stage) is not reminded of.
    rig: MailRig = mail_rig(smtp=smtp_server, reminder=3600)
    service = rig.build()
    alert = make_alert(rig.registry)
    rig.acknowledger.add(alert)
    service.alert_event(opened(alert))
    service.run_once()
    rig.acknowledger.add(alert.with_changes(value=57.3))  # a new peak, as the book has it
    rig.clock.advance(3600)
    service.run_once()
    reminder = sent_to(smtp_server.mails(), LEIPZIG)[1].message
    assert reminder["Subject"].startswith(
        "[gwmon] ERINNERUNG: SCHWELLENWERT ÜBERSCHRITTEN Nitrat 57,3 mg/L"
    )
    rig.acknowledger.add(
        alert.with_changes(state=AlertState.ACKNOWLEDGED, acked_by="Leitwarte", acked_at=T0)
    )
    rig.clock.advance(3600)
    service.run_once()
    assert len(sent_to(smtp_server.mails(), LEIPZIG)) == 2
    state = json.loads((rig.workdir / "outbox" / "alerts.json").read_text())
    assert state == {alert.alert_id: {"next_s": None, "count": 1}}
