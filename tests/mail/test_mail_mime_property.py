"""Whatever text an alert carries (sites, municipalities, messages from the registry and
analytics), the mail is valid MIME whose subject and bodies say exactly that text."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import html
import logging
import tempfile
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.analytics import Alert, AlertEvent, AlertEventType, AlertKind, AlertState, Severity
from gwmon.analytics.mail import MailService, MailSettings
from gwmon.ingest import Registry

T0 = dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.UTC)  # summer: MESZ
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=60) | st.lists(
    st.sampled_from(["Leipzig", "Nord", "Brunnen", "Straße", "–", "(alt)", "Probstheida"]),
    min_size=1,
    max_size=12,
).map(" ".join)  # long, mostly ASCII: exercises header folding


class Capture:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, str, list[str]]] = []

    def send(self, message: bytes, sender: str, recipients: Sequence[str]) -> None:
        self.sent.append((message, sender, list(recipients)))


class NoAck:
    """An alert book that knows no alert."""

    def get(self, alert_id: str) -> Alert | None:
        return None

    def open_alerts(self) -> list[Alert]:
        return []

    def acknowledge(
        self, alert_id: str, *, by: str, comment: str | None = None, at: dt.datetime | None = None
    ) -> Alert:
        raise KeyError(alert_id)


def one_line(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


@settings(max_examples=30, deadline=None)
@given(
    site=TEXT,
    municipality=TEXT,
    message=st.text(max_size=300),
    value=st.floats(0, 999.94, allow_nan=False),
    lang=st.sampled_from(["de", "en"]),
)
def test_any_alert_text_gives_valid_mime(
    site: str, municipality: str, message: str, value: float, lang: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mail_settings = MailSettings.model_validate(
            {
                "enabled": True,
                "language": lang,
                "outbox_dir": str(Path(tmp) / "outbox"),
                "operators": ["ops@example.org"],
                "maintenance": ["maint@example.org"],
                "routes": {municipality: {"stabsstelle": "S", "recipients": ["s@example.org"]}},
                "digest_window_s": 0,
            }
        )
        capture = Capture()
        service = MailService(
            mail_settings,
            Registry(probes={}),
            book=NoAck(),
            transport=capture,
            chart_source=None,
            token_secret=b"k" * 32,
            clock=lambda: T0.timestamp() + 600,
        )
        alert = Alert(
            alert_id="P-1-breach-1",
            probe="P-1",
            site=site,
            municipality=municipality,
            kind=AlertKind.BREACH,
            severity=Severity.CRITICAL,
            state=AlertState.OPEN,
            opened_at=T0,
            updated_at=T0,
            value=value,
            threshold=50.0,
            unit="mg/L",
            message=message,
        )
        service.alert_event(AlertEvent("P-1-breach-1:opened", AlertEventType.OPENED, alert))
        service.run_once()
        assert [r for _, _, r in capture.sent] == [["s@example.org"], ["ops@example.org"]]
        shown = f"{value:.1f}".replace(".", ",") if lang == "de" else f"{value:.1f}"
        word = (
            ("SCHWELLENWERT ÜBERSCHRITTEN Nitrat", "Messstelle")
            if lang == "de"
            else ("THRESHOLD EXCEEDED Nitrate", "Probe")
        )
        for data, _, _ in capture.sent:
            assert all(byte < 128 for byte in data)  # 7-bit clean for any relay
            msg = email.message_from_bytes(data, policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            for part in msg.walk():
                assert part.defects == []
            assert msg["Subject"] == one_line(
                f"[gwmon] {word[0]} {shown} mg/L – {word[1]} P-1 ({one_line(site)})"
            )
            plain = msg.get_body(preferencelist=("plain",))
            rich = msg.get_body(preferencelist=("html",))
            assert plain is not None and rich is not None
            shown_site = one_line(site)
            assert f"P-1 – {shown_site}\r\n" in plain.get_content()
            assert html.escape(f"P-1 – {shown_site}") in rich.get_content()


def test_missing_route_at_run_time_mails_operators_and_maintenance(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mail_settings = MailSettings.model_validate(
        {
            "enabled": True,
            "outbox_dir": str(tmp_path / "outbox"),
            "operators": ["ops@example.org"],
            "maintenance": ["maint@example.org"],
            "routes": {"Leipzig": {"stabsstelle": "S", "recipients": ["s@example.org"]}},
        }
    )
    capture = Capture()
    service = MailService(
        mail_settings,
        Registry(probes={}),
        book=NoAck(),
        transport=capture,
        chart_source=None,
        token_secret=b"k" * 32,
        clock=T0.timestamp,
    )
    alert = Alert(
        alert_id="X-1-breach-1",
        probe="X-1",
        site="Nirgendwo-Ost",
        municipality="Nirgendwo",
        kind=AlertKind.BREACH,
        severity=Severity.CRITICAL,
        state=AlertState.OPEN,
        opened_at=T0,
        updated_at=T0,
        value=51.0,
        threshold=50.0,
        unit="mg/L",
        message="",
    )
    with caplog.at_level(logging.ERROR, logger="gwmon.analytics.mail"):
        service.alert_event(AlertEvent("X-1-breach-1:opened", AlertEventType.OPENED, alert))
        service.run_once()
    assert [r for _, _, r in capture.sent] == [["ops@example.org", "maint@example.org"]]
    assert "no [mail.routes] entry for municipality 'Nirgendwo'" in caplog.text
