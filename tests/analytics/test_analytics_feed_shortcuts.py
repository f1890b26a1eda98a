"""The evaluator's shortcuts (issue 11) give exactly what the careful forms give:

- `ProbeEvaluator.feed` skips an alarm machine that is idle (no episode, no run) for a
  value not beyond its threshold: the machines end in the states, and report the
  episodes, that `ThresholdMachine.feed` of every QC-good reading gives;
- `snapshot_json` (msgspec) reads back as `json.dumps` of `snapshot()` does, also after
  a NaN or infinite value was fed or restored (then it takes `json.dumps`), and a
  restored evaluator's snapshot is the one it was restored from;
- the checks `feed` reads as tuples hold what the plan's detectors hold;
- a checkpoint reads the same stored as JSON (now) and zlib-compressed (before)."""

from __future__ import annotations

import copy
import json
import math
import zlib
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.analytics_helpers import NS, T0, probe
from gwmon.analytics import AnalyticsSettings, ProbeEvaluator, build_plan, default_detectors
from gwmon.analytics._compiled import checks_of
from gwmon.analytics._history import Track
from gwmon.analytics._settings import ActiveDetector
from gwmon.analytics._state import Changes

HOUR_NS = 3600 * NS
# Values at, just around and far from every threshold of `probe()` (nitrate warning 37.5
# and breach 50; level low 107.2 and high 112.4), with the hysteresis releases nearby.
NITRATE = st.sampled_from([0.5, 30.0, 36.5, 37.5, 37.6, 45.0, 49.0, 50.0, 50.1, 60.0])
LEVEL = st.sampled_from([106.0, 107.1, 107.2, 107.3, 110.0, 112.3, 112.4, 112.5, 113.0])


def _evaluator() -> ProbeEvaluator:
    plan, problems = build_plan(AnalyticsSettings(), default_detectors(), probe())
    assert plan is not None and not problems
    return ProbeEvaluator(plan)


@st.composite
def readings(draw: st.DrawFn) -> list[tuple[int, str, float, bool]]:
    """Hourly nitrate and level readings (time, quantity, value, censored)."""
    out = []
    for hour in range(draw(st.integers(1, 60))):
        time_ns = T0 * NS + hour * HOUR_NS
        for quantity, values in (("level", LEVEL), ("nitrate", NITRATE)):
            if draw(st.integers(0, 4)):
                out.append((time_ns, quantity, draw(values), draw(st.integers(0, 5)) == 0))
    return out


def _episodes(touched: dict[Any, Any]) -> dict[Any, dict[str, Any]]:
    """The threshold machines' episodes (not the sensor-fault machine's)."""
    return {key: episode.to_dict() for key, episode in touched.items() if key[0] != "sensor_fault"}


@settings(max_examples=300, deadline=None)
@given(readings())
def test_skipping_idle_alarm_machines_changes_nothing(
    items: list[tuple[int, str, float, bool]],
) -> None:
    evaluator = _evaluator()
    reference = copy.deepcopy(evaluator.machines)  # fed every QC-good reading, no skip
    for time_ns, quantity, value, censored in items:
        evaluator.touched = {}
        touched: dict[Any, Any] = {}
        flags = evaluator.feed(time_ns, quantity, value, time_ns + NS, censored=censored)
        if not any(flag.level == "bad" for flag in flags):
            for machine in reference.get(quantity, ()):
                machine.feed(time_ns, value, time_ns + NS, touched, censored=censored)
        assert _episodes(evaluator.touched) == _episodes(touched)
        for quantity_of, machines in reference.items():
            states = [machine.state() for machine in evaluator.machines[quantity_of]]
            assert states == [machine.state() for machine in machines]


def _as_json(data: Any) -> str:
    # json.dumps writes NaN as NaN, so two snapshots with NaN compare as text.
    return json.dumps(data, sort_keys=True)


SPECIAL = st.sampled_from([math.nan, math.inf, -math.inf])


@settings(max_examples=300, deadline=None)
@given(readings(), st.lists(st.tuples(st.integers(0, 200), SPECIAL), max_size=2))
def test_snapshot_json_reads_back_as_json_dumps_of_the_snapshot(
    items: list[tuple[int, str, float, bool]], specials: list[tuple[int, float]]
) -> None:
    for position, special in specials:  # a NaN or infinite value here and there
        if items:
            time_ns, quantity, _, _ = items[position % len(items)]
            items[position % len(items)] = (time_ns, quantity, special, False)
    evaluator = _evaluator()
    for time_ns, quantity, value, censored in items:
        evaluator.feed(time_ns, quantity, value, time_ns + NS, censored=censored)
        careful = _as_json(evaluator.snapshot())
        assert _as_json(json.loads(evaluator.snapshot_json())) == careful
    restored = ProbeEvaluator.from_snapshot(evaluator.plan, json.loads(evaluator.snapshot_json()))
    assert _as_json(json.loads(restored.snapshot_json())) == _as_json(evaluator.snapshot())


def test_the_compiled_checks_are_the_plans_detectors_field_for_field() -> None:
    """`feed` reads each check as a tuple (`_compiled.checks_of`): the tuple holds what
    the plan's `ActiveDetector` holds, for detectors whose flag, name, level, hiding and
    below-LOQ rules all differ from one another's (a user's detector may)."""
    plan, _ = build_plan(AnalyticsSettings(), default_detectors(), probe())
    assert plan is not None
    qc = {
        quantity: tuple(
            ActiveDetector(
                replace(
                    item.detector,
                    flag=f"{item.detector.name}-flag{number}",
                    level="info" if number % 2 else "bad",
                    hides_from_history=bool(number % 3),
                    skips_below_loq=not number % 3,
                    columns=None if number % 2 else item.detector.columns,
                ),
                item.params,
            )
            for number, item in enumerate(items)
        )
        for quantity, items in plan.qc.items()
    }
    changed = replace(plan, qc=qc)
    compiled = checks_of(changed)
    assert set(compiled) == set(qc)
    for quantity, items in qc.items():
        assert compiled[quantity] == tuple(
            (
                item.columns,
                item.detector.skips_below_loq,
                item.detector.flag,
                item.detector.name,
                item.detector.level,
                item.detector.hides_from_history,
                item.detector,
                item.params,
            )
            for item in items
        )


def test_a_checkpoint_is_read_as_stored_now_and_zlib_compressed_as_before() -> None:
    """Checkpoints are stored as their JSON (`Changes.add_checkpoint`); state files
    written before hold them zlib-compressed: a prune reads both to the same `base`."""
    evaluator = _evaluator()
    for hour in range(30):
        time_ns = T0 * NS + hour * HOUR_NS
        evaluator.feed(time_ns, "nitrate", 30.0 + hour % 7, time_ns + NS)
    changes = Changes()
    changes.add_checkpoint("P-1", T0 * NS, evaluator.snapshot_json())
    stored = changes.checkpoints["P-1"][T0 * NS]
    assert json.loads(stored) == json.loads(json.dumps(evaluator.snapshot()))
    bases = []
    for blob in (stored, zlib.compress(json.dumps(evaluator.snapshot()).encode(), 1)):
        track = Track(plan=evaluator.plan, base_pos=None, current=_evaluator())
        track.base_from_checkpoint(blob)
        assert track.new_base is not None
        bases.append((json.loads(track.new_base), track.base_pos))
    assert bases[0] == bases[1]
    assert bases[0][1] == (T0 * NS + 29 * HOUR_NS, "nitrate")
