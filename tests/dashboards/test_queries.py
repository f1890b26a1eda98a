"""Every query of every dashboard, with Grafana's macros substituted as Grafana does,
runs against the real InfluxDB filled with the simulated month, and returns what an
operator must see."""

from __future__ import annotations

from typing import Any

import pytest

from dashboards.dash_scenario import (
    BELOW_LOQ_FROM_H,
    END_S,
    HOURS,
    PROBES,
    STALE_AFTER_H,
    START_S,
    nitrate,
    t_s,
)
from gwmon.dashboards import (
    DashboardsSettings,
    TemplateVariable,
    TimeRange,
    build_dashboards,
    calculate_interval,
    interpolate,
    iter_queries,
)
from gwmon.ingest import Registry
from gwmon.storage import InfluxClient

RANGE = TimeRange.from_seconds(START_S, END_S)
# The provisioned data source sets timeInterval 1m, Grafana's minimum interval.
INTERVAL_MS = calculate_interval(RANGE, max_data_points=1000, min_interval_ms=60_000)


def variables(
    registry: Registry, probe: str = "LE-07", municipality: list[str] | None = None
) -> dict[str, TemplateVariable]:
    municipalities = sorted(registry.municipalities())
    sites = sorted({p.site for p in registry})
    return {
        "municipality": TemplateVariable(
            "municipality",
            municipality or [],
            multi=True,
            include_all=True,
            all_selected=municipality is None,
            options=municipalities,
        ),
        "site": TemplateVariable(
            "site", [], multi=True, include_all=True, all_selected=True, options=sites
        ),
        "probe": TemplateVariable("probe", [probe]),
    }


@pytest.fixture(scope="module")
def dashboards(registry: Registry) -> dict[str, dict[str, Any]]:
    return {d["uid"]: d for d in build_dashboards(DashboardsSettings(), registry).values()}


def run(
    client: InfluxClient, query: str, registry: Registry, **kwargs: Any
) -> list[list[dict[str, Any]]]:
    text = interpolate(
        query, time_range=RANGE, interval_ms=INTERVAL_MS, variables=variables(registry, **kwargs)
    )
    return [
        client.query(statement, epoch="ms") for statement in text.split(";") if statement.strip()
    ]


def rows(results: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    for series_list in results:
        for serie in series_list:
            for values in serie["values"]:
                out.append(
                    {
                        **(serie.get("tags") or {}),
                        **dict(zip(serie["columns"], values, strict=True)),
                    }
                )
    return out


def target(dashboard: dict[str, Any], title_start: str, ref_id: str = "A") -> str:
    for panel in dashboard["panels"]:
        if panel["title"].startswith(title_start):
            for t in panel["targets"]:
                if t["refId"] == ref_id:
                    return str(t["query"])
    raise AssertionError(f"no panel {title_start!r} target {ref_id}")


def test_interval_for_the_month_is_grafanas_30_minutes() -> None:
    assert INTERVAL_MS == 1_800_000


def test_every_statement_of_every_dashboard_runs_and_returns_data(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    # QC points exist for TH-02 only: run the probe dashboard for both probes.
    empty: list[str] = []
    count = 0
    for dashboard in dashboards.values():
        for query in iter_queries(dashboard):
            for probe in ("LE-07", "TH-02"):
                results = run(month_client, query.query, registry, probe=probe)
                count += len(results)
                if not any(results):
                    empty.append(f"{query.where} probe={probe}")
    assert count > 50
    # Allowed to be empty: QC of level (no level flags), trend of TH-02 (never tested),,
    # QC of nitrate for LE-07 (only TH-02 had a spike), trend of TH-02 (never tested);
    # below-LOQ values of LE-07 and TH-02 (only BE-02 reports "< 0.5": tested below).
    assert sorted(empty) == sorted(
        [
            "panel 1 'Nitrat (mg/L NO₃)' target B probe=LE-07",
            "panel 1 'Nitrat (mg/L NO₃)' target D probe=LE-07",
            "panel 1 'Nitrat (mg/L NO₃)' target D probe=TH-02",
            "panel 2 'Trend Nitrat (GrwV Anlage 6)' target A probe=TH-02",
            "panel 4 'Grundwasserstand (m NHN)' target B probe=LE-07",
            "panel 4 'Grundwasserstand (m NHN)' target B probe=TH-02",
            # The simulated month has no corrections, dips or approvals (issue 12): these
            # queries are proven on their own data in test_probe_records.py.
            *(
                f"{where} probe={probe}"
                for probe in ("LE-07", "TH-02")
                for where in (
                    "panel 1 'Nitrat (mg/L NO₃)' target E",
                    "panel 4 'Grundwasserstand (m NHN)' target E",
                    "panel 4 'Grundwasserstand (m NHN)' target F",
                    "panel 6 'Freigabestufen' target A",
                    "panel 7 'Korrekturen' target A",
                    "annotation Korrekturen",
                    "annotation Wartung und Abstiche",
                )
            ),
        ]
    )


def _map_state(
    dashboard: dict[str, Any], client: InfluxClient, registry: Registry
) -> dict[str, dict[str, Any]]:
    # Grafana: merge both targets' frames, then group by probe (max state, first lat/lon).
    merged: dict[str, dict[str, Any]] = {}
    for ref in ("A", "B"):
        for row in rows(run(client, target(dashboard, "Messstellen", ref), registry)):
            entry = merged.setdefault(row["probe"], {"state": 0})
            for key in ("lat", "lon", "nitrate", "site", "below_loq"):
                if row.get(key) is not None:
                    entry.setdefault(key, row[key])
            entry["state"] = max(entry["state"], row["state"])
    return merged


def test_overview_map_colours_each_probe_by_its_worst_open_alert(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    merged = _map_state(dashboards["gwmon-overview"], month_client, registry)
    assert {probe: entry["state"] for probe, entry in merged.items()} == {
        "LE-01": 0,
        "LE-07": 4,
        "WU-01": 1,
        "TH-02": 2,
        "BE-01": 3,
        "LO-01": 1,
        "BE-02": 0,  # added with the below-LOQ probe of the scenario
    }
    for probe in PROBES:
        assert merged[probe]["lat"] == registry.probes[probe].lat
        assert merged[probe]["lon"] == registry.probes[probe].lon
    assert merged["LE-07"]["nitrate"] == 51.5
    assert merged["BE-01"]["nitrate"] == 30.0 + (STALE_AFTER_H % 2)
    # The tooltip can tell a limit of quantification from a measurement.
    assert (merged["BE-02"]["nitrate"], merged["BE-02"]["below_loq"]) == (0.5, True)
    assert merged["LE-07"].get("below_loq") is None


def test_overview_current_nitrate_per_probe(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    result = run(month_client, target(dashboards["gwmon-overview"], "Nitrat aktuell"), registry)
    last = {serie["tags"]["probe"]: serie["values"][0][1] for serie in result[0]}
    assert last == {
        "LE-01": 12.0,
        "LE-07": 51.5,
        "WU-01": 39.0 + ((HOURS - 1) % 3) * 0.5,
        "TH-02": 20.0,
        "BE-01": 31.0,
        "LO-01": 25.0,
    }


def test_multi_value_municipality_filters_with_grafanas_regex(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    query = target(dashboards["gwmon-overview"], "Nitrat aktuell")
    text = interpolate(
        query,
        time_range=RANGE,
        interval_ms=INTERVAL_MS,
        variables=variables(registry, municipality=["Leipzig", "Wurzen"]),
    )
    assert '"municipality" =~ /^(Leipzig|Wurzen)$/' in text
    result = run(month_client, query, registry, municipality=["Leipzig", "Wurzen"])
    assert sorted(serie["tags"]["probe"] for serie in result[0]) == ["LE-01", "LE-07", "WU-01"]


def test_overview_open_alerts_table(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    table = rows(run(month_client, target(dashboards["gwmon-overview"], "Offene Alarme"), registry))
    got = {
        (r["probe"], r["kind"], r["severity"], r["state"], r["value"], r["opened_ms"])
        for r in table
    }
    assert got == {
        ("LE-07", "breach", "critical", "open", 51.5, t_s(700) * 1000),
        ("LE-07", "warning", "warning", "open", 44.0, t_s(0) * 1000),
        ("WU-01", "warning", "warning", "acknowledged", 40.0, t_s(2) * 1000),
        ("TH-02", "sensor_fault", "warning", "open", 95.0, t_s(300) * 1000),
        ("BE-01", "stale", "warning", "open", 3.0, t_s(STALE_AFTER_H + 3) * 1000),
        ("LO-01", "level_low", "warning", "open", 128.5, t_s(600) * 1000),
    }
    assert {r["alert_id"] for r in table if r["probe"] == "LE-07"} == {
        "LE-07:breach:2",
        "LE-07:warning:1",
    }


def test_overview_freshness_shows_the_silent_probe_oldest(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    table = rows(
        run(month_client, target(dashboards["gwmon-overview"], "Datenaktualität"), registry)
    )
    latest = {r["probe"]: r["time"] for r in table}
    assert latest["BE-01"] == t_s(STALE_AFTER_H) * 1000
    assert min(latest, key=lambda probe: latest[probe]) == "BE-01"
    assert {p: t for p, t in latest.items() if p != "BE-01"} == {
        p: t_s(HOURS - 1) * 1000 for p in PROBES if p != "BE-01"
    }


def test_overview_levels_against_limits(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    result = run(
        month_client, target(dashboards["gwmon-overview"], "Grundwasserstand gegen"), registry
    )
    last = {serie["tags"]["probe"]: serie["values"][0][1] for serie in result[0]}
    assert last["LO-01"] == 128.5 < registry.probes["LO-01"].level_min_m_nhn  # type: ignore[operator]
    overrides = {
        o["matcher"]["options"]: o["properties"]
        for panel in dashboards["gwmon-overview"]["panels"]
        if panel["title"].startswith("Grundwasserstand gegen")
        for o in panel["fieldConfig"]["overrides"]
    }
    steps = next(p["value"]["steps"] for p in overrides["LO-01"] if p["id"] == "thresholds")
    assert [s["value"] for s in steps] == [None, 128.9, 138.1]


def test_probe_nitrate_shows_the_breach_peak_and_qc_points(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    probe = dashboards["gwmon-probe"]
    series = run(month_client, target(probe, "Nitrat"), registry, probe="LE-07")[0][0]["values"]
    assert max(value for _, value in series) == 55.75
    assert len(series) == HOURS  # hourly data, 30-minute buckets, fill(none)
    qc = rows(run(month_client, target(probe, "Nitrat", "B"), registry, probe="TH-02"))
    assert [(r["time"], r["qc_flagged"]) for r in qc] == [(t_s(300) * 1000, 95.0)]


def test_probe_level_limits_come_only_for_the_selected_probe(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    results = run(
        month_client,
        target(dashboards["gwmon-probe"], "Grundwasserstand", "C"),
        registry,
        probe="LE-07",
    )
    non_empty = [r for r in results if r]
    assert len(non_empty) == 1
    values = non_empty[0][0]
    assert values["columns"] == ["time", "level_min", "level_max"]
    assert {tuple(v[1:]) for v in values["values"]} == {(132.8, 142.9)}


def test_probe_annotations_trend_and_status(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    probe = dashboards["gwmon-probe"]
    annotation = probe["annotations"]["list"][0]
    notes = rows(run(month_client, annotation["query"], registry, probe="LE-07"))
    assert [(r["kind"], r["state"]) for r in notes] == [
        ("warning", "open"),
        ("breach", "open"),
        ("breach", "open"),
        ("breach", "resolved"),
        ("breach", "open"),
    ]
    trend = rows(run(month_client, target(probe, "Trend"), registry, probe="LE-07"))
    assert [(r["verdict"], r["slope_per_year"], r["p"], r["n"]) for r in trend] == [
        ("rising", 2.35, 0.012, HOURS)
    ]
    assert [r["alpha"] for r in trend] == [0.05]  # the α the test ran with, not a constant
    status = rows(run(month_client, target(probe, "Sonde"), registry, probe="BE-01"))
    assert [(r["online"], r["firmware"]) for r in status] == [(False, "1.4.2")]


def test_quality_loss_rejections_lag_and_backfill(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    quality = dashboards["gwmon-quality"]
    loss = {
        r["probe"]: (r["received"], r["expected"], r["missing"])
        for r in rows(run(month_client, target(quality, "Verlust"), registry))
    }
    assert loss["LE-01"] == (HOURS - 5, HOURS, 5)
    assert loss["BE-01"] == (STALE_AFTER_H + 1, STALE_AFTER_H + 1, 0)
    assert loss["LE-07"] == (HOURS, HOURS, 0)
    rejected = run(month_client, target(quality, "Abgewiesen nach"), registry)[0]
    assert {s["tags"]["reason"]: sum(v[1] for v in s["values"]) for s in rejected} == {
        "invalid_json": 2,
        "unknown_unit": 1,
    }
    lag = run(month_client, target(quality, "Eingangsverzug"), registry)[0][0]["values"]
    assert max(v[3] for v in lag) == 7200.0
    backfill = run(month_client, target(quality, "Nachgeliefert"), registry)[0]
    assert {s["tags"]["probe"]: sum(v[1] for v in s["values"]) for s in backfill} == {
        "WU-01": 24 * 3
    }
    throughput = run(month_client, target(quality, "Nachrichten pro"), registry)[0][0]
    assert throughput["columns"] == ["time", "received", "stored", "rejected"]
    # 6 messages per hour -> 0.1 per minute in every 30-minute bucket after the first.
    assert {round(v[1], 6) for v in throughput["values"]} == {0.1}
    latest = rows(run(month_client, target(quality, "Zuletzt abgewiesen"), registry))
    assert [r["reason"] for r in latest] == ["unknown_unit", "invalid_json", "invalid_json"]


def test_variable_queries_cascade(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    probe_var = next(
        v for v in dashboards["gwmon-probe"]["templating"]["list"] if v["name"] == "probe"
    )
    result = run(month_client, probe_var["query"], registry, municipality=["Wurzen"])
    assert [v[1] for v in result[0][0]["values"]] == ["WU-01"]


def test_below_loq_values_are_told_apart_from_measurements(
    dashboards: dict[str, dict[str, Any]], month_client: InfluxClient, registry: Registry
) -> None:
    """A value stored with censored = true is a limit of quantification: the probe's
    nitrate line leaves it out (no mean with it), a point series shows it with Grafana's
    unit prefix "< ", and the overview's current nitrate shows "< 0.5" for BE-02."""
    probe = dashboards["gwmon-probe"]
    line = run(month_client, target(probe, "Nitrat"), registry, probe="BE-02")[0][0]["values"]
    assert len(line) == BELOW_LOQ_FROM_H  # hourly values up to h=599, nothing after
    assert line[-1] == [t_s(BELOW_LOQ_FROM_H - 1) * 1000, nitrate("BE-02", BELOW_LOQ_FROM_H - 1)]
    assert min(v for _, v in line) > 0.5
    below = rows(run(month_client, target(probe, "Nitrat", "D"), registry, probe="BE-02"))
    assert [(r["time"], r["below_loq"]) for r in below] == [
        (t_s(h) * 1000, 0.5) for h in range(BELOW_LOQ_FROM_H, HOURS)
    ]
    nitrate_panel = next(p for p in probe["panels"] if p["title"].startswith("Nitrat"))
    override = next(
        o["properties"]
        for o in nitrate_panel["fieldConfig"]["overrides"]
        if o["matcher"] == {"id": "byName", "options": "below_loq"}
    )
    assert {"id": "unit", "value": "prefix:< "} in override
    overview = dashboards["gwmon-overview"]
    measured = run(month_client, target(overview, "Nitrat aktuell", "A"), registry)[0]
    limited = run(month_client, target(overview, "Nitrat aktuell", "B"), registry)[0]
    assert "BE-02" not in {serie["tags"]["probe"] for serie in measured}
    assert [(s["tags"]["probe"], s["values"][0][1]) for s in limited] == [("BE-02", 0.5)]
    gauge = next(p for p in overview["panels"] if p["title"].startswith("Nitrat aktuell"))
    assert {
        "matcher": {"id": "byFrameRefID", "options": "B"},
        "properties": [{"id": "unit", "value": "prefix:< "}],
    } in gauge["fieldConfig"]["overrides"]
