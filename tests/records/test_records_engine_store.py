"""The correction engine against a real InfluxDB, driven by Hypothesis: the stored
corrected series after any sequence of adds and reverts is what a full recompute from
raw + operations gives, raw stays byte for byte, and reverting everything gives raw."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwmon.analytics.records import (
    CorrectionKind,
    CorrectionRequest,
    RawValue,
    RecordsStore,
    add_correction,
    correct,
    revert_correction,
)
from gwmon.ingest.devservers import InfluxServer
from gwmon.storage import READING, InfluxClient, InfluxSettings

NS = 1_000_000_000
T0_NS = 1_767_225_600 * NS
RAW = [(hour, 100.0 + hour / 10) for hour in range(8)]

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"),
            st.sampled_from(list(CorrectionKind)),
            st.integers(0, 7),
            st.integers(0, 7),
            st.integers(-300, 300),
        ),
        st.tuples(st.just("revert"), st.integers(0, 9)),
    ),
    min_size=1,
    max_size=6,
)


def _stored(database_query: InfluxClient) -> list[tuple[int, float, bool, str]]:
    rows = database_query.query_rows("SELECT * FROM reading_corrected")  # test literal
    return [(r["time"], r["value"], r["deleted"], r["corrections"]) for r in rows]


@given(steps)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_adds_and_reverts_keep_raw_and_match_a_full_recompute(
    influxdb: InfluxServer, plan: list[tuple[object, ...]]
) -> None:
    database = influxdb.new_database()
    client = InfluxClient(InfluxSettings(url=database.url, database=database.name))
    try:
        tags = {"probe": "P-1", "site": "S", "municipality": "Wurzen", "quantity": "level"}
        client.write_lines(
            [
                READING.point(tags, {"value": v, "lag_s": 1.0}, T0_NS + h * 3600 * NS).to_line()
                for h, v in RAW
            ]
        )
        raw_before = json.dumps(database.query("SELECT * FROM reading"), sort_keys=True)
        store = RecordsStore(client)
        added: list[str] = []
        now = 1_800_000_000.0
        for step in plan:
            now += 1
            if step[0] == "add":
                _, kind, a, b, cents = step
                assert isinstance(kind, CorrectionKind)
                assert isinstance(a, int) and isinstance(b, int) and isinstance(cents, int)
                start, end = min(a, b), max(a, b)
                value = None if kind == CorrectionKind.DELETE else cents / 100
                request = CorrectionRequest(
                    "P-1", "level", kind, T0_NS + start * 3600 * NS, T0_NS + end * 3600 * NS,
                    value, "h", "y",
                )  # fmt: skip
                correction, _ = add_correction(store, request, now_s=now)
                added.append(correction.correction_id)
            elif added:
                index = step[1]
                assert isinstance(index, int)
                target = added.pop(index % len(added))
                revert_correction(store, target, by="r", why="w", now_s=now)
            assert json.dumps(database.query("SELECT * FROM reading"), sort_keys=True) == raw_before
            raw = [RawValue(T0_NS + h * 3600 * NS, v) for h, v in RAW]
            operations = store.corrections("P-1", "level")
            # No operation yet: no corrected points (the corrected series is the raw one).
            expected = correct(raw, operations) if operations else []
            assert _stored(client) == [
                (p.time_ns, p.value, p.deleted, ",".join(p.applied)) for p in expected
            ]
        for target in added:
            now += 1
            revert_correction(store, target, by="r", why="w", now_s=now)
        if store.corrections("P-1", "level"):
            assert _stored(client) == [(T0_NS + h * 3600 * NS, v, False, "") for h, v in RAW]
        assert json.dumps(database.query("SELECT * FROM reading"), sort_keys=True) == raw_before
    finally:
        client.close()
