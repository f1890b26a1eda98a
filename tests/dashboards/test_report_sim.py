"""The monthly report on a month simulated by firmware-sim (wertvoll-demo story) that
went through MQTT, gwmon's ingest and the analytics observer into the real InfluxDB;
expected figures are computed from the simulator's ground truth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import gwmon_sim
from gwmon.analytics import build_observer
from gwmon.dashboards import DashboardsSettings, write_reports
from gwmon.dashboards._report_month import Period, collect
from gwmon.ingest import Registry, load_config, load_registry
from gwmon.ingest.devservers import InfluxDatabase, InfluxServer, MosquittoServer
from gwmon.storage import InfluxClient
from gwmon_sim import TruthRow
from ingest_helpers import running_service, wait_until, write_config

pytestmark = pytest.mark.servers

PROBES = ["LE-01", "LE-07", "TH-02"]
PERIOD = Period.parse("2026-10", "Europe/Berlin")


@dataclass
class SimMonth:
    client: InfluxClient
    registry: Registry
    truth: list[TruthRow]


@pytest.fixture(scope="module")
def sim_month(
    tmp_path_factory: pytest.TempPathFactory, influxdb: InfluxServer
) -> Iterator[SimMonth]:
    tmp = tmp_path_factory.mktemp("sim-month")
    broker = MosquittoServer(tmp / "mosquitto")
    broker.start()
    database: InfluxDatabase = influxdb.new_database("month")
    try:
        config_path = write_config(
            tmp, broker, database, extra=f'\n[analytics]\nstate_dir = "{tmp / "analytics"}"\n'
        )
        config = load_config(config_path)
        registry = load_registry(config.registry_path)
        store = InfluxClient(config.influxdb)
        with running_service(config_path, observers=[build_observer(config, registry, store)]):
            fleet = gwmon_sim.Fleet(
                gwmon_sim.load_scenario("wertvoll-demo"),
                config.registry_path,
                broker.url,
                start_s=int(PERIOD.start_s),
                probes=PROBES,
            )
            fleet.run(drain_timeout_s=120)
            truth = fleet.truth()
            cycles = {
                (r.probe_id, r.t_stamp)
                for r in truth
                if r.quantity == "seq" and r.delivery == "acked"
            }
            wait_until(
                lambda: database.count("sequence", field="seq") >= len(cycles),
                timeout=120,
                what=f"{len(cycles)} cycles stored",
            )
        store.close()
        client = InfluxClient(config.influxdb)
        yield SimMonth(client, registry, truth)
        client.close()
    finally:
        broker.stop()


def _expected(month: SimMonth, probe: str) -> tuple[list[tuple[int, float]], set[int]]:
    flagged = {
        int(row["time"]) // 1_000_000_000
        for row in month.client.query_rows(
            f'SELECT "value" FROM "qc" WHERE "probe" = \'{probe}\' AND "quantity" = \'nitrate\''
        )
    }
    values = sorted(
        (row.t_stamp, row.sent_value)
        for row in month.truth
        if row.probe_id == probe
        and row.quantity == "nitrate"
        and row.delivery == "acked"
        and row.sent_value is not None
        and PERIOD.start_s <= row.t_stamp < PERIOD.end_s
    )
    return [(t, v) for t, v in values if t not in flagged], flagged


def test_breach_probe_month_matches_the_truth(sim_month: SimMonth) -> None:
    report = collect(sim_month.client, sim_month.registry, "Leipzig", PERIOD)
    le07 = next(e for e in report.probes if e.probe.probe_id == "LE-07")
    values, _ = _expected(sim_month, "LE-07")
    assert le07.count == len(values) == 720  # 30 days hourly (the scenario's length)
    numbers = [v for _, v in values]
    assert le07.minimum == pytest.approx(min(numbers), abs=1e-9)
    assert le07.maximum == pytest.approx(max(numbers), abs=1e-9)
    assert le07.mean == pytest.approx(sum(numbers) / len(numbers), rel=1e-12)
    assert max(numbers) > 55  # the scenario's 58 mg/L episode
    # Hourly and gapless: every reading at or above 50 mg/L stands for one hour.
    hours_above = sum(1 for v in numbers if v >= 50.0)
    assert le07.exceedance(PERIOD) == float(hours_above)
    assert 72 <= hours_above <= 5 * 24 + 48
    kinds = {(a.probe, a.kind) for a in report.alerts}
    assert ("LE-07", "breach") in kinds
    assert not any(kind == "breach" for probe, kind in kinds if probe == "LE-01")


def test_spike_is_flagged_and_left_out_of_the_statistics(sim_month: SimMonth) -> None:
    report = collect(sim_month.client, sim_month.registry, "Thallwitz", PERIOD)
    th02 = next(e for e in report.probes if e.probe.probe_id == "TH-02")
    values, flagged = _expected(sim_month, "TH-02")
    spike = [
        r.t_stamp
        for r in sim_month.truth
        if r.probe_id == "TH-02" and "spike" in r.faults and r.quantity == "nitrate"
    ]
    assert len(spike) == 1 and spike[0] in flagged
    assert [t for t, _ in th02.flagged] == [float(t) for t in sorted(flagged)]
    assert th02.maximum == pytest.approx(max(v for _, v in values), abs=1e-9)
    assert th02.maximum is not None and th02.maximum < 50.0
    assert th02.exceedance(PERIOD) == 0.0
    assert ("TH-02", "sensor_fault") in {(a.probe, a.kind) for a in report.alerts}
    assert ("TH-02", "breach") not in {(a.probe, a.kind) for a in report.alerts}


def test_html_report_files_for_the_simulated_month(sim_month: SimMonth, tmp_path: Path) -> None:
    paths = write_reports(
        sim_month.client,
        sim_month.registry,
        DashboardsSettings(),
        month="2026-10",
        municipalities=["Leipzig", "Thallwitz"],
        out_dir=tmp_path,
    )
    text = paths[0].read_text(encoding="utf-8")
    assert paths[0].name == "gwmon-monatsbericht-2026-10-leipzig.html"
    assert '<tr class="breach"><td>LE-07</td>' in text
    assert "Schwellenwert überschritten" in text
