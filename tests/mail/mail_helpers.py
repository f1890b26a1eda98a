"""Helpers of the mail tests: a real aiosmtpd SMTP server (plain, STARTTLS, implicit TLS),
a test CA made with `cryptography`, alert factories, a fake alert book and clock."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gwmon.analytics import (
    Alert,
    AlertEvent,
    AlertEventType,
    AlertKind,
    AlertState,
    Severity,
)
from gwmon.analytics.mail import MailService, build_mail_service
from gwmon.ingest import Registry, load_config
from gwmon.ingest.devservers import LOOPBACK, InfluxDatabase, free_port
from gwmon.storage import InfluxClient

LEIPZIG = ["stabsstelle@leipzig.example.org", "bereitschaft@leipzig.example.org"]
OPS = ["leitwarte@wasserwerke.example.org"]
SMTP_USER = "gwmon"
SMTP_PASSWORD = "s3cret-smtp-pw"


# -- test CA -----------------------------------------------------------------------------------
@dataclass
class CertAuthority:
    cert_file: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def server_cert(
        self, folder: Path, name: str, *, dns: list[str], ips: list[str]
    ) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        san: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        san += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[0] if dns else ips[0])])
            )
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_file = folder / f"{name}.crt"
        key_file = folder / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_file, key_file


def make_ca(folder: Path, name: str) -> CertAuthority:
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file = folder / f"{name}.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return CertAuthority(cert_file, key, cert)


# -- SMTP server ---------------------------------------------------------------------------------
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class Recorder:
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)
                )
            )
        return "250 OK"

    def mails(self) -> list[Received]:
        with self.lock:
            return list(self.received)


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok)


class SmtpServer:
    """aiosmtpd on a fixed free loopback port; stop() and start() again simulate an outage."""

    def __init__(self, *, mode: str = "plain", cert: tuple[Path, Path] | None = None) -> None:
        self.port = free_port()
        self.recorder = Recorder()
        self.mode = mode
        self.cert = cert
        self.controller: Controller | None = None

    def _context(self) -> ssl.SSLContext:
        assert self.cert is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
        return context

    def start(self) -> None:
        kwargs: dict[str, Any] = {"server_hostname": "mail.test", "ready_timeout": 10}
        if self.mode == "starttls":
            kwargs.update(
                tls_context=self._context(),
                require_starttls=True,
                authenticator=_authenticator,
                auth_require_tls=True,
            )
        elif self.mode == "tls":
            kwargs.update(
                ssl_context=self._context(), authenticator=_authenticator, auth_require_tls=False
            )
        self.controller = Controller(self.recorder, hostname=LOOPBACK, port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def mails(self) -> list[Received]:
        return self.recorder.mails()


# -- alerts ------------------------------------------------------------------------------------
T0 = dt.datetime(2026, 11, 26, 9, 15, tzinfo=dt.UTC)  # 10:15 MEZ


class FakeClock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start.timestamp()
        self.real = False  # True: follow the wall clock (tests of the sender thread)

    def __call__(self) -> float:
        return time.time() if self.real else self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeBook:
    """Stands in for the analytics alert book (gwmon.analytics.AlertBookView): the alerts
    a test added, and the acknowledgements it was asked for."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self.calls: list[tuple[str, str, str | None, dt.datetime]] = []
        self.lock = threading.Lock()

    def add(self, alert: Alert) -> None:
        with self.lock:
            self.alerts[alert.alert_id] = alert

    def get(self, alert_id: str) -> Alert | None:
        with self.lock:
            return self.alerts.get(alert_id)

    def open_alerts(self) -> list[Alert]:
        with self.lock:
            return [a for a in self.alerts.values() if a.state != AlertState.RESOLVED]

    def acknowledge(
        self,
        alert_id: str,
        *,
        by: str,
        comment: str | None = None,
        at: dt.datetime | None = None,
    ) -> Alert:
        with self.lock:
            alert = self.alerts[alert_id]
            moment = at or dt.datetime.now(dt.UTC)
            self.calls.append((alert_id, by, comment, moment))
            acked = alert.with_changes(
                state=AlertState.ACKNOWLEDGED, acked_at=moment, acked_by=by, ack_comment=comment
            )
            self.alerts[alert_id] = acked
            return acked


UNITS = {
    AlertKind.BREACH: ("mg/L", 50.0, Severity.CRITICAL),
    AlertKind.WARNING: ("mg/L", 37.5, Severity.WARNING),
    AlertKind.TREND: ("mg/L", None, Severity.WARNING),
    AlertKind.LEVEL_LOW: ("m", None, Severity.CRITICAL),
    AlertKind.LEVEL_HIGH: ("m", None, Severity.WARNING),
    AlertKind.SENSOR_FAULT: ("mg/L", None, Severity.WARNING),
    AlertKind.STALE: ("", None, Severity.WARNING),
    AlertKind.DRIFT: ("m", 0.03, Severity.WARNING),
}


def make_alert(
    registry: Registry,
    probe: str = "LE-07",
    kind: AlertKind = AlertKind.BREACH,
    value: float | None = 54.2,
    *,
    opened_at: dt.datetime = T0,
    arrival_at: dt.datetime | None = None,
    threshold: float | None = None,
    n: int = 1,
) -> Alert:
    p = registry.probes[probe]
    unit, default_threshold, severity = UNITS[kind]
    return Alert(
        alert_id=f"{probe}-{kind.value}-{n}",
        probe=probe,
        site=p.site,
        municipality=p.municipality,
        kind=kind,
        severity=severity,
        state=AlertState.OPEN,
        opened_at=opened_at,
        updated_at=opened_at,
        value=value,
        threshold=threshold if threshold is not None else default_threshold,
        unit=unit,
        message=f"{kind.value} at {probe}",
        arrival_at=arrival_at if arrival_at is not None else opened_at + dt.timedelta(seconds=40),
    )


def opened(alert: Alert) -> AlertEvent:
    return AlertEvent(f"{alert.alert_id}:opened", AlertEventType.OPENED, alert)


def resolved(alert: Alert, at: dt.datetime) -> AlertEvent:
    closed = alert.with_changes(state=AlertState.RESOLVED, resolved_at=at, updated_at=at)
    return AlertEvent(f"{alert.alert_id}:resolved", AlertEventType.RESOLVED, closed)


# -- the service ---------------------------------------------------------------------------------
# The Stabsstellen of the demo registry's five municipalities, shared by the mail tests.
ROUTES_TOML = """
[mail.routes.Leipzig]
stabsstelle = "Stabsstelle Umwelt Leipzig"
recipients = ["stabsstelle@leipzig.example.org", "bereitschaft@leipzig.example.org"]

[mail.routes.Wurzen]
stabsstelle = "Stabsstelle Wurzen"
recipients = ["stab@wurzen.example.org"]

[mail.routes.Bennewitz]
stabsstelle = "Stabsstelle Bennewitz"
recipients = ["stab@bennewitz.example.invalid"]

[mail.routes.Thallwitz]
stabsstelle = "Stabsstelle Thallwitz"
recipients = ["stab@thallwitz.example.invalid"]

[mail.routes.Lossatal]
stabsstelle = "Stabsstelle Lossatal"
recipients = ["stab@lossatal.example.invalid"]
"""

MAIL_TOML = (
    """
[influxdb]
url = "{influx_url}"
database = "{database}"

[registry]
path = "{registry}"

[dashboards]
grafana_url = "https://grafana.example.org"

[mail]
enabled = true
transport = "{transport}"
maildir = "maildir"
from_address = "gwmon Grundwasser <gwmon@wasserwerke.example.org>"
language = "{language}"
smtp_host = "{smtp_host}"
smtp_port = {smtp_port}
smtp_security = "{security}"
smtp_timeout_s = 5.0
ack_bind_host = "127.0.0.1"
ack_bind_port = 0
token_secret = "test-token-secret"
outbox_dir = "outbox"
retry_initial_s = 1.0
retry_max_s = 8.0
reminder_interval_s = {reminder}
digest_window_s = {window}
rate_limit_per_hour = {rate}
operators = ["leitwarte@wasserwerke.example.org"]
maintenance = ["instandhaltung@wasserwerke.example.org"]
{extra}

"""
    + ROUTES_TOML
)


RigFactory = Callable[..., "MailRig"]


@dataclass
class MailRig:
    """A service plus what it was built from; `build()` makes a new one (a restart)."""

    workdir: Path
    config_file: Path
    registry: Registry
    clock: FakeClock
    acknowledger: FakeBook
    store: InfluxClient
    services: list[MailService] = field(default_factory=list)

    def build(self) -> MailService:
        config = load_config(self.config_file)
        service = build_mail_service(
            config, self.registry, self.store, self.acknowledger, clock=self.clock
        )
        self.services.append(service)
        # The ack endpoint runs; tests drive composing and sending with run_once().
        service.start(sender_thread=False)
        return service


def write_series(
    db: InfluxDatabase,
    registry: Registry,
    probe: str,
    quantity: str,
    values: list[tuple[dt.datetime, float]],
    *,
    censored_at: frozenset[dt.datetime] = frozenset(),
) -> None:
    """Readings as the ingest stores them; at `censored_at` the value is the LOQ of a
    value reported below it (`censored=true`)."""
    p = registry.probes[probe]
    site = p.site.replace(" ", "\\ ").replace(",", "\\,")
    muni = p.municipality.replace(" ", "\\ ")
    lines = [
        f"reading,probe={probe},quantity={quantity},site={site},municipality={muni} value={v!r}"
        f"{',censored=true' if t in censored_at else ''} {int(t.timestamp() * 1e9)}"
        for t, v in values
    ]
    response = requests.post(
        f"{db.url}/write", params={"db": db.name}, data="\n".join(lines).encode(), timeout=10
    )
    assert response.status_code == 204, response.text


def text_of(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def sent_to(mails: list[Received], recipients: list[str]) -> list[Received]:
    """The mails whose envelope went to exactly these recipients, in order."""
    return [mail for mail in mails if mail.rcpt_tos == recipients]
