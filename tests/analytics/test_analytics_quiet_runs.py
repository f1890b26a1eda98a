"""Quiet runs (`_quiet.quiet_run` / `apply_quiet`): a probe's in-order readings
that flag nothing are fed per quantity and detector over the columns instead of one
`feed` per reading (issue 11, target 1). Fed that way they give exactly what feeding them
one by one gives: the same state file (retained readings, snapshots, checkpoints,
alerts, outbox) and the same alert events, for series that cross the alarm thresholds,
hold open episodes and sensor faults, have gaps, spikes, flatlines and "< LOQ" values
(those batches are fed one by one), and for even and odd median windows. The run checks
themselves never miss a reading their column check flags."""

from __future__ import annotations

import tempfile
from array import array
from itertools import pairwise
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.analytics_helpers import (
    NS,
    STATE_TABLES,
    T0,
    feed_and_dump,
    observer,
    probe,
    registry,
    write_config,
)
from gwmon.analytics import QcDetector, default_detectors
from gwmon.analytics._detectors import ParamValue
from gwmon.analytics._quiet import QUIET_MIN_ROWS
from gwmon.analytics._run_checks import RunHistory
from gwmon.analytics._window import Window
from gwmon.ingest import Reading

HOUR_NS = 3600 * NS
PROBES = ("P-1", "P-2")
TABLES = {
    **STATE_TABLES,
    # as written, too: quiet runs write their history runs from the columns
    "history_rows": "SELECT * FROM history ORDER BY probe, quantity, time_ns",
    "history_runs": "SELECT * FROM history_run ORDER BY probe, quantity, first_ns",
}
# Even and odd spike windows, a short flatline: the run checks' medians and windows.
QC = """
[analytics.qc.temperature.spike]
window = 4
max_jump = 3.0
[analytics.qc.conductivity.flatline]
window = 6
tolerance = 0.5
"""


@st.composite
def readings_of(draw: st.DrawFn) -> list[Reading]:
    """Hours of smooth nitrate, level, temperature and conductivity hovering around and
    crossing the alarm thresholds; in a rough series now and then a jump, a range fault,
    a "< LOQ" value or a gap (the batches holding one are fed one by one)."""
    out: list[Reading] = []
    for probe_id in PROBES:
        hours = draw(st.integers(0, 90))
        rough = draw(st.booleans())
        nitrate = draw(st.sampled_from([37.0, 37.6, 45.0, 49.6, 50.3]))
        level = draw(st.sampled_from([107.1, 107.3, 110.0, 112.3, 112.5]))
        temperature = 10.0
        conductivity = 600.0
        hour = 0
        for _ in range(hours):
            hour += 4 if rough and draw(st.integers(0, 40)) == 0 else 1  # a gap
            time_ns = (T0 * NS) + hour * HOUR_NS
            arrival = time_ns + draw(st.integers(1, 5)) * NS
            step = [0.0, 0.2, -0.2, 0.7, -0.7] * 10 + ([20.0, -20.0] if rough else [])
            nitrate += draw(st.sampled_from(step))
            fault = draw(st.integers(0, 60)) if rough else 2
            censored = fault == 0
            value = 0.5 if censored else (600.0 if fault == 1 else round(nitrate, 2))
            out.append(Reading(probe_id, "nitrate", time_ns, value, "nitrate", arrival, censored))
            level += draw(st.sampled_from([0.0, 0.05, -0.05, 0.1, -0.1]))
            out.append(Reading(probe_id, "level", time_ns, round(level, 3), "level", arrival))
            if draw(st.integers(0, 2)):
                step = [0.0, 0.1, -0.1, 0.4] * 8 + ([5.0] if rough else [])
                temperature += draw(st.sampled_from(step))
                out.append(
                    Reading(probe_id, "temperature", time_ns, temperature, "temperature", arrival)
                )
            conductivity += draw(st.sampled_from([0.6, -0.6, 1.0, 0.2]))
            out.append(
                Reading(probe_id, "conductivity", time_ns, conductivity, "conductivity", arrival)
            )
    return out


@st.composite
def batches_of(draw: st.DrawFn) -> list[list[Reading]]:
    items = draw(readings_of())
    if draw(st.integers(0, 5)) == 0:
        items = draw(st.permutations(items))  # late readings: the careful path in between
    else:
        items.sort(key=lambda r: (r.arrival_ns // HOUR_NS, r.probe))
    cuts = sorted(draw(st.lists(st.integers(0, len(items)), max_size=12)))
    bounds = [0, *cuts, len(items)]
    return [items[a:b] for a, b in pairwise(bounds) if b > a]


def run(
    directory: Path,
    batches: list[list[Reading]],
    *,
    quiet: bool,
    horizon_s: int,
    qc: str = QC,
    min_rows: int = 1,
) -> tuple[tuple[object, ...], int]:
    config = write_config(
        directory, analytics=f'reorder_horizon_s = {horizon_s}\nqc_withdrawal = "mark"\n{qc}'
    )
    obs = observer(config, registry(*(probe(p) for p in PROBES)))
    obs.quiet_runs = quiet
    obs.quiet_min_rows = min_rows
    return feed_and_dump(obs, batches, directory / "state", TABLES), obs.quiet_batches


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches_of(), st.sampled_from([36_000, 4 * 86_400, 30 * 86_400]))
def test_quiet_runs_give_what_feeding_one_by_one_gives(
    batches: list[list[Reading]], horizon_s: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        one_by_one, none = run(Path(tmp) / "one", batches, quiet=False, horizon_s=horizon_s)
        quiet, _taken = run(Path(tmp) / "quiet", batches, quiet=True, horizon_s=horizon_s)
    assert none == 0
    assert quiet == one_by_one


def smooth_batches(hours: int, *, nitrate: float) -> list[list[Reading]]:
    """Two probes' hourly readings in batches of 30 hours, nitrate slowly rising."""
    items: list[Reading] = []
    for hour in range(hours):
        time_ns = T0 * NS + hour * HOUR_NS
        for probe_id in PROBES:
            value = round(nitrate + hour * 0.1, 2)
            items.append(Reading(probe_id, "nitrate", time_ns, value, "nitrate", time_ns + NS))
            level = 110.0 + (hour % 7) * 0.05
            items.append(Reading(probe_id, "level", time_ns, level, "level", time_ns + NS))
    return [items[start : start + 120] for start in range(0, len(items), 120)]


def test_a_smooth_series_crossing_the_thresholds_is_fed_as_quiet_runs() -> None:
    """The path is taken (not only its fallback), with the warning and the breach opening
    inside quiet runs: the alarm machines are fed one by one there."""
    batches = smooth_batches(200, nitrate=35.0)
    # 10 h (a checkpoint every hour) and 100 h (every 10 h, on T0's grid: one is due
    # before the first row of every batch of 30 h, and the last ones stay in the file)
    for horizon_s in (36_000, 360_000):
        with tempfile.TemporaryDirectory() as tmp:
            one_by_one, _ = run(Path(tmp) / "one", batches, quiet=False, horizon_s=horizon_s)
            quiet, taken = run(Path(tmp) / "quiet", batches, quiet=True, horizon_s=horizon_s)
        # every batch but each probe's first (its windows are still short) as quiet runs
        assert taken == 2 * (len(batches) - 1)
        assert quiet == one_by_one
        kinds = sorted({row[2] for row in quiet[0]["alerts"]})  # type: ignore[index]
        assert kinds == ["breach", "warning"]


def test_a_probe_with_few_rows_in_a_batch_is_fed_one_by_one() -> None:
    """Below `QUIET_MIN_ROWS` rows of a probe in a batch a quiet run costs more than it
    saves: not taken (and numpy not needed for it)."""
    batches = smooth_batches(200, nitrate=35.0)  # 60 rows of each probe in a batch
    with tempfile.TemporaryDirectory() as tmp:
        default, taken = run(
            Path(tmp) / "default", batches, quiet=True, horizon_s=36_000, min_rows=QUIET_MIN_ROWS
        )
        one_by_one, _ = run(Path(tmp) / "one", batches, quiet=False, horizon_s=36_000)
    assert taken == 0
    assert default == one_by_one
    bigger = [
        [*a, *b, *c] for a, b, c in zip(batches[::3], batches[1::3], batches[2::3], strict=False)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        _, taken = run(
            Path(tmp) / "bigger", bigger, quiet=True, horizon_s=36_000, min_rows=QUIET_MIN_ROWS
        )
    assert taken == 2 * (len(bigger) - 1)  # 180 rows of each probe in a batch


def nitrate_batches(*batches: list[float]) -> list[list[Reading]]:
    """Hourly nitrate of P-1, one list of values per batch."""
    out: list[list[Reading]] = []
    hour = 0
    for values in batches:
        batch = []
        for value in values:
            time_ns = T0 * NS + hour * HOUR_NS
            batch.append(Reading("P-1", "nitrate", time_ns, value, "nitrate", time_ns + NS))
            hour += 1
        out.append(batch)
    return out


def test_a_run_towards_an_alarm_and_a_fault_count_are_reset_by_a_quiet_run() -> None:
    """A batch ending in one reading above the thresholds (an alarm opens after two),
    or in one range fault (a sensor fault opens after two), then a quiet batch below:
    the quiet run resets the count, as feeding one by one does, so the next such
    reading opens nothing."""
    low = [30.0, 30.1, 30.2, 30.1, 30.3, 30.2]
    batches = nitrate_batches(
        [30.0 + 0.1 * i for i in range(10)],
        [*low, 51.0],  # breach and warning: a run of one
        low,  # quiet: resets both runs
        [51.0, 30.0, 600.0],  # a run of one again, reset; a range fault: a fault count of one
        low,  # quiet: resets the fault count
        [600.0, *low],
    )
    # spikes of 21 mg/L not flagged here (the 51.0 counts towards the alarms); a sensor
    # fault after two faults in a row
    qc = (
        QC
        + "[analytics.qc.nitrate.spike]\nmax_jump = 40.0\n"
        + "[analytics.alarms.sensor_fault]\nmin_consecutive = 2\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        one_by_one, _ = run(Path(tmp) / "one", batches, quiet=False, horizon_s=1_080_000, qc=qc)
        quiet, taken = run(Path(tmp) / "quiet", batches, quiet=True, horizon_s=1_080_000, qc=qc)
    assert taken == 3  # the second, third and fifth batch
    assert quiet == one_by_one
    assert quiet[0]["alerts"] == []  # type: ignore[index]


# -- the run checks against the column checks ---------------------------------------------
DETECTORS = [detector for detector in default_detectors() if detector.runs is not None]
values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([0.0, 1.0, 1.5, 50.0, -0.5]),  # repeats: flatlines, ties in medians
)


@st.composite
def run_cases(
    draw: st.DrawFn,
) -> tuple[QcDetector, dict[str, ParamValue], list[int], list[float], int, int, int]:
    detector = draw(st.sampled_from(DETECTORS))
    raw: dict[str, object] = {}
    for param in detector.params:
        if param.kind is int:
            first = int(param.low if param.low is not None else 1)
            raw[param.name] = draw(st.integers(first, first + 8))
        elif param.default is None:
            raw[param.name] = draw(st.one_of(st.none(), values))
        else:
            lowest = param.low if param.low is not None else 0.0
            raw[param.name] = draw(st.floats(lowest, lowest + 100, allow_nan=False))
    params = detector.configure(raw, f"test.{detector.name}")
    count = draw(st.integers(1, 40))
    gaps = draw(st.lists(st.integers(1, 7 * 3600), min_size=count, max_size=count))
    times = list(np.cumsum(gaps) * NS + 1_764_000_000 * NS)
    items = draw(st.lists(values, min_size=count, max_size=count))
    size = draw(st.integers(0, count - 1))  # the window before the run
    limit = draw(st.integers(0, 12))
    quantified = draw(st.integers(0, size))
    return detector, params, [int(t) for t in times], items, size, limit, quantified


@settings(max_examples=3000, deadline=None)
@given(run_cases())
def test_a_run_check_never_misses_a_reading_its_column_check_flags(
    case: tuple[QcDetector, dict[str, ParamValue], list[int], list[float], int, int, int],
) -> None:
    """Readings fed one by one (none hidden, none below the LOQ) into a window kept as
    `feed` keeps it: wherever the column check flags, the run check says True."""
    detector, params, times, items, size, limit, quantified = case
    assert detector.columns is not None and detector.runs is not None
    column_check = detector.columns(params)
    run_check = detector.runs(params)
    window = Window(zip(times[:size], items[:size], strict=True))
    limit = max(limit, size)  # a restored window never holds more than its limit
    run_times, run_values = times[size:], items[size:]
    expected: list[bool] = []
    starts: list[int] = []
    for time_ns, value in zip(run_times, run_values, strict=True):
        length = len(window.times)
        quantified = min(quantified, length)
        start = length - quantified if detector.skips_below_loq else 0
        expected.append(column_check(window, start, time_ns, value, 3600) is not None)
        starts.append(size + len(starts) - (length - start))
        window.times.append(time_ns)
        window.values.append(value)
        quantified += 1
        if length + 1 > limit:
            del window.times[0], window.values[0]
            quantified = min(quantified, length)
    history = RunHistory(
        np.array(times, dtype=np.int64),
        np.array(array("d", items)),
        np.array(starts, dtype=np.int64),
        np.arange(size, len(times), dtype=np.int64),
        np.array(run_times, dtype=np.int64),
        np.array(run_values),
    )
    found = run_check(history, 3600).tolist()
    assert all(found[index] for index, flagged in enumerate(expected) if flagged)
    if detector.name in ("range", "flatline"):  # exact: no margin, no careful case
        assert found == expected
