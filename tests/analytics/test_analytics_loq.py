"""Values below the limit of quantification (issue 9, point 2; GrwV Anlage 6): a
laboratory's "< 0.5" (`Reading.censored`, stored as `censored = true`) and numbers below
the registry's `nitrate_loq_mg_l` count as half the LOQ in the trend test, are no
flatline and raise no sensor fault."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.analytics_helpers import HOUR, NS, T0, probe, registry, write_config
from gwmon.analytics import (
    AnalyticsSettings,
    Episode,
    ProbeEvaluator,
    TrendSettings,
    build_observer,
    build_plan,
    default_detectors,
    mann_kendall,
    run_trend,
)
from gwmon.analytics._state import StateStore
from gwmon.ingest import Probe, Reading
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import InfluxClient, Point

DAY = 86400
START = 1_609_459_200  # 2021-01-01 00:00 UTC


def evaluator(p: Probe | None = None, **settings: object) -> ProbeEvaluator:
    plan, problems = build_plan(
        AnalyticsSettings.model_validate(settings), default_detectors(), p or probe()
    )
    assert problems == [] and plan is not None
    return ProbeEvaluator(plan)


def feed_hourly(
    ev: ProbeEvaluator, values: list[tuple[float, bool]], start: int = 0
) -> list[list[str]]:
    out = []
    for i, (value, censored) in enumerate(values, start):
        t = (T0 + i * HOUR) * NS
        out.append([f.flag for f in ev.feed(t, "nitrate", value, t, censored=censored)])
    return out


def test_a_month_of_censored_values_is_no_flatline_and_no_fault() -> None:
    ev = evaluator()
    flags = feed_hourly(ev, [(6.0 - 0.1 * i, False) for i in range(10)] + [(0.5, True)] * 720)
    assert all(f == [] for f in flags)
    assert ev.touched == {}


def test_numbers_below_the_registry_loq_are_no_flatline() -> None:
    ev = evaluator(probe(nitrate_loq_mg_l=0.5))
    assert all(f == [] for f in feed_hourly(ev, [(0.3, False)] * 200))
    # Without a LOQ in the registry the same numbers are a stuck sensor.
    stuck = evaluator(probe(nitrate_loq_mg_l=None))
    flags = feed_hourly(stuck, [(0.3, False)] * 30)
    assert [i for i, f in enumerate(flags) if f == ["flatline"]] == list(range(23, 30))


def test_a_stuck_sensor_above_the_loq_is_still_found_and_censored_values_do_not_count() -> None:
    ev = evaluator()
    # 23 "< 0.5" then the sensor sticks at exactly 0.5 (quantified): the run of equal
    # values starts with the first quantified one, so the flag comes at its 24th.
    flags = feed_hourly(ev, [(0.5, True)] * 23 + [(0.5, False)] * 30)
    assert [i for i, f in enumerate(flags) if f] == list(range(23 + 23, 53))
    assert all(f == ["flatline"] for f in flags[46:])


def open_episodes(ev: ProbeEvaluator) -> list[Episode]:
    """The alarms open after what `ev` was fed, in the evaluator's order."""
    episodes = [m.episode for m in ev.by_kind.values() if m.episode is not None]
    return episodes + ([ev.sensor.episode] if ev.sensor.episode is not None else [])


def test_censored_values_never_open_a_breach_and_release_one() -> None:
    # (a drop from 53 to "< 0.5" in one hour is a spike; that check is not the subject here)
    ev = evaluator(qc={"nitrate": {"spike": {"enabled": False}}})
    feed_hourly(ev, [(52.0, False), (53.0, False)])
    assert [e.kind for e in open_episodes(ev)] == ["breach", "warning"]
    feed_hourly(ev, [(0.5, True), (0.5, True)], start=2)  # true values < 0.5 < 47.5
    assert open_episodes(ev) == []
    breach = next(e for e in ev.touched.values() if e.kind == "breach")
    assert (breach.value, breach.resolved_ns) == (53.0, (T0 + 2 * HOUR) * NS)
    # A censored value with an absurd LOQ above the threshold is not a breach either.
    ev = evaluator()
    feed_hourly(ev, [(60.0, True)] * 5)
    assert open_episodes(ev) == []


BELOW_LOQ = st.sampled_from([(0.1, False), (0.3, False), (0.5, True), (1.0, True)])


@settings(max_examples=100, deadline=None)
@given(st.lists(BELOW_LOQ, max_size=200))
def test_below_loq_readings_never_raise_a_sensor_fault(values: list[tuple[float, bool]]) -> None:
    """Any run of numbers below the registry LOQ (0.5) and "< 0.5" / "< 1" values: no
    QC flag, no alert."""
    ev = evaluator()
    flags = feed_hourly(ev, values)
    assert all(f == [] for f in flags)
    assert ev.touched == {}


def test_mann_kendall_counts_censored_values_as_half_their_loq() -> None:
    """ "< 0.5" counts 0.25; "< 2" (a lab with a higher LOQ) counts 1.0; with registry LOQ
    1.0 a "< 0.5" is below that too and counts 0.5. Times 0..5 days."""
    times = [T0 + d * DAY for d in range(6)]
    values = [3.0, 2.0, 0.5, 2.0, 0.5, 0.4]
    censored = [False, False, True, True, True, False]
    plain = mann_kendall(times, values, censored=censored, autocorrelation="none")
    # tested: 3, 2, 0.25, 1.0, 0.25, 0.4 (no registry LOQ: 0.4 is a number)
    expected = mann_kendall(times, [3, 2, 0.25, 1.0, 0.25, 0.4], autocorrelation="none")
    assert (plain.s, plain.var_s, plain.below_loq) == (expected.s, expected.var_s, 3)
    with_loq = mann_kendall(times, values, censored=censored, loq=1.0, autocorrelation="none")
    expected = mann_kendall(times, [3, 2, 0.5, 1.0, 0.5, 0.5], autocorrelation="none")
    assert (with_loq.s, with_loq.var_s, with_loq.below_loq) == (expected.s, expected.var_s, 4)
    # "< 40" says nothing about reaching 37.5; only measured values can.
    reached = mann_kendall(times, [30, 31, 32, 33, 34, 40], censored=[False] * 5 + [True])
    assert reached.reversal_start_reached is False
    with pytest.raises(ValueError, match="2 censored marks but 6 values"):
        mann_kendall(times, values, censored=[True, False])


def _falling_into_loq(days: int = 400) -> tuple[list[int], list[float], list[bool]]:
    """Daily values falling from 8 mg/L with noise; what falls below 0.5 comes as "<0.5"."""
    rng = np.random.default_rng(9)
    times, values, censored = [], [], []
    for d in range(days):
        true = 8.0 * (1 - d / 300) + rng.normal(0, 0.3)
        times.append(START + d * DAY + 7 * 3600)
        if true < 0.5:
            values.append(0.5)
            censored.append(True)
        else:
            values.append(round(true, 1))
            censored.append(False)
    return times, values, censored


def test_400_days_falling_into_below_loq_give_a_significant_falling_trend(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    """Stored as the ingest stores it, evaluated by QC as `gwmon run` does, then tested
    by `gwmon trend`: every value is used, the "< 0.5" ones as 0.25."""
    config = write_config(tmp_path, influx_url=influx_db.url, database=influx_db.name)
    store = InfluxClient(config.influxdb)
    p = probe("FALL", expected_interval_s=DAY, nitrate_loq_mg_l=0.5)
    times, values, censored = _falling_into_loq()
    below = sum(censored)
    assert 80 <= below <= 120  # about the last 100 days: "< 0.5"
    tags = {"probe": "FALL", "site": p.site, "municipality": p.municipality}
    store.write_points(
        Point(
            "reading",
            {**tags, "quantity": "nitrate"},
            {"value": v, "lag_s": 1.0, **({"censored": True} if c else {})},
            t * NS,
        )
        for t, v, c in zip(times, values, censored, strict=True)
    )
    obs = build_observer(config, registry(p), store)
    obs.batch_stored(
        [
            Reading("FALL", "nitrate", t * NS, v, "nitrate", t * NS + NS, censored=c)
            for t, v, c in zip(times, values, censored, strict=True)
        ]
    )
    assert obs.alerts() == []  # no flatline, no sensor fault for the "< 0.5" months
    obs.close()
    assert influx_db.rows('SELECT * FROM "qc"') == []
    (report,) = run_trend(store, registry(p), TrendSettings(open_alerts=False))
    result = report.result
    assert (report.used_values, report.flagged_excluded) == (400, 0)
    assert (result.n, result.below_loq) == (400, below)
    assert result.verdict == "falling"
    assert result.p is not None and result.p < 1e-3  # Hamed-Rao corrected: p = 3.1e-6
    substituted = [0.25 if c else v for v, c in zip(values, censored, strict=True)]
    assert result == mann_kendall(times, substituted, loq=0.5, min_span_days=365)
    stored = influx_db.rows('SELECT "below_loq", "verdict", "n" FROM "trend"')
    assert [(r["below_loq"], r["verdict"], r["n"]) for r in stored] == [(below, "falling", 400)]
    store.close()


def test_state_files_from_before_censoring_are_migrated(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "analytics.sqlite3")
    old.execute(
        "CREATE TABLE history (probe TEXT NOT NULL, quantity TEXT NOT NULL, "
        "time_ns INTEGER NOT NULL, value REAL NOT NULL, arrival_ns INTEGER NOT NULL, "
        "flags TEXT NOT NULL, PRIMARY KEY (probe, quantity, time_ns)) WITHOUT ROWID"
    )
    old.execute("INSERT INTO history VALUES ('P-1', 'nitrate', 1, 12.5, 2, '[]')")
    old.commit()
    old.close()
    state = StateStore(tmp_path)
    try:
        assert list(state.history()) == [("P-1", "nitrate", 1, 12.5, 2, "[]", 0, None)]
    finally:
        state.close()
