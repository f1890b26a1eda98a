"""Delivery of one finished message: SMTP (verified TLS) or a local maildir."""

from __future__ import annotations

import logging
import mailbox
import smtplib
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ._settings import MailSettings

logger = logging.getLogger("gwmon.analytics.mail.transport")


class DeliveryError(Exception):
    """A delivery failed. `retryable`: the same message may go through later."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Transport(Protocol):
    """Hands one message to the next hop. Returns only when it was accepted; raises
    DeliveryError otherwise. Called from the sender thread only."""

    def send(self, message: bytes, sender: str, recipients: Sequence[str]) -> None: ...


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verifying client context: certificate chain and host name are always checked."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class SmtpTransport:
    """SMTP submission with STARTTLS or implicit TLS (verified), optional AUTH, timeouts."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._context = (
            tls_context(settings.smtp_ca_file) if settings.smtp_security != "none" else None
        )
        password = settings.resolved_password()
        self._password = password.get_secret_value() if password is not None else None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_security == "tls":
            return smtplib.SMTP_SSL(
                s.smtp_host, s.port, timeout=s.smtp_timeout_s, context=self._context
            )
        client = smtplib.SMTP(s.smtp_host, s.port, timeout=s.smtp_timeout_s)
        try:
            client.ehlo()
            if s.smtp_security == "starttls":
                if not client.has_extn("starttls"):
                    msg = f"SMTP server {s.smtp_host}:{s.port} does not offer STARTTLS"
                    raise DeliveryError(msg, retryable=True)
                client.starttls(context=self._context)
                client.ehlo()
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: bytes, sender: str, recipients: Sequence[str]) -> None:
        s = self.settings
        where = f"{s.smtp_host}:{s.port}"
        try:
            client = self._connect()
            try:
                if s.smtp_username and self._password is not None:
                    client.login(s.smtp_username, self._password)
                refused = client.sendmail(sender, list(recipients), message)
                if refused:
                    # The others got it: retrying would mail them twice. Loud instead.
                    logger.error(
                        "SMTP %s refused some recipients (others got the mail): %s",
                        where,
                        {addr: code for addr, (code, _) in refused.items()},
                    )
            finally:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        except ssl.SSLCertVerificationError as exc:
            msg = (
                f"TLS certificate of {where} not accepted: {exc.verify_message}; "
                "set mail.smtp_ca_file to the CA that signed it, or smtp_host to the name "
                "in the certificate"
            )
            raise DeliveryError(msg, retryable=True) from None
        except smtplib.SMTPAuthenticationError as exc:
            msg = (
                f"SMTP {where} refused the login ({exc.smtp_code}); "
                "check mail.smtp_username and smtp_password"
            )
            raise DeliveryError(msg, retryable=True) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {addr: code for addr, (code, _) in exc.recipients.items()}
            permanent = all(500 <= code < 600 for code in codes.values())
            raise DeliveryError(
                f"SMTP {where} refused all recipients: {codes}", retryable=not permanent
            ) from None
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            msg = f"SMTP {where} answered {exc.smtp_code} {exc.smtp_error!r}"
            raise DeliveryError(msg, retryable=not permanent) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"SMTP {where} unreachable: {type(exc).__name__}: {exc}", retryable=True
            ) from None


class MaildirTransport:
    """Delivers into a local maildir (demo, tests, or a local MDA's folder)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: bytes, sender: str, recipients: Sequence[str]) -> None:
        try:
            box = mailbox.Maildir(self.path, create=True)
            entry = mailbox.MaildirMessage(message)
            entry.set_subdir("new")
            box.add(entry)
        except OSError as exc:
            raise DeliveryError(f"maildir {self.path}: {exc.strerror}", retryable=True) from None


def make_transport(settings: MailSettings) -> Transport:
    if settings.transport == "maildir":
        return MaildirTransport(settings.maildir)
    return SmtpTransport(settings)
