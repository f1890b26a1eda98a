"""End to end: firmware-sim's "faults" scenario -> Mosquitto -> gwmon ingest with the
analytics observer -> InfluxDB, then every dashboard query with Grafana's macros, checked
against the simulator's ground truth (not against fixed numbers: the physics is the
simulator's business; exact values are asserted on the contract fixture elsewhere)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import gwmon_sim
from gwmon.analytics import build_observer
from gwmon.dashboards import (
    DashboardsSettings,
    TemplateVariable,
    TimeRange,
    build_dashboards,
    calculate_interval,
    interpolate,
    iter_queries,
)
from gwmon.ingest import GwmonConfig, Registry, load_config, load_registry
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from gwmon.storage import InfluxClient
from gwmon_sim import TruthRow
from ingest_helpers import running_service, wait_until, write_config

pytestmark = pytest.mark.servers


def _variables(probes: list[str], probe: str) -> dict[str, TemplateVariable]:
    return {
        "municipality": TemplateVariable(
            "municipality", [], multi=True, include_all=True, all_selected=True, all_value=".*"
        ),
        "site": TemplateVariable(
            "site", [], multi=True, include_all=True, all_selected=True, all_value=".*"
        ),
        "probe": TemplateVariable("probe", [probe], options=probes),
    }


@dataclass
class Fed:
    """What the faults scenario sent, after gwmon stored it."""

    truth: list[TruthRow]
    start_s: int
    probes: list[str]


def _feed(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> tuple[Fed, GwmonConfig, Registry]:
    config_path = write_config(
        tmp_path,
        mosquitto,
        influx_db,
        extra=f'\n[analytics]\nstate_dir = "{tmp_path / "analytics"}"\n',
    )
    config = load_config(config_path)
    registry = load_registry(config.registry_path)
    store = InfluxClient(config.influxdb)
    observer = build_observer(config, registry, store)
    scenario = gwmon_sim.load_scenario("faults")
    start_s = (int(time.time()) // 3600 - 3 * 24 - 1) * 3600
    with running_service(config_path, observers=[observer]):
        fleet = gwmon_sim.Fleet(scenario, config.registry_path, mosquitto.url, start_s=start_s)
        fleet.run(drain_timeout_s=60)
        truth = fleet.truth()
        acked_seq = {
            (row.probe_id, row.t_stamp)
            for row in truth
            if row.quantity == "seq" and row.delivery == "acked" and "malformed" not in row.faults
        }
        wait_until(
            lambda: influx_db.count("sequence", field="seq") >= len(acked_seq),
            timeout=60,
            what=f"{len(acked_seq)} sequence points",
        )
    store.close()
    assert influx_db.count("sequence", field="seq") == len(acked_seq)
    return Fed(truth, start_s, sorted(fleet.probe_ids)), config, registry


class Panels:
    """The dashboards' queries run as Grafana would over the fed time range."""

    def __init__(self, fed: Fed, registry: Registry, client: InfluxClient) -> None:
        settings = DashboardsSettings()
        self.dashboards = {d["uid"]: d for d in build_dashboards(settings, registry).values()}
        self.time_range = TimeRange.from_seconds(fed.start_s - 3600, time.time() + 60)
        self.interval_ms = calculate_interval(
            self.time_range, max_data_points=1000, min_interval_ms=60_000
        )
        self.probes = fed.probes
        self.client = client

    def run(self, query: str, probe: str = "TH-04") -> list[list[dict[str, Any]]]:
        text = interpolate(
            query,
            time_range=self.time_range,
            interval_ms=self.interval_ms,
            variables=_variables(self.probes, probe),
        )
        return [self.client.query(s, epoch="s") for s in text.split(";") if s.strip()]

    def panel(self, uid: str, title: str, ref: str = "A") -> str:
        return str(
            next(
                t["query"]
                for p in self.dashboards[uid]["panels"]
                if p["title"].startswith(title)
                for t in p["targets"]
                if t["refId"] == ref
            )
        )


def _assert_loss_and_rejections(panels: Panels, truth: list[TruthRow]) -> None:
    """Data quality: loss accounting equals the acknowledged sequence numbers."""
    loss = {
        (s["tags"]["probe"]): s["values"][0][1:]
        for s in panels.run(panels.panel("gwmon-quality", "Verlust"))[0]
    }
    seqs: dict[str, set[int]] = defaultdict(set)
    for row in truth:
        if row.quantity == "seq" and row.delivery == "acked" and "malformed" not in row.faults:
            seqs[row.probe_id].add(row.seq)
    for probe, numbers in seqs.items():
        assert loss[probe] == [
            len(numbers),
            max(numbers) - min(numbers) + 1,
            max(numbers) - min(numbers) + 1 - len(numbers),
        ]
    reasons = {
        s["tags"]["reason"] for s in panels.run(panels.panel("gwmon-quality", "Abgewiesen nach"))[0]
    }
    assert "unknown_unit" in reasons


def _assert_open_alerts(panels: Panels, client: InfluxClient) -> None:
    """Open alerts table = an independent reading of the alert measurement."""
    table = {
        (r[0], s["tags"]["probe"], s["tags"]["kind"])
        for s in panels.run(panels.panel("gwmon-overview", "Offene Alarme"))[0]
        for r in [[v[1]] for v in s["values"]]
    }
    latest: dict[str, tuple[int, str, str, str]] = {}
    for s in client.query(
        'SELECT "alert_id", "state" FROM "alert" GROUP BY "probe", "kind"', epoch="ns"
    ):
        for t, alert_id, state in s["values"]:
            if alert_id not in latest or t >= latest[alert_id][0]:
                latest[alert_id] = (t, state, s["tags"]["probe"], s["tags"]["kind"])
    expected = {
        (aid, probe, kind) for aid, (_, state, probe, kind) in latest.items() if state != "resolved"
    }
    assert table == expected
    assert table, "the faults scenario leaves open nitrate warnings"
    assert any(kind == "breach" for _, (_, _, probe, kind) in latest.items() if probe == "TH-04")


def _assert_qc_spike(panels: Panels, truth: list[TruthRow]) -> None:
    """QC: the injected spike on LE-01 is flagged and shown as a QC point."""
    qc = panels.run(panels.panel("gwmon-probe", "Nitrat", "B"), probe="LE-01")[0]
    spike_times = {
        row.t_stamp
        for row in truth
        if row.probe_id == "LE-01" and "spike" in row.faults and row.quantity == "nitrate"
    }
    assert len(spike_times) == 1
    assert {v[0] for v in qc[0]["values"]} >= spike_times


def test_faults_scenario_through_ingest_and_analytics_feeds_every_panel(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    fed, config, registry = _feed(tmp_path, mosquitto, influx_db)
    truth = fed.truth
    client = InfluxClient(config.influxdb)
    panels = Panels(fed, registry, client)

    # Every statement of every query is valid InfluxQL on this data.
    statements = 0
    for dashboard in panels.dashboards.values():
        for query in iter_queries(dashboard):
            statements += len(panels.run(query.query))
    assert statements > 60

    sent: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in truth:
        if (
            row.quantity == "nitrate"
            and row.record == "nitrate"
            and row.delivery == "acked"
            and row.sent_value is not None
        ):
            sent[row.probe_id].append((row.t_stamp, row.sent_value))

    # Drilldown: the nitrate-episode probe's peak is what the simulator sent.
    series = panels.run(panels.panel("gwmon-probe", "Nitrat"))[0][0]["values"]
    assert max(v for _, v in series) == pytest.approx(max(v for _, v in sent["TH-04"]), abs=1e-9)
    assert max(v for _, v in series) > 50.0

    # Overview: current nitrate per probe = the last value sent.
    last = {
        s["tags"]["probe"]: s["values"][0][1]
        for s in panels.run(panels.panel("gwmon-overview", "Nitrat aktuell"))[0]
    }
    for probe, values in sent.items():
        assert last[probe] == pytest.approx(max(values)[1], abs=1e-9), probe

    _assert_loss_and_rejections(panels, truth)
    _assert_open_alerts(panels, client)
    _assert_qc_spike(panels, truth)
    client.close()
