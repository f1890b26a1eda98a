"""Mann-Kendall and Sen's slope: hand-computed textbook cases and cross-checks against
independent implementations (pymannkendall, scipy)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pymannkendall as pmk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from gwmon.analytics import SECONDS_PER_YEAR, mann_kendall, sens_slope

YEAR = SECONDS_PER_YEAR
T0 = 1_600_000_000.0


def test_hand_computed_series_without_ties() -> None:
    """x = 10, 12, 11, 14, 13 at yearly steps.
    Signs per i: (+4) (+3-2=+1) (+2) (-1) -> S = 6; Var(S) = 5*4*15/18 = 16.667;
    z = (6-1)/sqrt(16.667) = 1.22474; p = erfc(z/sqrt 2) = 0.22067; tau = 6/10.
    The ten pair slopes sorted: -1 -1 1/3 0.5 0.75 1 1 4/3 2 3 -> median 0.875 per year."""
    times = [T0 + i * YEAR for i in range(5)]
    result = mann_kendall(times, [10, 12, 11, 14, 13], autocorrelation="none")
    assert result.n == 5
    assert result.s == 6
    assert result.var_s == pytest.approx(300 / 18, rel=1e-12)
    assert result.z == pytest.approx(5 / math.sqrt(300 / 18), rel=1e-12)
    assert result.z == pytest.approx(1.224745, abs=1e-6)
    assert result.p == pytest.approx(0.220671, abs=1e-6)
    assert result.tau == pytest.approx(0.6, rel=1e-12)
    assert result.slope_per_year == pytest.approx(0.875, rel=1e-9)
    assert result.slope == result.slope_per_year
    assert result.verdict == "no_trend"
    assert result.significant is False
    assert result.reason is None
    assert result.reversal_start_reached is False


def test_hand_computed_series_with_ties() -> None:
    """x = 5, 5, 6, 7, 7, 7, 8: S = 5+5+4+1+1+1 = 17 (tied pairs count 0).
    Var(S) = [7*6*19 - (2*1*9) - (3*2*11)] / 18 = (798 - 18 - 66)/18 = 714/18 = 39.667;
    z = 16/sqrt(39.667) = 2.540429, p = 0.011072 < 0.05 -> rising."""
    times = [T0 + i * 86400 for i in range(7)]
    result = mann_kendall(times, [5, 5, 6, 7, 7, 7, 8], autocorrelation="none")
    assert result.s == 17
    assert result.var_s == pytest.approx(714 / 18, rel=1e-12)
    assert result.z == pytest.approx(2.540429, abs=1e-6)
    assert result.p == pytest.approx(0.011072, abs=1e-6)
    assert result.verdict == "rising"
    # slopes per day: median of the 21 pair slopes is 0.5 per day
    assert result.slope_per_year == pytest.approx(0.5 * 365.25, rel=1e-9)


def test_falling_and_datetimes_and_unsorted_input() -> None:
    days = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=30 * i) for i in range(12)]
    values = [48.0 - 0.5 * i + (0.3 if i % 2 else -0.3) for i in range(12)]
    shuffled = list(zip(days, values, strict=True))[::-1]
    result = mann_kendall(
        [d for d, _ in shuffled], [v for _, v in shuffled], autocorrelation="none"
    )
    assert result.verdict == "falling"
    assert result.s == -(12 * 11 // 2) + 2 * 6  # only the 6 zig-zag pairs (i even, i+1) rise
    assert result.reversal_start_reached is True  # 48 >= 37.5
    assert result.first_s == days[0].timestamp()
    assert result.last_s == days[-1].timestamp()


def test_refuses_fewer_than_five_values_with_reason() -> None:
    result = mann_kendall([T0, T0 + 1, T0 + 2, T0 + 3], [1.0, 2.0, 3.0, 4.0])
    assert result.verdict == "insufficient"
    assert result.reason == "4 values; the trend test needs at least 5 single values"
    assert (result.s, result.p, result.slope_per_year) == (None, None, None)
    assert mann_kendall([], []).reason == "0 values; the trend test needs at least 5 single values"
    # min_values can be raised but never lowered below GrwV's 5
    assert mann_kendall([T0 + i for i in range(5)], [1, 2, 3, 4, 5], min_values=3).s == 10
    assert mann_kendall([T0 + i for i in range(5)], [1, 2, 3, 4, 5], min_values=6).s is None


def test_refuses_a_series_shorter_than_the_minimum_span_with_reason() -> None:
    # A November of daily values: the autumn leaching rise would pass for a trend.
    days = [1_762_000_000 + d * 86_400 for d in range(30)]
    values = [30 + 0.1 * d for d in range(30)]
    assert mann_kendall(days, values).verdict == "rising"  # the pure test has no minimum
    refused = mann_kendall(days, values, min_span_days=365)
    assert refused.verdict == "insufficient"
    assert refused.reason == (
        "the values span 29 days; the trend test needs at least 365 days, or the seasonal "
        "cycle passes for a trend ([analytics.trend] min_span_days)"
    )


def test_values_below_loq_count_as_half_of_it() -> None:
    """LOQ 0.5: 0.1, 0.2 and 0.3 all become 0.25 (three ties), so only pairs with 1.0, 2.0
    differ: S = 3*2 (vs 1.0, 2.0) + 1 (1.0 -> 2.0) = 7."""
    times = [T0 + i * 86400 for i in range(5)]
    result = mann_kendall(times, [0.3, 0.1, 0.2, 1.0, 2.0], loq=0.5, autocorrelation="none")
    assert result.below_loq == 3
    assert result.s == 7
    assert result.var_s == pytest.approx((5 * 4 * 15 - 3 * 2 * 11) / 18, rel=1e-12)
    without = mann_kendall(times, [0.3, 0.1, 0.2, 1.0, 2.0], autocorrelation="none")
    assert without.s == 6  # 0.3>0.1, 0.3>0.2 fall; 0.1<0.2 rises: 7 - 2 + 1 = 6


def test_reversal_start_reported_against_given_threshold() -> None:
    times = [T0 + i * 86400 for i in range(6)]
    assert mann_kendall(times, [30, 31, 32, 33, 34, 37.49]).reversal_start_reached is False
    assert mann_kendall(times, [30, 31, 32, 33, 34, 37.5]).reversal_start_reached is True
    low = mann_kendall(times, [30, 31, 32, 33, 34, 35], reversal_start=35.0)
    assert low.reversal_start_reached is True


def test_bad_input_raises_with_reason() -> None:
    with pytest.raises(ValueError, match="3 times but 2 values"):
        mann_kendall([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        mann_kendall([T0 + i for i in range(5)], [1, 2, float("nan"), 4, 5])
    with pytest.raises(ValueError, match="timezone-aware"):
        mann_kendall([datetime(2024, 1, 1)] * 5, [1, 2, 3, 4, 5])
    assert mann_kendall([T0] * 5, [1, 2, 3, 4, 5]).reason == "all values have the same time"
    assert mann_kendall([T0 + i for i in range(5)], [2] * 5).reason == (
        "all values are equal (no variance)"
    )


series_strategy = st.lists(
    st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda v: round(v, 1)),
    min_size=5,
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(series_strategy)
def test_matches_pymannkendall_original_test(values: list[float]) -> None:
    x = np.array(values)
    if np.all(x == x[0]):
        return  # pymannkendall divides by zero there; covered by the refusal test
    ours = mann_kendall([T0 + i * 86400 for i in range(len(x))], x.tolist(), autocorrelation="none")
    theirs = pmk.original_test(x)
    assert ours.s == int(theirs.s)
    assert ours.var_s == pytest.approx(theirs.var_s, rel=1e-12)
    assert ours.z == pytest.approx(theirs.z, rel=1e-9, abs=1e-12)
    assert ours.p == pytest.approx(theirs.p, rel=1e-9, abs=1e-12)
    assert ours.tau == pytest.approx(theirs.Tau, rel=1e-12, abs=1e-15)
    assert ours.slope_per_year == pytest.approx(theirs.slope * 365.25, rel=1e-9, abs=1e-9)
    assert ours.verdict == {"increasing": "rising", "decreasing": "falling"}.get(
        theirs.trend, "no_trend"
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 300), st.floats(0.0, 0.95))
@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
def test_matches_pymannkendall_hamed_rao(seed: int, n: int, phi: float) -> None:
    """AR(1) series with a weak trend: the Hamed-Rao corrected variance, z and p agree."""
    rng = np.random.default_rng(seed)
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = phi * noise[i - 1] + rng.normal()
    x = 30 + 0.01 * np.arange(n) + noise
    ours = mann_kendall([T0 + i * 86400 for i in range(n)], x.tolist(), autocorrelation="hamed_rao")
    theirs = pmk.hamed_rao_modification_test(x)
    if not theirs.var_s > 0:
        assert ours.variance_factor == 1.0  # our documented fallback
        return
    assert ours.s == int(theirs.s)
    # Detrending by the median slope makes the median pair an exact tie in theory.
    # pymannkendall ranks it by float noise, we rank it as a tie (docs/trend.md); only
    # when such a near-tie exists may the results differ, and then only slightly.
    detrended = np.sort(x - np.arange(1, n + 1) * theirs.slope)
    near_tie = bool(np.any(np.diff(detrended) < 1e-9 * np.max(np.abs(detrended))))
    tolerance = 1e-3 if near_tie else 1e-9
    assert ours.var_s == pytest.approx(theirs.var_s, rel=tolerance)
    assert ours.p == pytest.approx(theirs.p, rel=tolerance * 100, abs=1e-12)
    if not near_tie:
        assert ours.verdict == {"increasing": "rising", "decreasing": "falling"}.get(
            theirs.trend, "no_trend"
        )


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(5, 200))
def test_matches_scipy_on_irregular_times(seed: int, n: int) -> None:
    """Irregular sampling: S/tau against scipy.stats.kendalltau (no ties: tau-b = tau-a)
    and Sen's slope against scipy.stats.theilslopes on the real time axis."""
    rng = np.random.default_rng(seed)
    t = T0 + np.cumsum(rng.uniform(0.5, 40, n)) * 86400
    x = 40 + 0.002 * (t - T0) / 86400 + rng.normal(0, 2, n)
    ours = mann_kendall(t.tolist(), x.tolist(), autocorrelation="none")
    tau = stats.kendalltau(t, x).statistic
    assert ours.tau == pytest.approx(tau, rel=1e-12, abs=1e-15)
    assert ours.s == round(tau * n * (n - 1) / 2)
    slope = stats.theilslopes(x, t).slope
    assert ours.slope_per_year == pytest.approx(slope * SECONDS_PER_YEAR, rel=1e-9)
    assert sens_slope(t.tolist(), x.tolist()) == pytest.approx(slope * SECONDS_PER_YEAR, rel=1e-9)


def test_pairs_at_the_same_time_count_zero_and_have_no_slope() -> None:
    """Times 0, 0, 1, 2, 3 days, x = 1..5: the pair at equal times is neither concordant
    nor discordant (S = 10 - 1 = 9) and has no slope. The other nine slopes per day:
    (0,2) 2/1, (0,3) 3/2, (0,4) 4/3, (1,2) 1, (1,3) 2/2, (1,4) 3/3, (2,3) 1,
    (2,4) 1, (3,4) 1 -> sorted 1 1 1 1 1 1 4/3 3/2 2 -> median 1 per day."""
    day = 86400.0
    times = [T0, T0, T0 + day, T0 + 2 * day, T0 + 3 * day]
    result = mann_kendall(times, [1, 2, 3, 4, 5], autocorrelation="none")
    assert result.s == 9
    assert result.slope_per_year == pytest.approx(365.25, rel=1e-12)


# The series reported in issue 9 (point 7): daily, rounded to 0.1 mg/L.
REPORTED = [12.2, 9.1, 10.9, 11.2, 10.7, 11.4, 10.4, 11.1, 10.3, 10.8]


def test_hamed_rao_exact_where_pymannkendall_ranks_float_noise() -> None:
    """Sen's slope is exactly -0.1 per day; detrended, x_i + 0.1 i are 12.2, 9.2, 11.1,
    11.5, 11.1, 11.9, 11.0, 11.8, 11.1, 11.7: three exact ties at 11.1. Ranked as ties
    (computed here in exact decimal arithmetic), no lag's rank autocorrelation is
    significant at 5 % (|rho_k| <= 1.96/sqrt(10)), so n/n* = 1 and Var(S) = 10*9*25/18
    = 125. pymannkendall detrends in floating point and ranks the three 11.1s by noise,
    which makes lags significant and shrinks Var(S) to about 7.09 (p 0.003 instead of
    0.47: a 'decreasing' verdict that the data do not carry)."""
    from decimal import Decimal  # noqa: PLC0415

    exact = [Decimal(str(v)) + Decimal("0.1") * i for i, v in enumerate(REPORTED)]
    assert [str(v) for v in exact].count("11.1") == 3
    ordered = sorted(exact)
    ranks = [
        (ordered.index(v) + 1 + len(ordered) - ordered[::-1].index(v)) / 2 for v in exact
    ]  # average ranks of ties
    mean = sum(ranks) / len(ranks)
    centred = [r - mean for r in ranks]
    denominator = sum(c * c for c in centred)
    bound = 1.959963984540054 / math.sqrt(len(ranks))
    rho = [
        sum(centred[i] * centred[i + k] for i in range(len(ranks) - k)) / denominator
        for k in range(1, len(ranks))
    ]
    assert all(abs(r) <= bound for r in rho)

    ours = mann_kendall([T0 + i * 86400 for i in range(10)], REPORTED)
    assert ours.s == -9
    assert ours.variance_factor == 1.0
    assert ours.var_s == 125.0
    assert ours.p == pytest.approx(0.474274, abs=1e-6)
    assert ours.verdict == "no_trend"
    theirs = pmk.hamed_rao_modification_test(np.array(REPORTED))
    assert theirs.s == -9
    assert theirs.var_s == pytest.approx(7.0884, abs=1e-3)  # differs by a factor of 17.6
    assert theirs.trend == "decreasing"


@st.composite
def series_with_repeated_times(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    days = draw(st.integers(3, 30))
    counts = draw(st.lists(st.integers(1, 3), min_size=days, max_size=days))
    times = [T0 + d * 86400 for d, c in enumerate(counts) for _ in range(c)]
    values = draw(
        st.lists(
            st.floats(10, 20).map(lambda v: round(v, 1)), min_size=len(times), max_size=len(times)
        )
    )
    return times, values


@settings(max_examples=200, deadline=None)
@given(series_with_repeated_times(), st.data())
def test_result_does_not_depend_on_input_order_with_repeated_times(
    series: tuple[list[float], list[float]], data: st.DataObject
) -> None:
    """Several values at one time (e.g. a lab and a probe value): the Hamed-Rao
    autocorrelation sees them sorted by time, then value, whatever order they came in."""
    times, values = series
    pairs = list(zip(times, values, strict=True))
    shuffled = data.draw(st.permutations(pairs), label="order")
    first = mann_kendall(times, values)
    again = mann_kendall([t for t, _ in shuffled], [v for _, v in shuffled])
    assert again == first
