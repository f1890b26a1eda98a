"""The storage contract in code: points and statements are checked against it, and
hostile probe ids, sites and municipalities can break neither a line nor a query."""

from __future__ import annotations

import itertools

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import ALERT, MEASUREMENTS, READING, ContractError
from gwmon.storage import influxql as q

HOSTILE = [
    "Wurzen' OR '1'='1",
    'Canitz" GROUP BY "probe',
    "Thallwitz\\",
    "Naunhof\\'",
    "a,b=c d",
    "line\nbreak",
    "semi; DROP DATABASE gwmon",
    "/^.*$/",
    "$timeFilter",
    "Lößnig – Süd ✓",
    "\\\\double",
    "tab\there",
]


def _write_reading(db: InfluxDatabase, site: str, municipality: str, time_ns: int) -> None:
    point = READING.point(
        {"probe": "LE-01", "site": site, "municipality": municipality, "quantity": "nitrate"},
        {"value": 41.5, "lag_s": 1.0},
        time_ns,
    )
    response = requests.post(
        f"{db.url}/write", params={"db": db.name}, data=point.to_line().encode(), timeout=10
    )
    assert response.status_code == 204, response.text


def _stored_as(text: str) -> str:
    # Line protocol cannot carry a newline or a trailing backslash in a tag (documented
    # in gwmon/storage/_line.py); everything else is stored as it is.
    return text.replace("\n", " ").rstrip("\\")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_site_and_municipality_neither_break_a_line_nor_a_query(
    influx_db: InfluxDatabase, hostile: str
) -> None:
    _write_reading(influx_db, "harmless", "Leipzig", 1)
    _write_reading(influx_db, hostile, hostile, 2)
    statement = q.select(READING, "value", "site", "municipality").where(
        q.eq("site", _stored_as(hostile)), q.eq("municipality", _stored_as(hostile))
    )
    rows = influx_db.rows(statement.text)
    assert [(row["time"], row["site"], row["municipality"]) for row in rows] == [
        (2, _stored_as(hostile), _stored_as(hostile))
    ]
    # The hostile value written as a probe id in a query selects nothing and breaks nothing.
    assert influx_db.rows(q.select(READING, "value").where(q.eq("probe", hostile)).text) == []
    assert len(influx_db.query(q.ShowSeries(READING).text)[0]["values"]) == 2


_times = itertools.count(10)
tag_text = st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=24)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(site=tag_text)
def test_any_site_reads_back_through_the_query_builder(
    influx_db: InfluxDatabase, site: str
) -> None:
    time_ns = next(_times)
    _write_reading(influx_db, site, "Wurzen", time_ns)
    rows = influx_db.rows(
        q.select(READING, "value").where(q.eq("site", _stored_as(site)), q.time_ge(time_ns)).text
    )
    if _stored_as(site):
        assert [row["time"] for row in rows] == [time_ns]


def test_points_are_checked_against_the_contract() -> None:
    tags = {"probe": "LE-01", "quantity": "nitrate"}
    with pytest.raises(ContractError, match="no field 'valeu'"):
        READING.point(tags, {"valeu": 1.0, "lag_s": 0.0}, 1)
    with pytest.raises(ContractError, match="must be a float"):
        READING.point(tags, {"value": 1, "lag_s": 0.0}, 1)
    with pytest.raises(ContractError, match="lacks required"):
        READING.point(tags, {"value": 1.0}, 1)
    with pytest.raises(ContractError, match="no tag"):
        READING.point({**tags, "sensor": "x"}, {"value": 1.0, "lag_s": 0.0}, 1)


def test_statements_name_only_columns_of_their_source() -> None:
    with pytest.raises(ContractError, match="no column 'valeu'"):
        q.select(READING, "valeu")
    with pytest.raises(ContractError, match="no column 'kind'"):
        q.select(READING, "value").where(q.eq("kind", "breach"))
    inner = q.select(ALERT, q.last("state").as_("state")).group_by("probe")
    outer = q.select(inner, q.count("state")).where(q.ne("state", "resolved")).group_by("probe")
    assert outer.text == (
        'SELECT count("state") FROM (SELECT last("state") AS "state" FROM "alert" '
        'GROUP BY "probe") WHERE "state" <> \'resolved\' GROUP BY "probe"'
    )
    with pytest.raises(ContractError, match="subquery has no column 'site'"):
        q.select(inner, "site")


def test_grafana_pieces_are_validated() -> None:
    statement = (
        q.select(READING, q.mean("value").as_("nitrate"))
        .where(q.matches_variable("probe", "probe"), q.TIME_FILTER)
        .group_by(interval=q.GRAFANA_INTERVAL)
        .fill("none")
    )
    assert statement.text == (
        'SELECT mean("value") AS "nitrate" FROM "reading" WHERE "probe" =~ /^$probe$/ '
        "AND $timeFilter GROUP BY time($__interval) fill(none)"
    )
    with pytest.raises(ContractError):
        q.matches_variable("probe", "probe$/ OR 1=1")
    with pytest.raises(ContractError):
        q.select(READING, "value").group_by(interval="1h); DROP")
    with pytest.raises(ContractError):
        q.select(READING, "value").fill("none) DROP")


def test_quoting_rules() -> None:
    assert q.quote_string("it's") == "'it\\'s'"
    assert q.quote_string("a\\b\nc") == "'a\\\\b\\nc'"
    assert q.quote_identifier('say "hi"') == '"say \\"hi\\""'


def test_every_measurement_has_unique_names() -> None:
    names = [measurement.name for measurement in MEASUREMENTS]
    assert len(names) == len(set(names))
