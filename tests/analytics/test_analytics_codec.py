"""The one alert codec (analytics/_codec.py, white-box): derived from the `Alert` type,
every field round-trips through JSON, the state form and an `alert` point on the real
InfluxDB, and records written by the code before the codec was derived still load and
are written again byte for byte alike."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwmon.analytics import Alert, AlertEvent, AlertEventType, AlertKind, AlertState, Severity
from gwmon.analytics._codec import (
    alert_from_json,
    alert_from_row,
    alert_from_state,
    alert_point,
    alert_to_json,
    alert_to_state,
    event_from_state,
    event_to_state,
    to_datetime,
    to_ns,
)
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import ALERT, InfluxClient, InfluxSettings
from gwmon.storage import influxql as q

FIXTURES = Path(__file__).parent / "fixtures"
FIELD_NAMES = [field.name for field in dataclasses.fields(Alert)]

# Alert times have microsecond resolution; float UNIX seconds (the `alert` point's
# `*_at_s` fields) carry every microsecond exactly until 2038.
TIMES = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
)
TAG_TEXT = st.text(
    st.sampled_from("abcXYZ019 -_,=()äöüßÄ/."), min_size=0, max_size=20
)  # tag values the line protocol keeps as they are (no control characters or backslashes)
FIELD_TEXT = st.text(st.characters(min_codepoint=32, blacklist_categories=["Cs"]), max_size=60)
NUMBERS = st.floats(allow_nan=False, allow_infinity=False)


ANY_ID = st.text(max_size=30)


def alerts(alert_ids: st.SearchStrategy[str] = ANY_ID) -> st.SearchStrategy[Alert]:
    return st.builds(
        Alert,
        alert_id=alert_ids,
        probe=TAG_TEXT,
        site=TAG_TEXT,
        municipality=TAG_TEXT,
        kind=st.sampled_from(AlertKind),
        severity=st.sampled_from(Severity),
        state=st.sampled_from(AlertState),
        opened_at=TIMES,
        updated_at=TIMES,
        value=st.none() | NUMBERS,
        threshold=st.none() | NUMBERS,
        unit=FIELD_TEXT,
        message=FIELD_TEXT,
        arrival_at=st.none() | TIMES,
        acked_at=st.none() | TIMES,
        acked_by=st.none() | FIELD_TEXT,
        ack_comment=st.none() | FIELD_TEXT,
        resolved_at=st.none() | TIMES,
        withdrawn=st.booleans(),
        quantity=st.none() | FIELD_TEXT,
    )


def test_every_field_of_the_type_is_in_every_form() -> None:
    """The strategy above names every field (a new one must be added there too), and so
    does each form: JSON and state keys, and the point's tags, fields and time."""
    alert = Alert(
        alert_id="P-1.breach.20251124T160000Z",
        probe="P-1",
        site="Teststelle",
        municipality="Thallwitz",
        kind=AlertKind.BREACH,
        severity=Severity.CRITICAL,
        state=AlertState.ACKNOWLEDGED,
        opened_at=datetime(2025, 11, 24, 16, tzinfo=UTC),
        updated_at=datetime(2025, 11, 24, 17, tzinfo=UTC),
        value=52.0,
        threshold=50.0,
        unit="mg/L",
        message="m",
        arrival_at=datetime(2025, 11, 24, 16, 0, 5, tzinfo=UTC),
        acked_at=datetime(2025, 11, 24, 18, tzinfo=UTC),
        acked_by="Frau Lehmann",
        ack_comment="Probe genommen",
        resolved_at=datetime(2025, 11, 24, 19, tzinfo=UTC),
        withdrawn=True,
        quantity="nitrate",
    )
    assert all(getattr(alert, name) is not None for name in FIELD_NAMES)
    assert list(alert_to_json(alert)) == FIELD_NAMES
    assert list(alert_to_state(alert)) == FIELD_NAMES
    point = alert_point(alert, to_ns(alert.updated_at))
    assert set(point.tags) == ALERT.tag_names
    assert set(point.fields) == ALERT.field_names
    assert point.time_ns == to_ns(alert.updated_at)
    assert {"opened_at_s", "arrival_at_s", "acked_at_s", "resolved_at_s"} <= set(point.fields)


@given(alerts())
def test_json_and_state_forms_round_trip(alert: Alert) -> None:
    assert alert_from_json(json.loads(json.dumps(alert_to_json(alert)))) == alert
    assert alert_from_state(json.loads(json.dumps(alert_to_state(alert)))) == alert
    event = AlertEvent(f"{alert.alert_id}:opened", AlertEventType.OPENED, alert)
    assert event_from_state(json.loads(json.dumps(event_to_state(event)))).alert == alert


_unique = itertools.count()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(alert=alerts(st.just("")))
def test_alert_points_round_trip_on_the_real_server(
    alert: Alert, influx_db: InfluxDatabase
) -> None:
    # One series per example: InfluxDB merges the fields of points of one series and time.
    n = next(_unique)
    alert = alert.with_changes(alert_id=f"A-{n}.breach.20251124T160000Z", probe=f"{n}{alert.probe}")
    client = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name))
    client.write_points([alert_point(alert, to_ns(alert.updated_at))])
    rows = client.query_rows(q.select(ALERT, q.STAR).where(q.eq("alert_id", alert.alert_id)))
    assert len(rows) == 1
    assert alert_from_row(rows[0]) == alert
    client.close()


@pytest.mark.parametrize("microsecond", [250000, 654321, 999999])
def test_microseconds_survive_the_seconds_fields(microsecond: int) -> None:
    """1764063015.25 s times 1e9 is 1764063015249999872 in floats: read through
    nanoseconds, an acknowledgement at 09:30:15.25 came back as 09:30:15.249999."""
    moment = datetime(2025, 11, 25, 9, 30, 15, microsecond, tzinfo=UTC)
    alert = alert_from_json(fixture_records()["alerts"][0]["json"]).with_changes(acked_at=moment)
    point = alert_point(alert, 0)
    row = {**point.tags, **point.fields, "time": 0}
    assert alert_from_row(row).acked_at == moment


def fixture_records() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "alerts-v1.json").read_text(encoding="utf-8"))
    return data


def test_records_written_before_the_derived_codec_load_and_are_written_alike() -> None:
    records = fixture_records()
    assert len(records["alerts"]) == 4 and len(records["events"]) == 7
    for record in records["alerts"]:
        alert = alert_from_json(record["json"])
        assert alert_from_state(record["state"]) == alert
        assert json.dumps(alert_to_json(alert)) == json.dumps(record["json"])
        assert json.dumps(alert_to_state(alert)) == json.dumps(record["state"])
    breach = alert_from_json(records["alerts"][0]["json"])
    assert (breach.acked_by, breach.acked_at, breach.resolved_at, breach.value) == (
        "Frau Lehmann",
        datetime(2025, 11, 25, 9, 30, 15, 250000, tzinfo=UTC),
        datetime(2025, 11, 24, 22, tzinfo=UTC),
        53.5,
    )
    for record in records["events"]:
        assert json.dumps(event_to_state(event_from_state(record))) == json.dumps(record)


def test_broken_records_are_refused_with_the_missing_key() -> None:
    with pytest.raises(KeyError, match="alert_id"):
        alert_from_json({})
    good = fixture_records()["alerts"][0]
    with pytest.raises(ValueError, match="opened_at"):
        alert_from_json({**good["json"], "opened_at": None})
    older = {
        key: value for key, value in good["json"].items() if key not in ("withdrawn", "quantity")
    }
    assert alert_from_json(older).withdrawn is False  # fields added later have defaults
    alert = alert_from_json(good["json"])
    row: dict[str, Any] = {**alert_point(alert, 5).tags, **alert_point(alert, 5).fields, "time": 5}
    assert alert_from_row(row) == alert.with_changes(updated_at=to_datetime(5))
    del row["opened_at_s"]
    with pytest.raises(ValueError, match="without opened_at_s"):
        alert_from_row(row)
