"""Legal values in analytics' own texts and results (issue 9, point 5): a probe's
registry thresholds are the probe's, not the GrwV's; the start of trend reversal is at
most 75 % of 50 mg/L = 37.5 mg/L whatever the probe's warning is."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.analytics_helpers import HOUR, NS, T0, probe, registry, write_config
from gwmon.analytics import (
    CONFIG_SECTION,
    Episode,
    TrendSettings,
    mann_kendall,
    run_trend,
)
from gwmon.analytics._messages import episode_message
from gwmon.config import ConfigError
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import InfluxClient, Point

DAY = 86400


def _episode(kind: str, threshold: float, open_value: float, peak: float) -> Episode:
    return Episode(
        kind=kind,
        quantity="nitrate",
        opened_ns=(T0 + HOUR) * NS,
        open_value=open_value,
        arrival_ns=None,
        threshold=threshold,
        value=peak,
        last_ns=(T0 + 2 * HOUR) * NS,
    )


def test_breach_message_names_the_grwv_value_only_when_it_is_the_threshold() -> None:
    default = episode_message(probe(), _episode("breach", 50.0, 51.0, 52.5))
    assert default == (
        "Nitrate at P-1 (Teststelle, Thallwitz) exceeded the GrwV Anlage 2 threshold value "
        "(Schwellenwert) of 50 mg/L on 2025-11-24 17:00 UTC (51.0 mg/L, peak 52.5 mg/L). "
        "Groundwater, not a drinking-water result."
    )
    own = episode_message(probe(nitrate_breach_mg_l=60.0), _episode("breach", 60.0, 60.4, 61.0))
    assert own == (
        "Nitrate at P-1 (Teststelle, Thallwitz) exceeded the probe's alarm threshold of "
        "60 mg/L on 2025-11-24 17:00 UTC (60.4 mg/L, peak 61.0 mg/L); the GrwV Anlage 2 "
        "threshold value is 50 mg/L. Groundwater, not a drinking-water result."
    )
    assert "GrwV Anlage 2 threshold value of 60" not in own


def test_warning_message_calls_a_probe_warning_of_45_the_probes() -> None:
    own = episode_message(probe(nitrate_warning_mg_l=45.0), _episode("warning", 45.0, 45.2, 46.0))
    assert own == (
        "Nitrate at P-1 (Teststelle, Thallwitz) exceeded the probe's warning threshold of "
        "45 mg/L on 2025-11-24 17:00 UTC (45.2 mg/L, peak 46.0 mg/L); the GrwV "
        "trend-reversal starting point is at most 75 % of the 50 mg/L threshold value, "
        "37.5 mg/L."
    )
    default = episode_message(probe(), _episode("warning", 37.5, 38.0, 39.0))
    assert default.startswith(
        "Nitrate at P-1 (Teststelle, Thallwitz) exceeded 37.5 mg/L, the trend-reversal "
        "starting point (75 % of the GrwV threshold value of 50 mg/L), on 2025-11-24 17:00 UTC"
    )


def test_reversal_start_is_at_most_37_5_whatever_is_asked() -> None:
    times = [T0 + i * DAY for i in range(6)]
    values = [30, 31, 32, 33, 34, 40.0]
    capped = mann_kendall(times, values, reversal_start=45.0)
    assert capped.reversal_start == 37.5
    assert capped.reversal_start_reached is True  # 40 >= 37.5 although 40 < 45
    stricter = mann_kendall(times, [30, 31, 32, 33, 34, 35.0], reversal_start=35.0)
    assert (stricter.reversal_start, stricter.reversal_start_reached) == (35.0, True)


def test_trend_setting_above_37_5_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, analytics="[analytics.trend]\nreversal_start_mg_l = 40.0\n")
    with pytest.raises(ConfigError, match=r"analytics\.trend\.reversal_start_mg_l"):
        config.section(CONFIG_SECTION)
    assert TrendSettings(reversal_start_mg_l=37.5).reversal_start_mg_l == 37.5


def test_run_trend_with_a_probe_warning_of_45_uses_37_5(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    config = write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name)
    store = InfluxClient(config.influxdb)
    p = probe(nitrate_warning_mg_l=45.0)
    tags = {"probe": p.probe_id, "site": p.site, "municipality": p.municipality}
    start = 1_609_459_200
    # 400 daily values rising from 30 to 41.97 mg/L: above 37.5, never above 45.
    store.write_points(
        Point(
            "reading",
            {**tags, "quantity": "nitrate"},
            {"value": round(30 + 0.03 * d, 2), "lag_s": 1.0},
            (start + d * DAY) * NS,
        )
        for d in range(400)
    )
    (report,) = run_trend(store, registry(p), TrendSettings(open_alerts=True))
    assert report.result.verdict == "rising"
    assert (report.result.reversal_start, report.result.reversal_start_reached) == (37.5, True)
    assert report.alert is not None
    assert report.alert.message.endswith(
        "The start of trend reversal, 37.5 mg/L (75 % of the GrwV threshold value of "
        "50 mg/L), has been reached."
    )
    stored = influx_db.rows('SELECT "reversal_start", "reversal_start_reached" FROM "trend"')
    assert [(r["reversal_start"], r["reversal_start_reached"]) for r in stored] == [(37.5, True)]
    store.close()
