"""`corrected_series`, the Python reader of the corrected series (report, exports, trend
test): corrected values, QC flags of the raw readings carried over, approval levels."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwmon.analytics.records import ApprovalLevel, corrected_series
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import QC, FieldValue
from records.records_helpers import RecordsRig, at, iso, make_rig


@pytest.fixture
def rig(
    tmp_path: Path, influx_db: InfluxDatabase, capsys: pytest.CaptureFixture[str]
) -> RecordsRig:
    rig = make_rig(tmp_path, influx_db, capsys)
    rig.seed([(h, 110.0 + h / 100) for h in range(5)])
    return rig


def test_reader_gives_corrected_values_flags_and_levels(rig: RecordsRig) -> None:
    tags = {"probe": "P-1", "site": "S", "municipality": "Thallwitz", "quantity": "level"}
    client = rig.client()
    try:
        flag: dict[str, FieldValue] = {"value": 110.03, "detector": "spike", "detail": "jump"}
        client.write_lines(
            [
                QC.point({**tags, "flag": "spike"}, flag, at(3)).to_line(),
                QC.point({**tags, "flag": "range"}, flag, at(3)).to_line(),
            ]
        )
        assert corrected_series(client, "P-1", "level", at(0), at(4))[1].corrections == ()
        series = ("--probe", "P-1", "--quantity", "level")
        assert rig.gwmon(
            "corrections", "add", *series, "--kind", "offset", "--from", iso(1), "--to", iso(3),
            "--value", "0.5", "--by", "A", "--why", "w",
        )[0] == 0  # fmt: skip
        assert rig.gwmon(
            "corrections", "add", *series, "--kind", "delete", "--from", iso(2), "--to", iso(2),
            "--by", "A", "--why", "w",
        )[0] == 0  # fmt: skip
        assert rig.gwmon(
            "approve", *series, "--from", iso(0), "--to", iso(1), "--level", "checked",
            "--by", "C",
        )[0] == 0  # fmt: skip
        points = corrected_series(client, "P-1", "level", at(0), at(4))
        assert [(p.time_ns, p.value, p.raw_value) for p in points] == [
            (at(0), 110.0, 110.0),
            (at(1), 110.51, 110.01),
            (at(3), 110.53, 110.03),
            (at(4), 110.04, 110.04),
        ]
        assert [p.flags for p in points] == [(), (), ("range", "spike"), ()]
        assert [p.level for p in points] == [
            ApprovalLevel.CHECKED,
            ApprovalLevel.CHECKED,
            ApprovalLevel.RAW,
            ApprovalLevel.RAW,
        ]
        assert points[1].corrections == ("P-1.level.c1",)
        everything = corrected_series(client, "P-1", "level", at(0), at(4), include_deleted=True)
        assert [(p.time_ns, p.deleted) for p in everything][2] == (at(2), True)
        # Equal to what is stored in reading_corrected.
        stored = [(r["time"], r["value"]) for r in rig.corrected() if not r["deleted"]]
        assert stored == [(p.time_ns, p.value) for p in points]
    finally:
        client.close()
