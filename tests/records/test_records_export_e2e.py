"""End to end with the real data-management commands: `gwmon corrections add` and
`gwmon approve` write the corrected series and the approvals, `gwmon export` reads them
back in ZRXP and WaterML 2.0, equal to what InfluxDB holds in `reading_corrected`."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gwmon.dashboards._export_waterml import WML2
from gwmon.ingest.devservers import InfluxDatabase
from records.records_helpers import RecordsRig, iso, make_rig

RAW = [(0, 10.0), (1, 10.1), (2, 10.2), (3, 10.3), (4, 10.4), (5, 10.5)]


@pytest.fixture
def rig(
    tmp_path: Path, influx_db: InfluxDatabase, capsys: pytest.CaptureFixture[str]
) -> RecordsRig:
    rig = make_rig(tmp_path, influx_db, capsys)
    rig.seed(RAW)
    return rig


def run(rig: RecordsRig, *argv: str) -> str:
    code, out, err = rig.gwmon(*argv)
    assert code == 0, err
    return out


def test_corrections_and_approval_come_out_of_the_exports(rig: RecordsRig) -> None:
    who = ["--by", "A. Tester", "--why", "test"]
    series = ["--probe", "P-1", "--quantity", "level"]
    run(rig, "corrections", "add", *series, "--kind", "offset", "--from", iso(1), "--to", iso(3), "--value", "0.05", *who)  # fmt: skip
    run(rig, "corrections", "add", *series, "--kind", "delete", "--from", iso(4), "--to", iso(4), *who)  # fmt: skip
    run(rig, "approve", *series, "--from", iso(0), "--to", iso(1), "--level", "approved", "--by", "C. Freigabe")  # fmt: skip
    stored = rig.corrected()
    period = ["--from", iso(0), "--to", iso(5)]
    zrxp = run(rig, "export", *series, *period, "--format", "zrxp").splitlines()
    assert zrxp[1] == "#LAYOUT(timestamp,value,status)|*|"
    # UTC+1; status: approved 2, +20 corrected; deleted -777 99; raw 0.
    assert [row.split(" ") for row in zrxp[2:]] == [
        ["20260101010000", "10", "2"],
        ["20260101020000", "10.15", "22"],
        ["20260101030000", "10.25", "20"],
        ["20260101040000", "10.35", "20"],
        ["20260101050000", "-777", "99"],
        ["20260101060000", "10.5", "0"],
    ]
    kept = [row for row in stored if not row["deleted"]]
    assert [float(row.split(" ")[1]) for row in zrxp[2:] if " -777 " not in row] == [
        row["value"] for row in kept
    ]
    root = etree.fromstring(run(rig, "export", *series, *period, "--format", "waterml2").encode())
    values = [float(str(element.text)) for element in root.iter(f"{{{WML2}}}value")]
    assert values == [row["value"] for row in kept] == [10.0, 10.15, 10.25, 10.35, 10.5]
    raw = run(rig, "export", *series, *period, "--format", "csv", "--series", "raw")
    assert [float(line.split(",")[3]) for line in raw.splitlines()[1:]] == [v for _, v in RAW]
