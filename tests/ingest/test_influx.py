"""Line protocol built by gwmon reads back identically from the real InfluxDB."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwmon.ingest.devservers import InfluxDatabase, InfluxServer
from gwmon.storage import InfluxClient, InfluxSettings, Point, StoreWriteError

tag_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=20
).filter(lambda s: not s.endswith("\\") and s.strip() == s and s.strip())
field_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)


_times = itertools.count(1)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    site=tag_text,
    payload=field_text,
    value=st.floats(allow_nan=False, allow_infinity=False),
    count=st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
def test_points_round_trip_through_influxdb(
    influx_db: InfluxDatabase, site: str, payload: str, value: float, count: int
) -> None:
    client = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name))
    time_ns = next(_times)  # a fresh point per example instead of a slow DROP
    tags = {"site": site, "probe": "p"}
    client.write_points([Point("rt", tags, {"value": value, "text": payload, "n": count}, time_ns)])
    rows = client.query_rows(f"SELECT * FROM rt WHERE time = {time_ns}")
    assert len(rows) == 1
    # InfluxDB prints whole floats without a decimal point; the stored float is the same.
    assert float(rows[0]["value"]) == value
    assert (rows[0]["site"], rows[0]["text"], rows[0]["n"]) == (site, payload, count)


def test_partial_write_is_reported_as_non_retryable(influx_db: InfluxDatabase) -> None:
    client = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name))
    client.write_lines(["m,probe=a value=1.5 1"])
    with pytest.raises(StoreWriteError) as caught:
        client.write_lines(['m,probe=a value="text" 2', "m,probe=a value=2.5 3"])
    assert caught.value.partial and not caught.value.retryable
    assert [row["value"] for row in client.query_rows("SELECT value FROM m")] == [1.5, 2.5]


def test_unreachable_server_is_retryable() -> None:
    client = InfluxClient(InfluxSettings(url="http://127.0.0.1:9", database="x", timeout_s=2))
    with pytest.raises(StoreWriteError) as caught:
        client.write_lines(["m value=1 1"])
    assert caught.value.retryable


def test_ensure_database_creates_it_on_1x(influxdb: InfluxServer) -> None:
    name = influxdb.unique_name("ensure")
    client = InfluxClient(InfluxSettings(url=influxdb.url, database=name))
    client.ensure_database()
    assert client.server_version is not None and client.server_version.startswith("1.")
    assert [name] in [row for serie in client.query("SHOW DATABASES") for row in serie["values"]]


@pytest.mark.parametrize(
    ("url", "gzip", "compressed"),
    [
        ("http://127.0.0.1:8086", "auto", False),
        ("http://localhost:8086", "auto", False),
        ("http://[::1]:8086", "auto", False),
        ("https://influx.example:8086", "auto", True),
        ("http://192.0.2.7:8086", "auto", True),
        ("http://127.0.0.1:8086", True, True),
        ("https://influx.example:8086", False, False),
    ],
)
def test_writes_are_compressed_unless_influxdb_is_on_this_machine(
    url: str, gzip: bool | str, compressed: bool
) -> None:
    assert InfluxSettings(url=url, gzip=gzip).compress is compressed  # type: ignore[arg-type]


@pytest.mark.parametrize("gzip", [True, False])
def test_compressed_and_plain_writes_are_stored_alike(
    influx_db: InfluxDatabase, gzip: bool
) -> None:
    client = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name, gzip=gzip))
    client.write_lines([f"gz,probe=p value={i}.5 {i}" for i in range(1, 4)])
    rows = client.query_rows("SELECT value FROM gz")
    assert [(row["time"], row["value"]) for row in rows] == [(1, 1.5), (2, 2.5), (3, 3.5)]
