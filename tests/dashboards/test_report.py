"""The monthly report on the simulated month in the real InfluxDB."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboards.dash_scenario import BELOW_LOQ_FROM_H, SPIKE_H, nitrate, t_s
from gwmon.dashboards import DashboardsSettings, write_reports
from gwmon.dashboards._report_html import render_html
from gwmon.dashboards._report_month import (
    Period,
    ProbeMonth,
    ReportError,
    collect,
    exceedance_hours,
)
from gwmon.ingest import Registry, load_registry
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import ALERT, READING, FieldValue, InfluxClient, InfluxSettings

# October 2026 in Europe/Berlin: 2026-09-30T22:00Z .. 2026-10-31T23:00Z, i.e. hours 0..742
# of the scenario (hour 743 is already November in Germany).
LOCAL_HOURS = range(743)


def test_period_is_the_local_month() -> None:
    period = Period.parse("2026-10", "Europe/Berlin")
    assert datetime.fromtimestamp(period.start_s, UTC) == datetime(2026, 9, 30, 22, tzinfo=UTC)
    assert datetime.fromtimestamp(period.end_s, UTC) == datetime(2026, 10, 31, 23, tzinfo=UTC)
    december = Period.parse("2026-12", "UTC")
    assert datetime.fromtimestamp(december.end_s, UTC) == datetime(2027, 1, 1, tzinfo=UTC)
    for bad in ("2026-13", "2026-1", "Oktober"):
        with pytest.raises(ReportError, match="is not YYYY-MM"):
            Period.parse(bad, "UTC")


def test_exceedance_hours_step_hold_capped_by_interval_and_period_end() -> None:
    hour = 3600.0
    times = [0.0, hour, 2 * hour, 10 * hour, 11 * hour]
    values = [49.9, 50.0, 51.0, 60.0, 55.0]
    # 50.0 at t=1h is the threshold itself, not above it (issue 9.6): gap after t=2h
    # capped at 1 h + 1 h (t=10h) + last until end (0.5 h)
    assert exceedance_hours(times, values, 50.0, max_hold_s=hour, end_s=11.5 * hour) == 2.5
    assert exceedance_hours([], [], 50.0, max_hold_s=hour, end_s=hour) == 0.0
    assert exceedance_hours([0.0], [50.0], 50.0, max_hold_s=hour, end_s=0.0) == 0.0
    assert exceedance_hours([0.0], [50.0], 50.0, max_hold_s=hour, end_s=hour) == 0.0
    assert exceedance_hours([0.0], [50.01], 50.0, max_hold_s=hour, end_s=hour) == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        exceedance_hours([0.0], [], 50.0, max_hold_s=hour, end_s=hour)


def test_collect_leipzig(month_client: InfluxClient, registry: Registry) -> None:
    period = Period.parse("2026-10", "Europe/Berlin")
    report = collect(month_client, registry, "Leipzig", period)
    by_probe = {entry.probe.probe_id: entry for entry in report.probes}
    assert sorted(by_probe) == [f"LE-0{n}" for n in range(1, 9)]
    le07 = by_probe["LE-07"]
    expected = [nitrate("LE-07", h) for h in LOCAL_HOURS]
    assert le07.count == 743
    assert (le07.minimum, le07.maximum) == (44.0, 55.75)
    assert le07.mean == pytest.approx(sum(expected) / len(expected), abs=1e-9)
    # Oct 10: 50.0 at h=216 is not above 50 -> 23 h; + 43 h from h=700 to month end
    assert le07.exceedance(period) == 66.0
    assert by_probe["LE-01"].count == 743 - 5
    assert by_probe["LE-01"].exceedance(period) == 0.0
    assert by_probe["LE-03"].count == 0 and by_probe["LE-03"].mean is None
    assert le07.trend is not None and le07.trend["verdict"] == "rising"
    assert [(a.alert_id, a.state) for a in report.alerts] == [
        ("LE-07:warning:1", "open"),
        ("LE-07:breach:1", "resolved"),
        ("LE-07:breach:2", "open"),
    ]
    breach = report.alerts[1]
    assert (breach.opened_at_s, breach.resolved_at_s, breach.value) == (t_s(216), t_s(240), 55.75)


def test_qc_flagged_values_are_left_out(month_client: InfluxClient, registry: Registry) -> None:
    report = collect(month_client, registry, "Thallwitz", Period.parse("2026-10", "Europe/Berlin"))
    th02 = next(e for e in report.probes if e.probe.probe_id == "TH-02")
    assert th02.flagged == [(float(t_s(SPIKE_H)), 95.0)]
    assert (th02.count, th02.maximum) == (742, 20.0)
    assert [(a.probe, a.kind) for a in report.alerts] == [("TH-02", "sensor_fault")]


def test_html_is_self_contained_german_and_complete(
    month_client: InfluxClient, registry: Registry, tmp_path: Path
) -> None:
    paths = write_reports(
        month_client,
        registry,
        DashboardsSettings(),
        month="2026-10",
        municipalities=["Leipzig"],
        out_dir=tmp_path,
    )
    assert [p.name for p in paths] == ["gwmon-monatsbericht-2026-10-leipzig.html"]
    text = paths[0].read_text(encoding="utf-8")
    assert "<title>Monatsbericht Grundwasser – Leipzig – Oktober 2026</title>" in text
    row = re.search(r'<tr class="breach"><td>LE-07</td>.*?</tr>', text, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))
    assert cells == [
        "LE-07",
        "Leipzig-Probstheida",
        "743",
        "0",
        "44,0",
        cells[5],
        "55,8",
        "66,0",
        "steigend",
        "2,35",
        "ungeprüft",  # approval level of the values (issue 12): nothing approved here
    ]
    assert "Schwellenwert überschritten" in text and "behoben" in text
    assert text.count('src="data:image/png;base64,') == 8
    assert "<script" not in text and "<link" not in text and "http" not in text


def test_reports_for_all_municipalities_and_errors(
    month_client: InfluxClient, registry: Registry, tmp_path: Path
) -> None:
    settings = DashboardsSettings(language="en")
    paths = write_reports(
        month_client, registry, settings, month="2026-10", municipalities=[], out_dir=tmp_path
    )
    assert sorted(p.name for p in paths) == sorted(
        f"gwmon-monatsbericht-2026-10-{name}.html"
        for name in ("bennewitz", "leipzig", "lossatal", "thallwitz", "wurzen")
    )
    assert (
        "Monthly groundwater report – Bennewitz – October 2026"
        in (tmp_path / "gwmon-monatsbericht-2026-10-bennewitz.html").read_text()
    )
    with pytest.raises(
        ReportError, match=r"'Grimma' has no probes in the registry \(known: Bennewitz"
    ):
        write_reports(
            month_client,
            registry,
            settings,
            month="2026-10",
            municipalities=["Grimma"],
            out_dir=tmp_path,
        )


def test_render_without_data_says_so(month_client: InfluxClient, registry: Registry) -> None:
    report = collect(month_client, registry, "Lossatal", Period.parse("2026-09", "Europe/Berlin"))
    text = render_html(report, DashboardsSettings(), charts=False)
    assert "Keine Alarme in diesem Monat." in text
    # Three probes without data: min, mean, max and slope show a dash, 0 hours above.
    assert text.count('<td class="num">–</td>') == 3 * 4
    assert text.count('<td class="num">0,0</td>') == 3


def test_values_below_the_loq_are_shown_as_below_it(
    month_client: InfluxClient, registry: Registry
) -> None:
    """BE-02 reports "< 0.5" (censored) from h=600: counted, shown as "< 0,5", half the
    LOQ in the mean, never a number of its own."""
    period = Period.parse("2026-10", "Europe/Berlin")
    report = collect(month_client, registry, "Bennewitz", period)
    be02 = next(e for e in report.probes if e.probe.probe_id == "BE-02")
    measured = [nitrate("BE-02", h) for h in range(BELOW_LOQ_FROM_H)]
    below = len(LOCAL_HOURS) - BELOW_LOQ_FROM_H
    assert (be02.count, be02.below_loq_count) == (743, below)
    assert (be02.minimum, be02.minimum_below_loq) == (0.5, True)
    assert (be02.maximum, be02.maximum_below_loq) == (2.0, False)
    assert be02.mean == pytest.approx((sum(measured) + below * 0.25) / 743, abs=1e-12)
    assert be02.exceedance(period) == 0.0
    text = render_html(report, DashboardsSettings(), charts=False)
    row = re.search(r"<tr[^>]*><td>BE-02</td>.*?</tr>", text, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))
    assert cells[2:7] == [
        f"743 ({below} &lt; BG)",
        "0",
        "&lt; 0,5",
        f"{be02.mean:.1f}".replace(".", ","),
        "2,0",
    ]
    # A probe whose every value lies below the LOQ: min, mean and max are "< 0,5".
    only_below = ProbeMonth(registry.probes["BE-02"])
    for hour in range(3):
        only_below.add(float(t_s(hour)), 0.5, censored=True)
    only_below.add(float(t_s(3)), 0.2)  # a number below the registry LOQ 0.5
    assert (only_below.below_loq_count, only_below.mean_below_loq) == (4, True)
    assert (only_below.maximum, only_below.maximum_below_loq) == (0.5, True)


HOSTILE_MUNICIPALITY = "Wurzen' OR '1'='1"
HOSTILE_SITE = 'Canitz" GROUP BY "probe'


def test_hostile_municipality_selects_only_its_own_values(
    influx_db: InfluxDatabase, tmp_path: Path
) -> None:
    """Municipality names are quoted by the query builder (no bound parameters): one that
    looks like InfluxQL selects its own probes' values and nothing of its neighbour's."""
    header = (
        "probe_id,site,municipality,lat,lon,ground_level_m_nhn,measuring_point_m_nhn,"
        "waterworks,expected_interval_s,nitrate_warning_mg_l,nitrate_breach_mg_l,"
        "level_min_m_nhn,level_max_m_nhn,nitrate_loq_mg_l,qc"
    )
    rows = [
        f'WU-01,"{HOSTILE_SITE.replace(chr(34), chr(34) * 2)}",{HOSTILE_MUNICIPALITY},'
        "51.3,12.7,131.8,132.42,W,3600,,,,,0.5,",
        "WU-02,Canitz,Wurzen,51.3,12.7,131.8,132.42,W,3600,,,,,0.5,",
    ]
    (tmp_path / "registry.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    registry = load_registry(tmp_path / "registry.csv")
    period = Period.parse("2026-10", "UTC")
    lines = []
    for probe, value in (("WU-01", 41.0), ("WU-02", 12.0)):
        where = registry.probes[probe]
        tags = {"probe": probe, "site": where.site, "municipality": where.municipality}
        for hour in range(3):
            lines.append(
                READING.point(
                    {**tags, "quantity": "nitrate"},
                    {"value": value + hour, "lag_s": 1.0},
                    int(period.start_s + hour * 3600) * 10**9,
                ).to_line()
            )
    neighbour = registry.probes["WU-02"]
    alert_tags = {
        "probe": "WU-02",
        "site": neighbour.site,
        "municipality": neighbour.municipality,
        "kind": "warning",
        "severity": "warning",
    }
    alert_fields: dict[str, FieldValue] = {
        "alert_id": "WU-02:warning:1",
        "state": "open",
        "opened_at_s": period.start_s,
        "unit": "mg/L",
        "message": "neighbour's alert",
        "withdrawn": False,
    }
    lines.append(ALERT.point(alert_tags, alert_fields, int(period.start_s) * 10**9).to_line())
    client = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name))
    try:
        client.write_lines(lines)
        hostile = collect(client, registry, HOSTILE_MUNICIPALITY, period)
        plain = collect(client, registry, "Wurzen", period)
    finally:
        client.close()
    assert [(e.probe.probe_id, e.values) for e in hostile.probes] == [("WU-01", [41.0, 42.0, 43.0])]
    assert [(e.probe.probe_id, e.values) for e in plain.probes] == [("WU-02", [12.0, 13.0, 14.0])]
    assert (hostile.alerts, [a.alert_id for a in plain.alerts]) == ([], ["WU-02:warning:1"])
