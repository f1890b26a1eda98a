"""Mail stage against a real SMTP server (aiosmtpd): routing, content, MIME, charts."""

from __future__ import annotations

import datetime as dt
import io
import re
from email.message import EmailMessage

import pytest
from PIL import Image

from gwmon.analytics import MAINTENANCE_KINDS, AlertKind
from gwmon.ingest.devservers import InfluxDatabase
from mail.mail_helpers import (
    LEIPZIG,
    OPS,
    T0,
    MailRig,
    RigFactory,
    SmtpServer,
    make_alert,
    opened,
    resolved,
    sent_to,
    text_of,
    write_series,
)

WURZEN = ["stab@wurzen.example.org"]
MAINT = ["instandhaltung@wasserwerke.example.org"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_valid_mime(msg: EmailMessage) -> None:
    for part in msg.walk():
        assert part.defects == [], (part.get_content_type(), part.defects)
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith(
        "@wasserwerke.example.org>"
    )
    assert msg["Auto-Submitted"] == "auto-generated"


def test_breach_mail_to_leipzig_stabsstelle_and_operators_in_german(
    mail_rig: RigFactory, smtp_server: SmtpServer, influx_db: InfluxDatabase
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server)
    series = [(T0 - dt.timedelta(hours=h), 40.0 + (336 - h) / 30) for h in range(336, -1, -1)]
    write_series(influx_db, rig.registry, "LE-07", "nitrate", series)
    service = rig.build()
    service.alert_event(opened(make_alert(rig.registry)))
    service.run_once()
    mails = smtp_server.mails()
    assert sorted(m.rcpt_tos for m in mails) == sorted([LEIPZIG, OPS])
    (mail,) = sent_to(mails, LEIPZIG)
    assert mail.mail_from == "gwmon@wasserwerke.example.org"
    assert mail.rcpt_tos == LEIPZIG
    msg = mail.message
    assert_valid_mime(msg)
    assert (
        msg["Subject"]
        == "[gwmon] SCHWELLENWERT ÜBERSCHRITTEN Nitrat 54,2 mg/L – Messstelle LE-07 (Leipzig-Probstheida)"
    )
    assert msg["To"] == ", ".join(LEIPZIG)
    plain = text_of(msg, "plain")
    assert "Gemeinde: Leipzig" in plain
    assert "Höchstwert: 54,2 mg/L Nitrat (NO₃)" in plain
    assert "Schwellenwert: 50,0 mg/L (GrwV Anlage 2)" in plain
    assert "Gemessen: 26.11.2026 10:15 MEZ" in plain
    assert "Eingegangen" not in plain  # 40 s lag: not late
    assert "Dauer bisher: 2 Std. 15 Min." in plain
    assert "Grundwasserverordnung (GrwV, Anlage 2)" in plain
    assert "kein Trinkwasser" in plain
    assert "Trinkwassergrenzwert überschritten" not in plain
    assert "Verlauf in Grafana: https://grafana.example.org/d/gwmon-probe?var-probe=LE-07" in plain
    ack = re.search(r"http://127\.0\.0\.1:\d+/ack\?t=\S+", plain)
    assert ack is not None
    # Chart: one inline PNG in a multipart/related with the HTML, referenced by cid.
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    png = images[0].get_content()
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        assert image.size == (700, 300)
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    cid = images[0]["Content-ID"].strip("<>")
    html = text_of(msg, "html")
    assert f'src="cid:{cid}"' in html
    assert "Leipzig-Probstheida" in html
    assert service.stats.mails_sent == 2
    # The operators' copy says the same, with its own acknowledgement link.
    (ops,) = sent_to(mails, OPS)
    assert ops.message["Subject"] == msg["Subject"]
    assert ops.message["To"] == OPS[0]
    assert "Empfänger: Betreiber der Wasserwerke." in text_of(ops.message, "plain")


def test_english_subject_and_body(mail_rig: RigFactory, smtp_server: SmtpServer) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server, language="en")
    service = rig.build()
    service.alert_event(opened(make_alert(rig.registry)))
    service.run_once()
    (mail,) = sent_to(smtp_server.mails(), LEIPZIG)
    msg = mail.message
    assert (
        msg["Subject"]
        == "[gwmon] THRESHOLD EXCEEDED Nitrate 54.2 mg/L – Probe LE-07 (Leipzig-Probstheida)"
    )
    plain = text_of(msg, "plain")
    assert "Measured: 2026-11-26 10:15 CET" in plain
    assert "Duration so far: 2 h 15 min" in plain
    assert "not drinking water" in plain
    # No data in InfluxDB for this probe: said, not silently dropped.
    assert "No chart: no data available." in plain
    # A digest in English; long enough that the subject is folded, and read back exactly.
    rig.clock.advance(10)
    for probe in ("LE-01", "LE-02"):
        service.alert_event(opened(make_alert(rig.registry, probe, AlertKind.WARNING, 39.0)))
    service.run_once()
    (_, digest) = sent_to(smtp_server.mails(), LEIPZIG)
    assert digest.message["Subject"] == (
        "[gwmon] DIGEST: 2 notices for Stabsstelle Umwelt Leipzig – incl. "
        "WARNING Nitrate 39.0 mg/L LE-01"
    )
    assert [p for p in msg.walk() if p.get_content_type() == "image/png"] == []


@pytest.mark.parametrize(
    ("probe", "kind", "value", "recipients", "subject"),
    [
        (
            "WU-02",
            AlertKind.WARNING,
            38.14,
            WURZEN,
            "[gwmon] WARNUNG Nitrat 38,1 mg/L – Messstelle WU-02 (Wurzen-Roitzsch)",
        ),
        (
            "BE-01",
            AlertKind.LEVEL_LOW,
            110.234,
            ["stab@bennewitz.example.invalid"],
            "[gwmon] NIEDRIGER GRUNDWASSERSTAND 110,23 m NHN – Messstelle BE-01 (Bennewitz)",
        ),
        (
            "TH-02",
            AlertKind.LEVEL_HIGH,
            114.5,
            ["stab@thallwitz.example.invalid"],
            "[gwmon] HOHER GRUNDWASSERSTAND 114,50 m NHN – Messstelle TH-02 (Thallwitz-Canitz)",
        ),
        (
            "LO-01",
            AlertKind.TREND,
            None,
            ["stab@lossatal.example.invalid"],
            "[gwmon] TREND Nitrat steigend – Messstelle LO-01 (Lossatal-Falkenhain)",
        ),
        (
            "LE-03",
            AlertKind.SENSOR_FAULT,
            99.0,
            MAINT,
            "[gwmon] SENSORSTÖRUNG – Messstelle LE-03 (Leipzig-Mölkau)",
        ),
        (
            "WU-04",
            AlertKind.STALE,
            None,
            MAINT,
            "[gwmon] KEINE DATEN – Messstelle WU-04 (Wurzen-Kühren)",
        ),
    ],
)
def test_routing_per_municipality_and_kind(
    mail_rig: RigFactory,
    smtp_server: SmtpServer,
    probe: str,
    kind: AlertKind,
    value: float | None,
    recipients: list[str],
    subject: str,
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server)
    service = rig.build()
    service.alert_event(opened(make_alert(rig.registry, probe, kind, value)))
    service.run_once()
    mails = smtp_server.mails()
    expected = [recipients] if kind in MAINTENANCE_KINDS else sorted([recipients, OPS])
    assert sorted(m.rcpt_tos for m in mails) == expected
    for mail in mails:
        assert mail.message["Subject"] == subject
        assert_valid_mime(mail.message)


def test_late_arrival_is_shown(mail_rig: RigFactory, smtp_server: SmtpServer) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server)
    service = rig.build()
    alert = make_alert(rig.registry, arrival_at=T0 + dt.timedelta(hours=5, minutes=2))
    service.alert_event(opened(alert))
    service.run_once()
    plain = text_of(sent_to(smtp_server.mails(), LEIPZIG)[0].message, "plain")
    assert "Eingegangen: 26.11.2026 15:17 MEZ (verspätet übertragen)" in plain


def test_resolved_mail(mail_rig: RigFactory, smtp_server: SmtpServer) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server)
    service = rig.build()
    alert = make_alert(rig.registry)
    service.alert_event(opened(alert))
    service.run_once()
    rig.clock.advance(3600)
    service.alert_event(resolved(alert, T0 + dt.timedelta(hours=3, minutes=5)))
    service.run_once()
    mails = sent_to(smtp_server.mails(), LEIPZIG)
    assert len(mails) == 2
    assert len(sent_to(smtp_server.mails(), OPS)) == 2
    msg = mails[1].message
    assert_valid_mime(msg)
    assert (
        msg["Subject"]
        == "[gwmon] BEENDET: SCHWELLENWERT ÜBERSCHRITTEN Nitrat – Messstelle LE-07 (Leipzig-Probstheida)"
    )
    assert mails[1].rcpt_tos == LEIPZIG
    plain = text_of(msg, "plain")
    assert "Beendet: 26.11.2026 13:20 MEZ" in plain
    assert "Dauer: 3 Std. 5 Min." in plain
    assert "/ack?" not in plain  # nothing left to acknowledge


def test_same_event_twice_and_updates_mail_once(
    mail_rig: RigFactory, smtp_server: SmtpServer
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server)
    service = rig.build()
    alert = make_alert(rig.registry)
    service.alert_event(opened(alert))
    service.alert_event(opened(alert))
    service.run_once()
    service.alert_event(opened(alert))  # after it was mailed
    service.run_once()
    assert sorted(m.rcpt_tos for m in smtp_server.mails()) == sorted([LEIPZIG, OPS])
    assert service.stats.events_duplicate == 2


def test_digest_groups_a_burst_for_one_stabsstelle(
    mail_rig: RigFactory, smtp_server: SmtpServer
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server, window=300)
    service = rig.build()
    first = make_alert(rig.registry, "LE-07")
    service.alert_event(opened(first))
    service.run_once()  # the first goes out at once
    burst = [
        make_alert(rig.registry, p, AlertKind.WARNING, 39.0) for p in ("LE-01", "LE-02", "LE-03")
    ]
    for alert in burst:
        rig.clock.advance(20)
        service.alert_event(opened(alert))
        service.run_once()
    wurzen = make_alert(rig.registry, "WU-01", AlertKind.WARNING, 38.0)
    service.alert_event(opened(wurzen))
    service.run_once()  # another Stabsstelle: its own, immediate mail
    assert [m.rcpt_tos for m in smtp_server.mails()] == [LEIPZIG, OPS, WURZEN]
    rig.clock.advance(300)
    service.run_once()
    mails = smtp_server.mails()
    assert len(mails) == 5
    assert [m.rcpt_tos for m in mails[3:]] == [LEIPZIG, OPS]
    digest = mails[3].message
    assert_valid_mime(digest)
    assert digest["Subject"] == (
        "[gwmon] SAMMELMELDUNG: 3 Meldungen für Stabsstelle Umwelt Leipzig – u. a. "
        "WARNUNG Nitrat 39,0 mg/L LE-03"
    )
    plain = text_of(digest, "plain")
    for probe in ("LE-01", "LE-02", "LE-03"):
        assert f"WARNUNG Nitrat 39,0 mg/L – Messstelle {probe}" in plain
    assert "LE-07" not in plain
    # The operators' digest holds the whole region's burst, Wurzen included.
    assert mails[4].message["Subject"] == (
        "[gwmon] SAMMELMELDUNG: 4 Meldungen für Betreiber der Wasserwerke – u. a. "
        "WARNUNG Nitrat 39,0 mg/L LE-03"
    )


def test_flapping_probe_does_not_mail_per_flap(
    mail_rig: RigFactory, smtp_server: SmtpServer
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server, window=600)
    service = rig.build()
    for n in range(1, 11):
        alert = make_alert(rig.registry, n=n, opened_at=T0 + dt.timedelta(minutes=10 * n))
        service.alert_event(opened(alert))
        service.run_once()
        rig.clock.advance(30)
        service.alert_event(resolved(alert, T0 + dt.timedelta(minutes=10 * n + 5)))
        service.run_once()
        rig.clock.advance(30)
    # 10 openings and 10 closings within 10 minutes: the first opening, then one digest.
    rig.clock.advance(600)
    service.run_once()
    mails = sent_to(smtp_server.mails(), LEIPZIG)
    assert len(mails) == 2
    assert len(sent_to(smtp_server.mails(), OPS)) == 2
    assert (
        mails[0]
        .message["Subject"]
        .startswith("[gwmon] SCHWELLENWERT ÜBERSCHRITTEN Nitrat 54,2 mg/L")
    )
    digest = mails[1].message
    assert digest["Subject"].startswith(
        "[gwmon] SAMMELMELDUNG: 19 Meldungen für Stabsstelle Umwelt Leipzig"
    )
    plain = text_of(digest, "plain")
    assert "9× ausgelöst, 10× beendet. Der Wert schwankt um die Schwelle." in plain
    assert plain.count("BEENDET: SCHWELLENWERT ÜBERSCHRITTEN Nitrat – Messstelle LE-07") == 1


def test_rate_limit_per_recipient_turns_excess_into_a_digest(
    mail_rig: RigFactory, smtp_server: SmtpServer
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server, rate=2)
    service = rig.build()
    for n, probe in enumerate(("LE-01", "LE-02", "LE-03", "LE-04", "LE-05"), 1):
        service.alert_event(opened(make_alert(rig.registry, probe, n=n)))
        service.run_once()
        rig.clock.advance(60)
    assert len(sent_to(smtp_server.mails(), LEIPZIG)) == 2
    rig.clock.advance(3600)
    service.run_once()
    mails = sent_to(smtp_server.mails(), LEIPZIG)
    assert len(mails) == 3
    assert mails[2].message["Subject"].startswith("[gwmon] SAMMELMELDUNG: 3 Meldungen")
    assert len(sent_to(smtp_server.mails(), OPS)) == 3


def test_trend_and_stale_bodies(mail_rig: RigFactory, smtp_server: SmtpServer) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server)
    service = rig.build()
    trend = make_alert(rig.registry, "LO-01", AlertKind.TREND, 1.234)
    stale = make_alert(rig.registry, "WU-04", AlertKind.STALE, 5 * 3600.0 + 120)
    stale = stale.with_changes(unit="s", threshold=3 * 3600.0)
    trend = trend.with_changes(unit="mg/L/a", threshold=0.0)
    service.alert_event(opened(trend))
    service.alert_event(opened(stale))
    service.run_once()
    (trend_mail,) = sent_to(smtp_server.mails(), ["stab@lossatal.example.invalid"])
    plain = text_of(trend_mail.message, "plain")
    assert "Anstieg (Sen): +1,23 mg/L pro Jahr Nitrat (NO₃)" in plain
    assert "Schwellenwert" not in plain
    assert "GrwV Anlage 6 (Mann-Kendall, α = 0,05)" in plain
    (stale_mail,) = sent_to(smtp_server.mails(), MAINT)
    plain = text_of(stale_mail.message, "plain")
    assert "Ohne Daten seit: 5 Std. 2 Min." in plain
    assert "Gilt als still nach: 3 Std." in plain
    assert "Technische Angabe: stale at WU-04" in plain
