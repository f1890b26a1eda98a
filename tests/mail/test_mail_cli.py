"""`gwmon mail status` and `gwmon mail test`, run through their argparse registration."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from gwmon.analytics.mail.cli import register_cli
from mail.mail_helpers import OPS, MailRig, RigFactory, SmtpServer, make_alert, opened


def run(argv: list[str]) -> int:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", type=Path)
    parser = argparse.ArgumentParser(prog="gwmon")
    register_cli(parser.add_subparsers(dest="command", required=True), parent)
    args = parser.parse_args(argv)
    result = args.handler(args)
    assert isinstance(result, int)
    return result


def test_status_shows_what_waits(mail_rig: RigFactory, capsys: pytest.CaptureFixture[str]) -> None:
    smtp = SmtpServer()  # never started: down
    rig: MailRig = mail_rig(smtp=smtp)
    service = rig.build()
    service.alert_event(opened(make_alert(rig.registry)))
    service.run_once()
    assert run(["mail", "status", "--config", str(rig.config_file), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["enabled"] is True
    assert report["delivery"] == f"mail: SMTP 127.0.0.1:{smtp.port} (none)"
    assert report["events_waiting"] == 0
    assert report["mails_queued"] == 2
    assert report["mails_sent"] == 0
    assert report["mails_failed"] == 0
    assert "Connection refused" in report["oldest_queued_error"]
    assert run(["mail", "status", "--config", str(rig.config_file)]) == 0
    assert "mails waiting for the server: 2" in capsys.readouterr().out


def test_test_mail_is_delivered(
    mail_rig: RigFactory, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server)
    assert run(["mail", "test", "--config", str(rig.config_file)]) == 0
    (mail,) = smtp_server.mails()
    assert mail.rcpt_tos == OPS
    assert mail.message["Subject"] == "[gwmon] Testnachricht"
    assert "test mail delivered to leitwarte@wasserwerke.example.org" in capsys.readouterr().out


def test_test_mail_reports_failure_and_bad_address(
    mail_rig: RigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    rig: MailRig = mail_rig(smtp=SmtpServer())
    assert run(["mail", "test", "--config", str(rig.config_file)]) == 1
    assert "test mail not delivered: SMTP 127.0.0.1" in capsys.readouterr().err
    assert run(["mail", "test", "--config", str(rig.config_file), "--to", "nobody"]) == 2
    assert "'nobody' is not an e-mail address" in capsys.readouterr().err
