"""The alert book's read/acknowledge interface (`AlertBookView`), as the mail stage uses
it from its own threads: reads never wait for the ingest, listeners see what they are
told about, and the book of the service and the one on InfluxDB alone behave alike."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.analytics_helpers import NS, T0, Recorder, observer, registry, series, write_config
from gwmon.analytics import AlertBookView, AlertEvent, AlertState, StoredAlertBook
from gwmon.ingest import GwmonConfig
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import InfluxClient

BREACH = "P-1.breach.20251124T170000Z"


@pytest.fixture
def config(tmp_path: Path, influx_db: InfluxDatabase) -> GwmonConfig:
    return write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name)


def test_reads_do_not_wait_while_the_ingest_evaluates(config: GwmonConfig) -> None:
    """The mail sender reads open alerts while the ingest thread holds the observer's
    lock (a long batch): the read returns at once, with the committed alerts."""
    obs = observer(config, registry())
    obs.batch_stored(series([45.0, 50.5, 51.0]))
    held, release = threading.Event(), threading.Event()

    def long_batch() -> None:
        with obs._lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=long_batch)
    holder.start()
    assert held.wait(10)
    seen: list[object] = []
    reader = threading.Thread(
        target=lambda: seen.extend([[a.alert_id for a in obs.open_alerts()], len(obs.alerts())])
    )
    reader.start()
    reader.join(10)
    finished = not reader.is_alive()
    release.set()
    holder.join()
    reader.join()
    obs.close()
    assert finished, "reading the alerts waited for the ingest's lock"
    assert seen == [["P-1.warning.20251124T160000Z", BREACH], 2]


def test_a_listener_finds_the_alert_it_is_told_about(config: GwmonConfig) -> None:
    obs = observer(config, registry())
    found: list[object] = []

    class Asking(Recorder):
        def alert_event(self, event: AlertEvent) -> None:
            super().alert_event(event)
            found.append(obs.book.get(event.alert.alert_id))

    obs.add_listener(Asking())
    obs.batch_stored(series([45.0, 50.5, 51.0]))
    obs.close()
    assert [(a.alert_id, a.state) for a in found] == [  # type: ignore[attr-defined]
        ("P-1.warning.20251124T160000Z", AlertState.OPEN),
        (BREACH, AlertState.OPEN),
    ]


def acknowledge_twice(book: AlertBookView, at: datetime) -> None:
    first = book.acknowledge(BREACH, by="Frau Lehmann", comment="Probe genommen", at=at)
    assert (first.state, first.acked_by, first.ack_comment, first.acked_at) == (
        AlertState.ACKNOWLEDGED,
        "Frau Lehmann",
        "Probe genommen",
        at,
    )
    assert book.acknowledge(BREACH, by="someone else", at=at + timedelta(hours=1)) == first
    assert book.get(BREACH) == first
    assert [a.alert_id for a in book.open_alerts()] == ["P-1.warning.20251124T160000Z", BREACH]
    with pytest.raises(KeyError):
        book.acknowledge("P-1.breach.20200101T000000Z", by="x")
    assert book.get("P-1.breach.20200101T000000Z") is None


def test_the_service_book_and_the_stored_book_acknowledge_alike(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    at = datetime(2026, 1, 5, 8, 15, 30, 500000, tzinfo=UTC)
    service = write_config(tmp_path / "a", influx_url=influx_db.url, database=influx_db.name)
    obs = observer(service, registry())
    obs.batch_stored(series([45.0, 50.5, 51.0]))
    acknowledge_twice(obs.book, at)
    obs.close()
    ours = influx_db.rows(f'SELECT * FROM "alert" WHERE "alert_id" = \'{BREACH}\'')
    # The same alert, opened by another service, acknowledged on InfluxDB alone (CLI).
    other = influx_db.name + "_cli"
    cli = write_config(tmp_path / "b", influx_url=influx_db.url, database=other)
    store = InfluxClient(cli.influxdb)
    store.ensure_database()
    second = observer(cli, registry(), store)
    second.batch_stored(series([45.0, 50.5, 51.0]))
    second.close()
    acknowledge_twice(StoredAlertBook(store), at)
    theirs = InfluxDatabase(influx_db.url, other).rows(
        f'SELECT * FROM "alert" WHERE "alert_id" = \'{BREACH}\''
    )
    assert ours == theirs
    assert [(r["state"], r["time"]) for r in ours] == [
        ("open", (T0 + 3600) * NS),
        ("acknowledged", int(at.timestamp() * 1_000_000) * 1000),
    ]


def test_acknowledging_without_a_time_takes_the_wall_clock(config: GwmonConfig) -> None:
    obs = observer(config, registry())
    obs.batch_stored(series([45.0, 50.5, 51.0]))
    before = datetime.now(tz=UTC)
    acked = obs.book.acknowledge(BREACH, by="Leitwarte")
    obs.close()
    assert acked.acked_at is not None
    assert before <= acked.acked_at <= datetime.now(tz=UTC)


def test_a_point_no_gwmon_wrote_is_skipped_by_listing_and_polling(
    config: GwmonConfig, influx_db: InfluxDatabase
) -> None:
    """An `alert` point without `opened_at_s` (not written by gwmon) is logged and
    skipped: the listing shows the others, and the service's poll goes on."""
    obs = observer(config, registry())
    obs.batch_stored(series([45.0, 50.5, 51.0]))
    foreign = 'alert,probe=P-1,kind=trend,severity=warning alert_id="P-1.trend.20251124T160000Z",state="open"'
    InfluxClient(config.influxdb).write_lines([f"{foreign} {T0 * NS}"])
    obs.tick(T0 + 3 * 3600)
    obs.close()
    assert [a.alert_id for a in StoredAlertBook(InfluxClient(config.influxdb)).alerts()] == [
        "P-1.warning.20251124T160000Z",
        BREACH,
    ]
    assert [a.alert_id for a in obs.open_alerts()] == ["P-1.warning.20251124T160000Z", BREACH]
