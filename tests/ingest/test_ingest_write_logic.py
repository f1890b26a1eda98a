"""Unit tests of the ingest's write logic with fake stores (logic only; the real server
paths are in test_ingest_store_refusals.py and test_ingest_service.py)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.ingest import IngestService, load_config, load_registry
from gwmon.ingest._batch import Batch
from gwmon.ingest._pack import PackColumns
from gwmon.ingest._writes import WriteBehind
from gwmon.storage import StoreWriteError, StoreWriter, WriteResult, body_of

REPO_ROOT = Path(__file__).resolve().parents[2]


class LineRefusingStore:
    """Refuses, like InfluxDB's HTTP 400 'unable to parse', any batch with a BAD line."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.requests = 0

    def write_lines(self, lines: Sequence[str]) -> None:
        self.requests += 1
        if any(line.startswith("BAD") for line in lines):
            raise StoreWriteError("unable to parse 'BAD'", retryable=False, status=400)
        self.written.extend(lines)

    def close(self) -> None:
        pass


class ConflictStore:
    """Like InfluxDB 1.x on a field type conflict: keeps the good lines of a write and
    answers 400 "partial write: ... dropped=N" for the others (those marked REFUSED)."""

    def __init__(self) -> None:
        self.stored: dict[str, str] = {}  # series + time -> the line written last
        self.requests = 0

    def write_lines(self, lines: Sequence[str]) -> None:
        self.requests += 1
        dropped = 0
        for line in lines:
            if "REFUSED" in line:
                dropped += 1
            else:
                series, _, rest = line.partition(" ")
                self.stored[f"{series} {rest.rpartition(' ')[2]}"] = line
        if dropped:
            raise StoreWriteError(
                f"partial write: field type conflict dropped={dropped}",
                retryable=False,
                partial=True,
                status=400,
                dropped=dropped,
            )

    def close(self) -> None:
        pass


def make_service(tmp_path: Path, store: object) -> IngestService:
    (tmp_path / "gwmon.toml").write_text(
        f'[registry]\npath = "{REPO_ROOT / "examples" / "registry-wertvoll.csv"}"\n'
    )
    config = load_config(tmp_path / "gwmon.toml")
    return IngestService(config, load_registry(config.registry_path), store=store)  # type: ignore[arg-type]


def test_a_line_influxdb_cannot_parse_is_isolated_and_the_rest_is_written(tmp_path: Path) -> None:
    store = LineRefusingStore()
    service = make_service(tmp_path, store)
    lines = [f"m value={i} {i}" for i in range(16)]
    lines[5] = "BAD line"
    service._batch.lines.extend(lines)
    service._flush()
    good = [line for line in lines if "BAD" not in line]
    refusals = [line for line in store.written if line.startswith("rejected,")]
    assert [line for line in store.written if line.startswith("m ")] == good
    assert len(refusals) == 1 and "store_refused" in refusals[0] and "BAD line" in refusals[0]
    # The batch, then the BAD line alone: it sorts apart (another measurement, no time).
    assert service.counters.write_errors == 2
    assert service.rejected_by_reason == {"store_refused": 1}
    assert service.counters.store_refused == 1


def test_a_wholly_refused_batch_costs_one_request(tmp_path: Path) -> None:
    store = ConflictStore()
    lines = [f"reading,probe=P value=1.5,x=REFUSED {i}" for i in range(5000)]
    assert StoreWriter(store, writer="test").write(
        lines, record_refusals=False
    ).refused == dict.fromkeys(range(5000), "partial write: field type conflict dropped=5000")
    assert store.requests == 1


def test_a_refused_week_among_stored_ones_is_found_with_few_requests(tmp_path: Path) -> None:
    # Arrival order interleaves two probes; one's readings fall into a conflicting shard.
    store = ConflictStore()
    lines = []
    for i in range(2500):
        lines.append(f"reading,probe=A value=1.5 {1_000_000 + i}")
        lines.append(f"reading,probe=B value=1.5,x=REFUSED {5_000_000 + i}")
    refused = StoreWriter(store, writer="test").write(lines, record_refusals=False).refused
    assert sorted(refused) == list(range(1, 5000, 2))
    assert len(store.stored) == 2500
    assert store.requests <= 3  # the batch, then each sorted half once


def test_refused_days_among_stored_ones_cost_at_most_two_requests_per_day(
    tmp_path: Path,
) -> None:
    store = ConflictStore()
    days = 20
    lines = [
        f"reading,probe=P{i % 7} value=1.5{',x=REFUSED' if (i % days) % 2 else ''} "
        f"{(i % days) * DAY_NS + i}"
        for i in range(5000)
    ]
    refused = StoreWriter(store, writer="test").write(lines, record_refusals=False).refused
    assert sorted(refused) == [i for i in range(5000) if (i % days) % 2]
    assert store.requests <= 2 * days - 1  # at most every node of a tree over the days


DAY_NS = 86_400 * 1_000_000_000


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["reading", "sequence"]),
            st.integers(0, 3),
            st.integers(0, 3),
            st.integers(0, 40),
            st.booleans(),
            st.integers(0, 9),
        ),
        min_size=1,
        max_size=120,
    )
)
def test_exactly_the_refused_lines_are_reported_and_the_last_write_of_a_point_wins(
    tmp_path_factory: pytest.TempPathFactory,
    entries: list[tuple[str, int, int, int, bool, int]],
) -> None:
    store = ConflictStore()
    lines = [
        f"{measurement},probe=P{probe} value={value}.5{',x=REFUSED' if bad else ''} "
        f"{day * DAY_NS + time}"
        for measurement, probe, day, time, bad, value in entries
    ]
    refused = StoreWriter(store, writer="test").write(lines, record_refusals=False).refused
    assert set(refused) == {i for i, entry in enumerate(entries) if entry[4]}
    expected: dict[str, str] = {}
    for line in lines:  # what a single successful write in arrival order would leave
        if "REFUSED" not in line:
            series, _, rest = line.partition(" ")
            expected[f"{series} {rest.rpartition(' ')[2]}"] = line
    assert store.stored == expected


class BodyLimitStore(LineRefusingStore):
    """Like InfluxDB's max-body-size: a request of more than `limit` lines is HTTP 413."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.sizes: list[int] = []

    def write_lines(self, lines: Sequence[str]) -> None:
        if len(lines) > self.limit:
            raise StoreWriteError("HTTP 413: Request Entity Too Large", retryable=False, status=413)
        self.sizes.append(len(lines))
        super().write_lines(lines)


def _write_once(writes: WriteBehind, batch: Batch) -> WriteResult:
    """Write `batch` through `writes`, wait for it, close; what the store refused."""
    try:
        writes.start(batch)
        done = writes.wait()
    finally:
        writes.close()
    assert done is not None
    written, result = done
    assert written is batch
    return result


def test_a_batch_grown_during_a_slow_write_goes_out_in_requests_of_at_most_batch_size() -> None:
    # While a write is in flight the next batch keeps filling; one request for all of it
    # outgrew InfluxDB's body limit (HTTP 413, retried for ever) in the side-by-side bench.
    store = BodyLimitStore(limit=1000)
    # should_stop: a refused request raises StoreUnavailable instead of being retried.
    writer = StoreWriter(store, writer="test", should_stop=lambda: True)
    writes = WriteBehind(writer, max_lines=1000)
    batch = Batch(lines=[f"m value={i} {i}" for i in range(2500)])
    batch.lines[1700] = "BAD line"
    result = _write_once(writes, batch)
    assert dict(result.refused) == {1700: "unable to parse 'BAD'"}  # the batch's own index
    good = [line for line in batch.lines if line != "BAD line"]
    assert [line for line in store.written if line.startswith("m ")] == good
    assert max(store.sizes) <= 1000


def _probes_of_two_writers() -> tuple[str, str]:
    """Two probe ids whose readings go to different writers of two."""
    ids = [f"P-{number:02d}" for number in range(10)]
    first = next(i for i in ids if zlib.crc32(i.encode()) % 2 == 0)
    second = next(i for i in ids if zlib.crc32(i.encode()) % 2 == 1)
    return first, second


def _pack(probe: str, count: int, start: int) -> tuple[PackColumns, list[str]]:
    columns = PackColumns(probe, 0)
    for index in range(count):
        columns.append("nitrate", start + index, 1.0, "nitrate", False)
    return columns, [f"reading,probe={probe} value=1.0 {start + index}" for index in range(count)]


def test_a_large_batch_is_split_by_probe_over_the_writers_and_refusals_keep_batch_indices() -> None:
    zero, one = _probes_of_two_writers()
    stores = [BodyLimitStore(limit=3), BodyLimitStore(limit=3)]
    writers = [StoreWriter(store, writer="test", should_stop=lambda: True) for store in stores]
    writes = WriteBehind(writers[0], max_lines=3, more_writers=writers[1:], min_split_lines=4)
    batch = Batch()
    for probe, count, start in ((zero, 2, 100), (one, 4, 200), (zero, 2, 300), (one, 1, 400)):
        columns, lines = _pack(probe, count, start)
        if probe == one and start == 200:
            lines[2] = "BAD line"  # refused: its index in the batch must come back
        batch.add_readings(columns, lines)
        batch.lines.append(f"sequence,probe={probe} seq={start}i {start}")
    result = _write_once(writes, batch)
    assert batch.lines[5] == "BAD line"
    assert dict(result.refused) == {5: "unable to parse 'BAD'"}
    # Every reading of a probe with one writer, in batch order; the other lines with the
    # first writer; every request within max_lines. The refusal is recorded once, by the
    # first writer (the times of `rejected` points are unique per writer).
    parts = [
        [line for line in store.written if not line.startswith("rejected,")] for store in stores
    ]
    recorded = [line for line in stores[0].written if line.startswith("rejected,")]
    assert len(recorded) == 1
    assert 'payload="BAD line"' in recorded[0]
    assert not any(line.startswith("rejected,") for line in stores[1].written)
    assert all(f"probe={zero} " in line or "sequence" in line for line in parts[0])
    assert all(f"probe={one} " in line for line in parts[1])
    good = [line for line in batch.lines if line != "BAD line"]
    assert sorted(parts[0] + parts[1]) == sorted(good)
    for part in parts:
        assert part == [line for line in good if line in part]
    assert max(stores[0].sizes + stores[1].sizes) <= 3


def test_a_small_batch_or_one_of_a_single_writer_s_probes_is_not_split() -> None:
    zero, _ = _probes_of_two_writers()
    stores = [LineRefusingStore(), LineRefusingStore()]
    writers = [StoreWriter(store, writer="test") for store in stores]
    writes = WriteBehind(writers[0], max_lines=100, more_writers=writers[1:], min_split_lines=4)
    batch = Batch()
    for start in (100, 200, 300):
        batch.add_readings(*_pack(zero, 2, start))
    try:
        writes.start(batch)
        assert writes.wait() is not None
    finally:
        writes.close()
    assert stores[0].written == batch.lines
    assert stores[0].requests == 1
    assert stores[1].requests == 0


class BodyStore:
    """Keeps the body of every request as InfluxDB reads it (`body_of`: a LineBuffer's
    blocks as they are, a list line by line), split back into lines."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []

    def write_lines(self, lines: Sequence[str]) -> None:
        body = body_of(lines).decode()
        assert body.endswith("\n") or not body
        self.requests.append(body.split("\n")[:-1])

    def close(self) -> None:
        pass


def _requests_of(batch: Batch, writers: int, max_lines: int) -> list[list[list[str]]]:
    stores = [BodyStore() for _ in range(writers)]
    store_writers = [StoreWriter(store, writer="test") for store in stores]
    writes = WriteBehind(
        store_writers[0], max_lines=max_lines, more_writers=store_writers[1:], min_split_lines=4
    )
    _write_once(writes, batch)
    return [store.requests for store in stores]


@settings(max_examples=200, deadline=None)
@given(
    messages=st.lists(
        st.tuples(st.sampled_from(["P-00", "P-01", "Grünau"]), st.integers(0, 7), st.booleans()),
        max_size=12,
    ),
    writers=st.integers(1, 2),
    max_lines=st.integers(1, 9),
)
def test_a_batch_of_blocks_sends_the_requests_of_its_lines_one_by_one(
    messages: list[tuple[str, int, bool]], writers: int, max_lines: int
) -> None:
    # The ingest's batches hold each message's reading lines as one block of text
    # (`add_readings(columns, bytes)`); every request, cut by max_lines and split over
    # the writers, must carry the lines the same batch made of single lines carries.
    blocks, single = Batch(), Batch()
    for number, (probe, count, sequence_mark) in enumerate(messages):
        columns, lines = _pack(probe, count, 100 * number)
        lines = [line.replace("value=1.0", f"value={number}.5,lag_s=0.25 ü") for line in lines]
        blocks.add_readings(columns, "".join(f"{line}\n" for line in lines).encode())
        single.add_readings(columns, lines)
        if sequence_mark:
            for batch in (blocks, single):
                batch.lines.append(f"sequence,probe={probe} seq={number}i {number}")
    if single.lines:
        single.lines[0] = single.lines[0]  # a plain list of lines from here on
    assert list(blocks.lines) == list(single.lines)
    assert blocks.reading_count == single.reading_count
    assert _requests_of(blocks, writers, max_lines) == _requests_of(single, writers, max_lines)
