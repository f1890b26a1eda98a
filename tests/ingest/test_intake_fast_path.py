"""The intake with the plain paths against the intake with the careful decoder alone: the
same lines in the batch (readings, sequence marks, rejections with their reason, detail
and kept record), the same counters and the same readings for the observers."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwmon.ingest._batch import Batch
from gwmon.ingest._config import GwmonConfig, load_config
from gwmon.ingest._intake import Intake
from gwmon.ingest._registry import load_registry
from gwmon.ingest._storage import IngestCounters, reading_point
from pack_strategies import PROBE, column_pack, pack_text, plain_pack

REPO = Path(__file__).resolve().parents[2]
NOW = 1_764_140_400.123457  # lags with a fraction of a second
TOPIC = f"gw/v1/{PROBE}/data"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> GwmonConfig:
    folder = tmp_path_factory.mktemp("intake")
    registry = (REPO / "examples" / "registry-wertvoll.csv").read_text(encoding="utf-8")
    (folder / "registry.csv").write_text(registry, encoding="utf-8")
    path = folder / "gwmon.toml"
    path.write_text('[registry]\npath = "registry.csv"\n', encoding="utf-8")
    return load_config(path)


def _take(config: GwmonConfig, payloads: list[bytes]) -> tuple[Intake, Batch]:
    intake = Intake(config, load_registry(config.registry_path), IngestCounters())
    batch = Batch()
    for payload in payloads:
        intake.take(TOPIC, payload, NOW, batch)
    return intake, batch


def _careful_only(config: GwmonConfig, payloads: list[bytes]) -> tuple[Intake, Batch]:
    with mock.patch("gwmon.ingest._pack._decode_plain", return_value=None) as plain:
        taken = _take(config, payloads)
    assert plain.call_count > 0 or not payloads  # the patch is where the intake looks
    return taken


@settings(max_examples=600, deadline=None)
@given(
    payloads=st.lists(st.one_of(pack_text(), plain_pack(), column_pack(twisted=True)), max_size=4)
)
def test_the_plain_paths_store_what_the_careful_decoder_stores(
    config: GwmonConfig, payloads: list[bytes]
) -> None:
    fast, fast_batch = _take(config, payloads)
    careful, careful_batch = _careful_only(config, payloads)
    assert fast_batch.lines == careful_batch.lines
    assert fast_batch.reading_count == careful_batch.reading_count
    assert fast_batch.stored_readings({}) == careful_batch.stored_readings({})
    assert fast.counters == careful.counters
    assert fast.rejected_by_reason == careful.rejected_by_reason
    # Each reading's line is the line of its point (`Point.to_line`, the contract's one
    # way from a reading to text), made from the careful decoder's readings.
    probe = careful.registry.get(PROBE)
    assert probe is not None
    for first, columns in careful_batch.packs:
        lines = fast_batch.lines[first : first + len(columns)]
        assert lines == [reading_point(probe, reading).to_line() for reading in columns.readings()]


def test_the_intake_takes_the_column_pass_for_the_bench_layout(config: GwmonConfig) -> None:
    # The bench's packs: the intake's result comes from the column pass, and is the same.
    payload = (
        b'[{"bn":"LE-07:","bt":1764000000,"n":"nitrate","u":"mg/L","v":20.3},'
        b'{"n":"level","u":"m","v":137.25},{"t":3600,"n":"nitrate","u":"mg/L","v":20.4},'
        b'{"t":3600,"n":"conductivity","u":"uS/cm","v":601}]'
    )
    with mock.patch(
        "gwmon.ingest._pack._by_records", side_effect=AssertionError("not the column pass")
    ):
        _, fast_batch = _take(config, [payload])
    _, careful_batch = _careful_only(config, [payload])
    assert fast_batch.lines == careful_batch.lines
    assert len(fast_batch.lines) == 4
    head, lag = fast_batch.lines[3].split(",lag_s=")
    assert head.endswith(",quantity=conductivity,site=Leipzig-Probstheida value=601.0")
    assert lag.startswith("136800.12") and lag.endswith(" 1764003600000000000")
