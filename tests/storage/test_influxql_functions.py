"""Builder additions the dashboards need: arithmetic between aggregates, percentile,
non_negative_derivative, median (texts as InfluxDB 1.x parses them)."""

from __future__ import annotations

import pytest
import requests

from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import INGEST_STATS, READING, SEQUENCE, ContractError
from gwmon.storage import influxql as q


def test_arithmetic_between_aggregates_keeps_the_written_grouping() -> None:
    expected = q.maximum("seq") - q.minimum("seq") + 1
    missing = q.maximum("seq") - q.minimum("seq") + 1 - q.count("seq")
    statement = q.select(SEQUENCE, expected.as_("expected"), missing.as_("missing"))
    assert statement.text == (
        'SELECT max("seq") - min("seq") + 1 AS "expected", '
        'max("seq") - min("seq") + 1 - count("seq") AS "missing" FROM "sequence"'
    )
    grouped = q.select(SEQUENCE, q.count("seq") - (q.maximum("seq") - q.minimum("seq")))
    assert grouped.text == 'SELECT count("seq") - (max("seq") - min("seq")) FROM "sequence"'
    scaled = q.select(SEQUENCE, (q.maximum("seq") + 1) * 2)
    assert scaled.text == 'SELECT (max("seq") + 1) * 2 FROM "sequence"'


def test_percentile_median_and_derivative() -> None:
    lag = q.select(READING, q.median("lag_s").as_("median"), q.percentile("lag_s", 95))
    assert lag.text == 'SELECT median("lag_s") AS "median", percentile("lag_s", 95) FROM "reading"'
    rate = q.select(INGEST_STATS, q.non_negative_derivative(q.maximum("received"), "1m"))
    assert rate.text == 'SELECT non_negative_derivative(max("received"), 1m) FROM "ingest_stats"'
    with pytest.raises(ContractError, match="from 0 to 100"):
        q.percentile("lag_s", 101)
    with pytest.raises(ContractError, match="needs a duration"):
        q.non_negative_derivative(q.maximum("received"), "1m) FROM x")
    with pytest.raises(ContractError, match="no column 'recieved'"):
        q.select(INGEST_STATS, q.non_negative_derivative(q.maximum("recieved"), "1m"))


def test_the_texts_run_on_influxdb(influx_db: InfluxDatabase) -> None:
    tags = {"probe": "LE-01", "site": "a", "municipality": "Leipzig"}
    lines = [
        SEQUENCE.point(tags, {"seq": seq, "lag_s": 1.0}, time_s * 10**9).to_line()
        for seq, time_s in ((1, 10), (2, 20), (4, 30))
    ]
    response = requests.post(
        f"{influx_db.url}/write",
        params={"db": influx_db.name},
        data="\n".join(lines).encode(),
        timeout=10,
    )
    assert response.status_code == 204, response.text
    missing = q.maximum("seq") - q.minimum("seq") + 1 - q.count("seq")
    rows = influx_db.rows(q.select(SEQUENCE, missing.as_("missing"), q.percentile("seq", 50)).text)
    assert [(row["missing"], row["percentile"]) for row in rows] == [(1, 2)]


def test_small_and_large_numbers_are_written_without_exponent(influx_db: InfluxDatabase) -> None:
    """InfluxQL has no exponent notation (`1e-06` parses as a duration): ns -> ms."""
    scaled = q.select(SEQUENCE, (q.Col("seq") * 0.000001).as_("milli"), q.Col("lag_s") * 1e16)
    assert scaled.text == (
        'SELECT "seq" * 0.000001 AS "milli", "lag_s" * 10000000000000000 FROM "sequence"'
    )
    tags = {"probe": "LE-01", "site": "a", "municipality": "Leipzig"}
    point = SEQUENCE.point(tags, {"seq": 2_000_000, "lag_s": 1.0}, 10 * 10**9).to_line()
    requests.post(
        f"{influx_db.url}/write", params={"db": influx_db.name}, data=point.encode(), timeout=10
    ).raise_for_status()
    assert [row["milli"] for row in influx_db.rows(scaled.text)] == [2.0]
