"""End to end: firmware-sim's demo breach (LE-07) -> Mosquitto -> `IngestService` ->
analytics -> mail stage -> real SMTP server: exactly the mails the story implies."""

from __future__ import annotations

import shutil
from pathlib import Path

import gwmon_sim
from gwmon.analytics import AlertKind, AlertState, build_observer
from gwmon.analytics.mail import build_mail_service
from gwmon.ingest import IngestService, load_config, load_registry
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from gwmon.storage import InfluxClient
from ingest_helpers import running_service, wait_for_count, write_config
from mail.mail_helpers import LEIPZIG, OPS, ROUTES_TOML, SmtpServer, sent_to, text_of

MAIL = (
    """
[analytics]
state_dir = "state"
stale_startup_grace_s = 3600.0

[dashboards]
grafana_url = "https://grafana.example.org"

[mail]
enabled = true
from_address = "gwmon <gwmon@wasserwerke.example.org>"
smtp_host = "127.0.0.1"
smtp_port = {port}
smtp_security = "none"
ack_bind_port = 0
token_secret = "e2e-secret"
outbox_dir = "outbox"
digest_window_s = 3600.0
reminder_interval_s = 0.0
operators = ["leitwarte@wasserwerke.example.org"]
maintenance = ["instandhaltung@wasserwerke.example.org"]
"""
    + ROUTES_TOML
)


def test_demo_breach_produces_exactly_the_expected_mails(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    influx_db: InfluxDatabase,
    smtp_server: SmtpServer,
    demo_registry: Path,
) -> None:
    config_path = write_config(
        tmp_path, mosquitto, influx_db, extra=MAIL.format(port=smtp_server.port)
    )
    config = load_config(config_path)
    registry = load_registry(config.registry_path)
    store = InfluxClient(config.influxdb)
    observer = build_observer(config, registry, store)
    mail = build_mail_service(config, registry, store, observer.book)
    observer.add_listener(mail)
    mail.start(sender_thread=False)  # composed below, after the whole story arrived
    try:
        fleet = gwmon_sim.Fleet(
            gwmon_sim.load_scenario("wertvoll-demo"),
            demo_registry,
            mosquitto.url,
            probes=["LE-07"],
        )
        with running_service(config_path, observers=[observer]) as service:
            assert isinstance(service, IngestService)
            fleet.run()
            sent = [
                r for r in fleet.truth() if r.quantity == "nitrate" and r.sent_value is not None
            ]
            wait_for_count(influx_db, "reading", len(sent), where="quantity = 'nitrate'")
        # The ingest stopped: every batch went through analytics into the outbox.
        alerts = {(a.kind, a.state) for a in observer.alerts() if a.probe == "LE-07"}
        assert alerts == {
            (AlertKind.WARNING, AlertState.RESOLVED),
            (AlertKind.BREACH, AlertState.RESOLVED),
        }
        breach = next(a for a in observer.alerts() if a.kind == AlertKind.BREACH)
        assert breach.value is not None
        mail.run_once()
        mails = smtp_server.mails()
        assert [m.rcpt_tos for m in mails] == [LEIPZIG, OPS]
        peak = f"{breach.value:.1f}".replace(".", ",")
        (stab,) = sent_to(mails, LEIPZIG)
        assert stab.message["Subject"] == (
            "[gwmon] SAMMELMELDUNG: 4 Meldungen für Stabsstelle Umwelt Leipzig – u. a. "
            f"SCHWELLENWERT ÜBERSCHRITTEN Nitrat {peak} mg/L LE-07"
        )
        (ops,) = sent_to(mails, OPS)
        assert ops.message["Subject"] == (
            "[gwmon] SAMMELMELDUNG: 4 Meldungen für Betreiber der Wasserwerke – u. a. "
            f"SCHWELLENWERT ÜBERSCHRITTEN Nitrat {peak} mg/L LE-07"
        )
        plain = text_of(stab.message, "plain")
        assert (
            "BEENDET: SCHWELLENWERT ÜBERSCHRITTEN Nitrat – Messstelle LE-07 (Leipzig-Probstheida)"
            in plain
        )
        assert "BEENDET: WARNUNG Nitrat – Messstelle LE-07 (Leipzig-Probstheida)" in plain
        assert "1× ausgelöst, 1× beendet. Stand: beendet." in plain  # no flapping hint
        pngs = [p for p in stab.message.walk() if p.get_content_type() == "image/png"]
        assert len(pngs) == 1  # one chart per probe
        assert mail.stats.events_accepted == 4
        # Nothing more: a second cycle and a restart of the mail stage send nothing.
        mail.run_once()
        mail.stop()
        again = build_mail_service(config, registry, store, observer.book)
        again.start(sender_thread=False)
        again.run_once()
        again.stop()
        assert len(smtp_server.mails()) == 2
    finally:
        mail.stop()
        observer.close()
        store.close()
        shutil.rmtree(tmp_path / "state", ignore_errors=True)
