"""Fixtures of the mail tests: a real aiosmtpd SMTP server (plain and STARTTLS with a test
CA made here) and a mail service built from a real config file (see mail_helpers.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gwmon.ingest import load_config, load_registry
from gwmon.ingest.devservers import LOOPBACK, InfluxDatabase
from gwmon.storage import InfluxClient
from mail.mail_helpers import (
    MAIL_TOML,
    T0,
    CertAuthority,
    FakeBook,
    FakeClock,
    MailRig,
    SmtpServer,
    make_ca,
)


@pytest.fixture(scope="session")
def mail_ca(tmp_path_factory: pytest.TempPathFactory) -> CertAuthority:
    return make_ca(tmp_path_factory.mktemp("ca"), "gwmon-test-ca")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_starttls(mail_ca: CertAuthority, tmp_path: Path) -> Iterator[SmtpServer]:
    cert = mail_ca.server_cert(tmp_path, "smtp", dns=["localhost"], ips=[LOOPBACK])
    server = SmtpServer(mode="starttls", cert=cert)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_rig(
    tmp_path: Path, influx_db: InfluxDatabase, demo_registry: Path
) -> Iterator[Callable[..., MailRig]]:
    rigs: list[MailRig] = []

    def factory(
        *,
        smtp: SmtpServer | None = None,
        transport: str = "smtp",
        language: str = "de",
        security: str = "none",
        reminder: float = 0.0,
        window: float = 0.0,
        rate: int = 1000,
        extra: str = "",
    ) -> MailRig:
        workdir = tmp_path / f"rig{len(rigs)}"
        workdir.mkdir()
        config_file = workdir / "gwmon.toml"
        config_file.write_text(
            MAIL_TOML.format(
                influx_url=influx_db.url,
                database=influx_db.name,
                registry=demo_registry,
                transport=transport,
                language=language,
                smtp_host=LOOPBACK,
                smtp_port=smtp.port if smtp else 2525,
                security=security,
                reminder=reminder,
                window=window,
                rate=rate,
                extra=extra,
            ),
            encoding="utf-8",
        )
        config = load_config(config_file)
        registry = load_registry(config.registry_path)
        rig = MailRig(
            workdir=workdir,
            config_file=config_file,
            registry=registry,
            clock=FakeClock(T0 + dt.timedelta(hours=2, minutes=15)),
            acknowledger=FakeBook(),
            store=InfluxClient(config.influxdb),
        )
        rigs.append(rig)
        return rig

    yield factory
    for rig in rigs:
        for service in rig.services:
            service.stop()
        rig.store.close()
