"""The built-in detectors' column checks (`QcDetector.columns`, what the evaluator runs)
return exactly what their tuple checks (`QcDetector.check`, the careful definition)
return, for any window, start of the history, reading and parameters (issue 11)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.analytics import QcDetector, default_detectors
from gwmon.analytics._detectors import ParamValue
from gwmon.analytics._window import Window

NS = 1_000_000_000
DETECTORS = [detector for detector in default_detectors() if detector.columns is not None]

values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([0.0, 1.0, 1.5, 50.0, -0.5]),  # repeats: flatlines, ties in medians
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[QcDetector, dict[str, ParamValue], Window, int, int, float]:
    detector = draw(st.sampled_from(DETECTORS))
    raw: dict[str, object] = {}
    for param in detector.params:
        if param.kind is int:
            first = int(param.low if param.low is not None else 1)
            raw[param.name] = draw(st.integers(first, min(first + 60, int(param.high or 60))))
        elif param.name in detector.requires:
            raw[param.name] = draw(values)
        elif param.default is None:
            raw[param.name] = draw(st.one_of(st.none(), values))
        else:
            lowest = param.low if param.low is not None else 0.0
            raw[param.name] = draw(st.floats(lowest, lowest + 100, allow_nan=False))
    params = detector.configure(raw, f"test.{detector.name}")
    gaps = draw(st.lists(st.integers(-3600, 7 * 3600), max_size=70))
    time_ns = 1_764_000_000 * NS
    items = []
    for gap in gaps:
        time_ns += gap * NS
        items.append((time_ns, draw(values)))
    window = Window(items)
    start = draw(st.integers(0, len(items)))
    reading_ns = time_ns + draw(st.integers(-3600, 7 * 3600)) * NS
    return detector, params, window, start, reading_ns, draw(values)


@settings(max_examples=3000, deadline=None)
@given(cases(), st.integers(60, 86_400))
def test_every_column_check_equals_its_tuple_check(
    case: tuple[QcDetector, dict[str, ParamValue], Window, int, int, float], interval: int
) -> None:
    detector, params, window, start, time_ns, value = case
    assert detector.columns is not None
    careful = detector.check(params, window[start:], time_ns, value, interval)
    fast = detector.columns(params)(window, start, time_ns, value, interval)
    assert fast == careful


def test_every_built_in_detector_has_a_column_check() -> None:
    assert sorted(detector.name for detector in DETECTORS) == sorted(default_detectors().names())
