"""Drift alerts written by `gwmon dips import` (StoredAlertBook) are adopted and
announced by the running service, like trend alerts."""

from __future__ import annotations

from pathlib import Path

from analytics.analytics_helpers import (
    HOUR,
    NS,
    T0,
    Recorder,
    observer,
    probe,
    registry,
    write_config,
)
from gwmon.analytics import AlertKind, AlertState
from gwmon.analytics._book import StoredAlertBook
from gwmon.analytics._lifecycle import DriftCheck
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import InfluxClient


def test_running_service_adopts_and_announces_drift_alerts(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name)
    well = probe("P-1", measuring_point_m_nhn=113.5)
    obs = observer(config, registry(well))
    recorder = Recorder()
    obs.add_listener(recorder)
    client = InfluxClient(config.influxdb)
    book = StoredAlertBook(client, writer="gwmon-dips")
    dip_ns = T0 * NS
    try:
        opened = book.record_drift(well, DriftCheck(dip_ns, -0.045, 0.03), now_ns=dip_ns + NS)
        assert (opened.action, opened.alert is not None) == ("opened", True)
        assert (
            book.record_drift(well, DriftCheck(dip_ns, -0.045, 0.03), now_ns=dip_ns).action is None
        )
        obs.tick(T0 + HOUR)
        aid = "P-1.drift.20251124T160000Z"
        assert recorder.ids() == [f"{aid}:opened"]
        mine = obs.book.get(aid)
        assert mine is not None
        assert (mine.kind, mine.state, mine.value) == (AlertKind.DRIFT, AlertState.OPEN, -0.045)
        later_ns = dip_ns + 24 * HOUR * NS
        closed = book.record_drift(well, DriftCheck(later_ns, 0.01, 0.03), now_ns=later_ns)
        assert closed.action == "resolved"
        obs.tick(T0 + 2 * HOUR)
        assert recorder.ids()[-1].startswith(f"{aid}:resolved")
        resolved = obs.book.get(aid)
        assert resolved is not None and resolved.state == AlertState.RESOLVED
    finally:
        obs.close()
        client.close()
