"""A write whose times are all whole seconds goes to InfluxDB with `precision=s` and the
times in seconds: the real server stores exactly the points of the nanosecond lines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwmon.ingest.devservers import InfluxDatabase, InfluxServer
from gwmon.storage import READING, REJECTED, InfluxClient, InfluxSettings
from gwmon.storage._client import _request_text

NS = 1_000_000_000
QUANTITIES = ["nitrate", "level", "temperature", "conductivity", "depth", "pressure_abs"]
TAGS = {"probe": "LE-07", "site": "Leipzig-Stötteritz", "municipality": "Leipzig"}


def _reading(quantity: str, value: float, time_ns: int) -> str:
    fields = {"value": value, "lag_s": 0.5}
    return READING.point({**TAGS, "quantity": quantity}, fields, time_ns).to_line()


def _stored(database: InfluxDatabase, measurement: str) -> list[list[object]]:
    series = database.query(f'SELECT * FROM "{measurement}" GROUP BY * ORDER BY time')
    return sorted([[*serie["tags"].values(), *row] for serie in series for row in serie["values"]])


@pytest.mark.servers
def test_whole_second_writes_store_the_same_points(influxdb: InfluxServer) -> None:
    seconds = [1_764_140_000, 1_764_140_000 + 3600, 10**9, 2**28]
    values = [20.3, 1e-05, 5e-324, 1.7976931348623157e308, -0.0, 123456789.12345679]
    lines = [
        _reading(quantity, value, second * NS)
        for second in seconds
        for quantity, value in zip(QUANTITIES, values, strict=True)
    ]
    assert _request_text(lines)[1] == "s"
    fast = influxdb.new_database()
    reference = influxdb.new_database()
    client = InfluxClient(InfluxSettings(url=fast.url, database=fast.name))
    try:
        client.write_lines(lines)
    finally:
        client.close()
    reference_client = InfluxClient(InfluxSettings(url=reference.url, database=reference.name))
    try:
        for line in lines:  # a sub-second point in each request: written in ns
            reference_client.write_lines([line, _reading("battery", 1.0, 7)])
    finally:
        reference_client.close()
    stored = _stored(fast, "reading")
    assert len(stored) == len(lines)
    expected = [row for row in _stored(reference, "reading") if "battery" not in row]
    assert stored == expected
    # the times in ns and the values as written (InfluxDB's JSON writes shortest floats)
    assert sorted({int(str(row[-3])) for row in stored}) == [s * NS for s in sorted(seconds)]
    assert {float(str(row[-1])) for row in stored} == set(values)


def test_requests_with_a_sub_second_time_or_a_newline_in_a_line_stay_in_ns() -> None:
    whole = _reading("nitrate", 20.3, 1_764_140_000 * NS)
    sub = _reading("nitrate", 20.3, 1_764_140_000 * NS + 1)
    kept = REJECTED.point(
        {"reason": "invalid_json", "probe": "LE-07", "ingestor": "gwmon"},
        {"topic": "t", "payload": "x 000000000\nmore", "detail": "d", "payload_bytes": 5},
        1_764_140_000 * NS + 5,
    ).to_line()
    assert _request_text([whole, whole]) == (f"{whole[:-9]}\n{whole[:-9]}\n", "s")
    assert _request_text([whole, sub]) == (f"{whole}\n{sub}\n", "ns")
    # the kept payload's newline makes the match count equal the line count: still ns
    assert _request_text([whole, kept]) == (f"{whole}\n{kept}\n", "ns")
    assert _request_text([_reading("level", 1.0, 10 * NS)])[0].endswith(" 10\n")


@given(times=st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=20))
def test_the_request_text_is_the_lines_at_either_precision(times: list[int]) -> None:
    lines = [_reading("level", 1.5, time_ns) for time_ns in times]
    text, precision = _request_text(lines)
    factor = NS if precision == "s" else 1
    whole = all(time_ns % NS == 0 and time_ns != 0 for time_ns in times)  # "0": ns
    assert precision == ("s" if whole else "ns")
    sent = text.split("\n")
    assert sent.pop() == ""
    assert [int(line.rpartition(" ")[2]) * factor for line in sent] == times
    assert [line.rpartition(" ")[0] for line in sent] == [line.rpartition(" ")[0] for line in lines]
