"""`gwmon mail status` (what waits in the outbox) and `gwmon mail test` (check delivery)."""

from __future__ import annotations

import argparse
import email.utils
import json
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from gwmon.config import ConfigError
from gwmon.ingest import load_config

from ._composer import MAIL_POLICY
from ._outbox import Outbox
from ._settings import MailSettings, check_address, load_settings
from ._transport import DeliveryError, make_transport

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


def register_cli(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    config_parent: argparse.ArgumentParser,
) -> None:
    mail = subparsers.add_parser("mail", help="alert e-mail: outbox status, test delivery")
    commands = mail.add_subparsers(dest="mail_command", required=True, metavar="COMMAND")
    status = commands.add_parser(
        "status",
        parents=[config_parent],
        help="where mails go and what waits in the outbox",
    )
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.set_defaults(handler=_status)
    test = commands.add_parser(
        "test",
        parents=[config_parent],
        help="send a test mail now through the configured transport (not via the outbox)",
    )
    test.add_argument(
        "--to",
        action="append",
        metavar="ADDRESS",
        help="recipient (repeatable); default: [mail] operators",
    )
    test.set_defaults(handler=_test)


def _describe_delivery(settings: MailSettings) -> str:
    """One line saying where mails go (`gwmon mail status`, `gwmon mail test`)."""
    if settings.transport == "maildir":
        return f"mail: maildir {Path(settings.maildir).resolve()} (new mails in new/)"
    return f"mail: SMTP {settings.smtp_host}:{settings.port} ({settings.smtp_security})"


def _settings(args: argparse.Namespace) -> MailSettings:
    return load_settings(load_config(args.config))


def _status(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"gwmon: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    outbox = Outbox(settings.outbox_dir, create=False)
    queued = outbox.queued()
    report = {
        "enabled": settings.enabled,
        "delivery": _describe_delivery(settings),
        "outbox": str(settings.outbox_dir),
        "events_waiting": sum(1 for _ in outbox.events.glob("*.json")),
        "mails_queued": len(queued),
        "mails_sent": sum(1 for _ in outbox.sent.glob("*.json")),
        "mails_failed": sum(
            1 for p in outbox.failed.glob("*.json") if not p.name.startswith("event-")
        ),
        "oldest_queued_error": queued[0].last_error if queued else "",
    }
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    print(f"mail {'enabled' if settings.enabled else 'disabled'}; {report['delivery']}")
    print(f"outbox {report['outbox']}")
    print(
        f"  events waiting for a mail: {report['events_waiting']}\n"
        f"  mails waiting for the server: {report['mails_queued']}\n"
        f"  mails sent (kept {settings.keep_sent_days} days): {report['mails_sent']}\n"
        f"  mails refused permanently: {report['mails_failed']}"
    )
    if report["oldest_queued_error"]:
        print(f"  last delivery error: {report['oldest_queued_error']}")
    return 0


def _test(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        recipients = [check_address(a) for a in (args.to or settings.operators)]
    except (ConfigError, ValueError) as exc:
        print(f"gwmon: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not recipients:
        print("gwmon: no recipient: pass --to ADDRESS or set [mail] operators", file=sys.stderr)
        return EXIT_CONFIG
    message = EmailMessage(policy=MAIL_POLICY)
    german = settings.language == "de"
    message["Subject"] = "[gwmon] Testnachricht" if german else "[gwmon] Test message"
    message["From"] = settings.from_address
    message["To"] = ", ".join(recipients)
    message["Date"] = email.utils.format_datetime(datetime.now(UTC))
    message["Message-ID"] = email.utils.make_msgid(
        "gwmon-test", settings.from_addr_spec.rpartition("@")[2]
    )
    message["Auto-Submitted"] = "auto-generated"
    body = (
        "Diese Nachricht prüft den Mailversand von gwmon. Keine Aktion nötig."
        if german
        else "This message checks gwmon's mail delivery. No action needed."
    )
    message.set_content(body, cte="quoted-printable")
    try:
        make_transport(settings).send(
            message.as_bytes(policy=MAIL_POLICY), settings.from_addr_spec, recipients
        )
    except (DeliveryError, ValueError) as exc:
        print(f"gwmon: test mail not delivered: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    print(f"test mail delivered to {', '.join(recipients)} ({_describe_delivery(settings)})")
    return 0
