"""Pure evaluation: QC detectors, hysteresis alarms and sensor faults in measurement time."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.analytics_helpers import HOUR, NS, T0, probe
from gwmon.analytics import (
    AnalyticsSettings,
    DetectorConfigError,
    Episode,
    Param,
    ProbeEvaluator,
    ProbePlan,
    build_plan,
    default_detectors,
)
from gwmon.ingest import Probe


def plan_for(p: Probe | None = None, **settings_kw: Any) -> ProbePlan:
    plan, problems = build_plan(AnalyticsSettings(**settings_kw), default_detectors(), p or probe())
    assert problems == []
    assert plan is not None
    return plan


def run(
    values: list[float], quantity: str = "nitrate", p: Probe | None = None, **settings_kw: Any
) -> tuple[list[list[str]], list[Episode], ProbeEvaluator]:
    """Feed hourly values; return (flags per reading, episodes touched, evaluator)."""
    evaluator = ProbeEvaluator(plan_for(p, **settings_kw))
    flags: list[list[str]] = []
    for i, value in enumerate(values):
        t = (T0 + i * HOUR) * NS
        flags.append([f.flag for f in evaluator.feed(t, quantity, value, t + NS)])
    return flags, list(evaluator.touched.values()), evaluator


def hour_of(ns: int | None) -> float | None:
    return None if ns is None else (ns / NS - T0) / HOUR


def episodes(touched: list[Episode], kind: str) -> list[tuple[float | None, float | None, float]]:
    return [
        (hour_of(e.opened_ns), hour_of(e.resolved_ns), e.value) for e in touched if e.kind == kind
    ]


def test_breach_opens_at_first_reading_of_the_confirming_run_and_closes_below_release() -> None:
    # min_consecutive 2, release_consecutive 2, hysteresis 2.5 -> release below 47.5
    values = [40, 45, 50.0, 49, 51, 52, 48, 47.6, 47.4, 48, 47.0, 46.9, 40]
    flags, touched, _ = run(values)
    assert all(f == [] for f in flags)
    # 50.0 at h2 then 49 breaks the run; 51 at h4, 52 at h5 confirm -> opened at h4.
    # 47.4 at h8 starts a release run, 48 breaks it; 47.0 (h10), 46.9 (h11) -> closed at h10.
    assert episodes(touched, "breach") == [(4.0, 10.0, 52.0)]
    # warning (37.5, release 35): 40 and 45 confirm at h0; never drops below 35 until h12?
    assert episodes(touched, "warning") == [(0.0, None, 52.0)]


def test_hysteresis_band_keeps_alarm_open() -> None:
    values = [55, 55] + [47.6, 49.9, 48.0, 47.5, 50.0] * 5
    _, touched, evaluator = run(values)
    assert episodes(touched, "breach") == [(0.0, None, 55.0)]
    assert evaluator.by_kind["breach"].episode is not None


def test_spike_opens_sensor_fault_and_no_breach() -> None:
    values = [30.0, 30.2, 30.1, 30.3, 95.0, 30.2, 30.1, 30.0, 30.2]
    flags, touched, _ = run(values)
    assert flags[4] == ["spike"]
    assert [f for i, f in enumerate(flags) if i != 4] == [[]] * 8
    assert episodes(touched, "breach") == []
    assert episodes(touched, "warning") == []
    # sensor fault: open at the spike (h4), closed by 3 good readings from h5.
    assert episodes(touched, "sensor_fault") == [(4.0, 5.0, 95.0)]
    fault = next(e for e in touched if e.kind == "sensor_fault")
    assert fault.detail == "nitrate flagged spike: jump +64.85 from median 30.15 of last 4 > 15"


def test_range_flag_and_two_spikes_in_a_row_are_both_bad() -> None:
    flags, touched, _ = run([30, 30.5, 31, 30.5, -3, 600, 80, 80.5, 30.4, 30.2])
    # Impossible values are flagged by range (and are far from the median: spike too) and
    # are left out of the spike reference; the two 80s are spikes against median 30.5.
    assert flags == [
        [],
        [],
        [],
        [],
        ["range", "spike"],
        ["range", "spike"],
        ["spike"],
        ["spike"],
        [],
        [],
    ]
    assert episodes(touched, "breach") == []
    # one fault: opened at h4, closed by three good readings... only two follow: still open
    assert episodes(touched, "sensor_fault") == [(4.0, None, -3.0)]


def test_flatline_flags_stuck_sensor_from_the_window_th_reading() -> None:
    values = [20.0 + 0.1 * (i % 2) for i in range(5)] + [21.7] * 30
    flags, touched, _ = run(values)
    stuck = [i for i, f in enumerate(flags) if "flatline" in f]
    assert stuck == list(range(5 + 23, 35))  # window 24: the 24th equal value on
    assert episodes(touched, "sensor_fault") == [(28.0, None, 21.7)]


def test_gap_is_informational_and_does_not_open_a_fault() -> None:
    evaluator = ProbeEvaluator(plan_for())
    out = []
    for hour, value in [(0, 30), (1, 30.1), (2, 30.2), (10, 30.3), (11, 30.1)]:
        t = (T0 + hour * HOUR) * NS
        out.append([(f.flag, f.level) for f in evaluator.feed(t, "nitrate", value, t)])
    assert out == [[], [], [], [("gap", "info")], []]
    assert evaluator.touched == {}


def test_level_low_and_high_with_registry_limits() -> None:
    p = probe(level_min_m_nhn=107.2, level_max_m_nhn=112.4)
    values = [110.0, 109.5, 109.0, 108.5, 108.0, 107.6, 107.2, 107.1, 107.05, 107.3, 107.3, 108]
    _, touched, _ = run(values, quantity="level", p=p)
    # 107.2 at h6 is the minimum itself (not below it); < 107.2 at h7, h8 -> open h7;
    # > 107.25 at h9, h10 -> closed h9
    assert episodes(touched, "level_low") == [(7.0, 9.0, 107.05)]
    assert episodes(touched, "level_high") == []


def test_flagged_reading_does_not_break_or_build_a_breach_run() -> None:
    # 51 | spike 99 | 52: the spike is ignored, so 51 and 52 are consecutive good readings.
    values = [49.0, 49.5, 49.2, 51.0, 99.0, 52.0, 52.5]
    flags, touched, _ = run(values)
    assert flags[4] == ["spike"]
    assert episodes(touched, "breach") == [(3.0, None, 52.5)]


def test_registry_qc_column_overrides_config_overrides_defaults() -> None:
    p = probe(qc={"nitrate.spike.max_jump": "5", "breach.min_consecutive": "1"})
    plan = plan_for(
        p, qc={"nitrate": {"spike": {"window": 7}}}, alarms={"breach": {"hysteresis": 1}}
    )
    spike = next(item for item in plan.qc["nitrate"] if item.detector.name == "spike")
    assert dict(spike.params) == {"window": 7, "max_jump": 5.0, "enabled": True}
    assert dict(plan.alarms["breach"]) == {
        "min_consecutive": 1,
        "release_consecutive": 2,
        "hysteresis": 1.0,
    }


def test_detector_can_be_disabled_and_drift_needs_a_reference() -> None:
    plan = plan_for(qc={"nitrate": {"flatline": {"enabled": False}}})
    assert [i.detector.name for i in plan.qc["nitrate"]] == ["range", "spike", "gap"]
    assert "drift" not in [i.detector.name for i in plan.qc["level"]]
    p = probe(qc={"level.drift.reference": "110.0", "level.drift.window": "3"})
    plan = plan_for(p)
    assert "drift" in [i.detector.name for i in plan.qc["level"]]
    flags, _, _ = run([110.0, 110.05, 110.3, 110.3, 110.3], quantity="level", p=p)
    assert flags == [[], [], [], ["drift"], ["drift"]]


@pytest.mark.parametrize(
    ("qc", "fragment"),
    [
        (
            {"nitrate.spike.max_jmp": "5"},
            "unknown parameter 'max_jmp' (known: enabled, max_jump, window)",
        ),
        ({"nitrate.spike.window": "2"}, "window='2' is outside 3..1000"),
        ({"nitrate.spike.window": "4.5"}, "window='4.5' must be a whole number"),
        ({"nitrate.spiky.window": "4"}, "unknown detector 'nitrate.spiky'"),
        ({"breach.min_consecutive": "x"}, "min_consecutive='x' is not a number"),
        ({"spike.max_jump": "5"}, "qc entry 'spike.max_jump': expected <quantity>.<detector>"),
        ({"flatline.enabled": "maybe"}, "expected <quantity>.<detector>.<parameter>"),
    ],
)
def test_bad_parameters_are_reported_with_reason(qc: dict[str, str], fragment: str) -> None:
    plan, problems = build_plan(AnalyticsSettings(), default_detectors(), probe(qc=qc))
    assert plan is None
    assert len(problems) == 1
    assert fragment in problems[0], problems


def test_param_parse_bool_and_limits() -> None:
    flag = Param("enabled", bool, True, "")
    assert flag.parse("false") is False
    assert flag.parse(True) is True
    with pytest.raises(DetectorConfigError, match="not true or false"):
        flag.parse("yes")
    number = Param("x", float, 1.0, "", 0, 10)
    assert number.parse("2,5".replace(",", ".")) == 2.5
    with pytest.raises(DetectorConfigError, match="not a finite number"):
        number.parse("nan")
    with pytest.raises(DetectorConfigError, match="not a number"):
        number.parse(True)


def test_detector_registry_is_explicit_and_refuses_duplicates() -> None:
    first, second = default_detectors(), default_detectors()
    assert first is not second
    assert first.names() == ["drift", "flatline", "gap", "range", "rate_of_change", "spike"]
    with pytest.raises(ValueError, match="already registered"):
        first.register(first.get("spike"))  # type: ignore[arg-type]


def test_snapshot_roundtrip_continues_identically() -> None:
    values = [30, 45, 52, 53, 95, 54, 47, 46, 30, 30.1] * 3
    _, _, whole = run(values)
    evaluator = ProbeEvaluator(plan_for())
    for i, value in enumerate(values):
        if i == 13:
            evaluator = ProbeEvaluator.from_snapshot(evaluator.plan, evaluator.snapshot())
        t = (T0 + i * HOUR) * NS
        evaluator.feed(t, "nitrate", value, t + NS)
    assert evaluator.snapshot() == whole.snapshot()


band = st.floats(min_value=47.51, max_value=49.99, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(band, min_size=1, max_size=60), st.integers(1, 4), st.integers(1, 4))
def test_noise_inside_the_band_never_flaps(noise: list[float], n_open: int, n_close: int) -> None:
    """Once open, values between release (47.5) and threshold (50) never close the
    breach; before opening, they never open it."""
    alarms = {"breach": {"min_consecutive": n_open, "release_consecutive": n_close}}
    # spike/flatline off so that only the alarm logic is exercised
    qc = {"nitrate": {"spike": {"enabled": False}, "flatline": {"enabled": False}}}
    _, touched, _ = run([55.0] * n_open + noise, alarms=alarms, qc=qc)
    assert episodes(touched, "breach") == [(0.0, None, 55.0)]
    _, touched, _ = run(noise, alarms=alarms, qc=qc)
    assert episodes(touched, "breach") == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=80))
def test_episodes_alternate_and_are_well_formed(values: list[float]) -> None:
    qc = {"nitrate": {"spike": {"enabled": False}, "flatline": {"enabled": False}}}
    _, touched, evaluator = run(values, qc=qc)
    breaches = sorted(episodes(touched, "breach"))
    for (opened, resolved, peak), nxt in zip(breaches, [*breaches[1:], None], strict=False):
        assert peak >= 50.0
        if resolved is None:
            assert nxt is None  # only the last one may stay open
        else:
            assert opened is not None and resolved > opened
            assert nxt is None or (nxt[0] is not None and nxt[0] > resolved)
    assert (evaluator.by_kind["breach"].episode is None) == (
        not breaches or breaches[-1][1] is not None
    )


def test_values_exactly_at_a_threshold_exceed_nothing() -> None:
    """A threshold is exceeded by values above it (issue 9.6): 50.0 opens no breach,
    37.5 no warning, the level limits themselves neither level_low nor level_high."""
    _, touched, _ = run([50.0] * 30)
    assert episodes(touched, "breach") == []
    assert episodes(touched, "warning") == [(0.0, None, 50.0)]
    _, touched, _ = run([37.5, 50.0, 37.5, 50.0, 37.5])
    assert episodes(touched, "warning") == [] and episodes(touched, "breach") == []
    _, touched, _ = run([50.0, 50.01, 50.02])
    assert episodes(touched, "breach") == [(1.0, None, 50.02)]
    p = probe(level_min_m_nhn=107.2, level_max_m_nhn=112.4)
    ramp = [round(107.2 + 0.5 * step, 2) for step in range(11)]  # 107.2 .. 112.2
    flags, touched, _ = run([107.2] * 3 + ramp + [112.4] * 3, quantity="level", p=p)
    assert all(f == [] for f in flags)
    assert touched == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([50.0, 49.99, 47.0, 37.5, 20.0]), max_size=60),
    st.integers(1, 3),
)
def test_values_at_or_below_the_threshold_never_open_a_breach(
    values: list[float], n_open: int
) -> None:
    qc = {"nitrate": {"spike": {"enabled": False}, "flatline": {"enabled": False}}}
    alarms = {"breach": {"min_consecutive": n_open}, "warning": {"min_consecutive": n_open}}
    _, touched, _ = run(values, qc=qc, alarms=alarms)
    assert episodes(touched, "breach") == []
    assert all(value > 37.5 for _, _, value in episodes(touched, "warning"))
