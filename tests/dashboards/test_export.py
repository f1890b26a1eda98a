"""`gwmon export`: ZRXP, WaterML 2.0 and CSV parsed back equal the series in InfluxDB.

The corrected series, approvals and QC flags are written straight through the contract's
point builders (as the corrections, approval and QC code write them), with hand-picked
values, so what each format must say is known exactly.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from lxml import etree

from dashboards.dash_scenario import DEMO_REGISTRY
from dashboards.test_cli import gwmon, write_config
from gwmon.dashboards._export import ExportError, collect_export
from gwmon.dashboards._export_waterml import GML, OM, SWE, WML2, XLINK
from gwmon.ingest import Registry, load_registry
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import (
    APPROVAL,
    QC,
    READING,
    READING_CORRECTED,
    FieldValue,
    InfluxClient,
    InfluxSettings,
)

NS = 1_000_000_000
T0 = 1_790_805_600  # 2026-10-01T00:00:00+02:00 = 2026-09-30T22:00:00Z
HOUR = 3600
TAGS = {"probe": "LE-01", "site": "Leipzig-Stötteritz", "municipality": "Leipzig"}
RAW = list(
    zip(
        range(T0, T0 + 6 * HOUR, HOUR), (128.1, 128.11, 128.12, 128.13, 128.14, 128.15), strict=True
    )
)
# Corrections: hours 1-2 offset +0.05, hour 3 deleted (ids c1, c2).
CORRECTED = {
    T0 + 1 * HOUR: (128.16, "c1"),
    T0 + 2 * HOUR: (128.17, "c1"),
    T0 + 3 * HOUR: (None, "c2"),
}
# Hours 0-2 approved, later steps: hour 2 set back to checked.
APPROVALS = [
    ("a1", 1, T0, T0 + 2 * HOUR, "approved"),
    ("a2", 2, T0 + 2 * HOUR, T0 + 2 * HOUR, "checked"),
]
FLAGGED = {T0 + 4 * HOUR: "spike", T0 + 5 * HOUR: "gap"}


@pytest.fixture
def export_db(influx_db: InfluxDatabase) -> InfluxDatabase:
    client = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name))
    level = {**TAGS, "quantity": "level"}
    points = [READING.point(level, {"value": v, "lag_s": 1.0}, t * NS) for t, v in RAW]
    raw = dict(RAW)
    for t, (value, ids) in CORRECTED.items():
        fields: dict[str, FieldValue] = {
            "value": raw[t] if value is None else value,
            "raw_value": raw[t],
            "deleted": value is None,
            "corrections": ids,
        }
        points.append(READING_CORRECTED.point(level, fields, t * NS))
    for index, (ident, sequence, first, last, name) in enumerate(APPROVALS):
        points.append(
            APPROVAL.point(
                {"probe": "LE-01", "quantity": "level", "level": name},
                {
                    "approval_id": ident,
                    "sequence": sequence,
                    "from_ns": first * NS,
                    "to_ns": last * NS,
                    "by": "Frau Richter",
                },
                (T0 + 100 * HOUR + index) * NS,
            )
        )
    for t, flag in FLAGGED.items():
        points.append(
            QC.point(
                {**level, "flag": flag}, {"value": raw[t], "detector": flag, "detail": "x"}, t * NS
            )
        )
    # Another quantity and another probe must not leak into the export.
    points.append(
        READING.point({**TAGS, "quantity": "depth"}, {"value": 3.7, "lag_s": 0.0}, T0 * NS)
    )
    other = {**TAGS, "probe": "LE-02", "quantity": "level"}
    points.append(READING.point(other, {"value": 1.0, "lag_s": 0.0}, T0 * NS))
    client.write_points(points)
    client.close()
    return influx_db


# time, value (None: deleted), approval level, flags, corrections
EXPECTED_CORRECTED = [
    (T0, 128.1, "approved", (), ""),
    (T0 + HOUR, 128.16, "approved", (), "c1"),
    (T0 + 2 * HOUR, 128.17, "checked", (), "c1"),
    (T0 + 3 * HOUR, None, "raw", (), "c2"),
    (T0 + 4 * HOUR, 128.14, "raw", ("spike",), ""),
    (T0 + 5 * HOUR, 128.15, "raw", ("gap",), ""),
]


def export(db: InfluxDatabase, tmp_path: Path, *options: str) -> str:
    config = write_config(tmp_path, db)
    out = tmp_path / "export.out"
    argv = ["export", "--config", str(config), "--probe", "LE-01", "--quantity", "level"]
    period = ["--from", "2026-10-01T00:00:00+02:00", "--to", "2026-10-01T05:00:00+02:00"]
    assert gwmon(*argv, *period, *options, "--out", str(out)) == 0
    return out.read_text(encoding="utf-8")


def test_the_reader_gives_corrected_values_levels_and_flags(export_db: InfluxDatabase) -> None:
    client = InfluxClient(InfluxSettings(url=export_db.url, database=export_db.name))
    registry: Registry = load_registry(DEMO_REGISTRY)
    series = collect_export(
        client, registry, "LE-01", "level", from_ns=T0 * NS, to_ns=(T0 + 5 * HOUR) * NS
    )
    got = [
        (v.time_ns // NS, v.value, v.approval_level, v.flags, v.corrections) for v in series.values
    ]
    assert got == EXPECTED_CORRECTED
    assert [v.raw_value for v in series.values] == [value for _, value in RAW]
    # --to is inclusive, --from too: one hour less on each side leaves four values.
    inner = collect_export(
        client, registry, "LE-01", "level", from_ns=(T0 + HOUR) * NS, to_ns=(T0 + 4 * HOUR) * NS
    )
    assert [v.time_ns // NS for v in inner.values] == [T0 + i * HOUR for i in range(1, 5)]
    raw = collect_export(
        client, registry, "LE-01", "level", from_ns=T0 * NS, to_ns=T0 * NS + 5 * HOUR * NS,
        series="raw",
    )  # fmt: skip
    assert [(v.value, v.corrections) for v in raw.values] == [(value, "") for _, value in RAW]
    with pytest.raises(ExportError, match="probe 'XX-9' is not in the registry"):
        collect_export(client, registry, "XX-9", "level", from_ns=0, to_ns=1)
    with pytest.raises(ExportError, match="quantity 'pegel' is not one of nitrate, level"):
        collect_export(client, registry, "LE-01", "pegel", from_ns=0, to_ns=1)
    client.close()


def test_zrxp_header_and_rows(export_db: InfluxDatabase, tmp_path: Path) -> None:
    text = export(export_db, tmp_path, "--format", "zrxp")
    lines = text.splitlines()
    assert lines[0] == (
        "#ZRXPVERSION3014.03|*|ZRXPCREATORgwmon|*|SANRLE-01|*|SNAMELeipzig-Stötteritz|*|CNAMElevel|*|CUNITm|*|"
        "RINVAL-777|*|TZUTC+1|*|"
    )
    assert lines[1] == "#LAYOUT(timestamp,value,status)|*|"
    rows = [line.split(" ") for line in lines[2:]]
    # UTC+1: 2026-09-30T22:00Z is 23:00 MEZ. Status: approval 0/1/2, +10 suspect,
    # +20 corrected; deleted: RINVAL with 99; `gap` is informational, not suspect.
    assert rows == [
        ["20260930230000", "128.1", "2"],
        ["20261001000000", "128.16", "22"],
        ["20261001010000", "128.17", "21"],
        ["20261001020000", "-777", "99"],
        ["20261001030000", "128.14", "10"],
        ["20261001040000", "128.15", "0"],
    ]
    raw = export(export_db, tmp_path, "--format", "zrxp", "--series", "raw").splitlines()[2:]
    assert [row.split(" ")[1] for row in raw] == [repr(value) for _, value in RAW]


NSMAP = {"wml2": WML2, "gml": GML, "om": OM, "swe": SWE, "xlink": XLINK}


def _structure(element: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in element]


def _one(element: etree._Element, path: str) -> etree._Element:
    (found,) = element.findall(path, NSMAP)
    return found


def _qualifiers(metadata: etree._Element) -> list[tuple[str, str]]:
    return [
        (
            str(category.get("definition")).rsplit(":", 1)[1],
            str(category.findtext("swe:value", namespaces=NSMAP)),
        )
        for category in metadata.findall("wml2:qualifier/swe:Category", NSMAP)
    ]


def _tvp(tvp: etree._Element) -> tuple[str, float, str, list[tuple[str, str]]]:
    assert _structure(tvp) == ["time", "value", "metadata"]
    metadata = _one(tvp, "wml2:metadata/wml2:TVPMeasurementMetadata")
    assert _structure(metadata)[0] == "quality"
    quality = str(_one(metadata, "wml2:quality").get(f"{{{XLINK}}}href"))
    return (
        str(tvp.findtext("wml2:time", namespaces=NSMAP)),
        float(str(tvp.findtext("wml2:value", namespaces=NSMAP))),
        quality.rsplit("/", 1)[1],
        _qualifiers(metadata),
    )


def test_waterml2_measurement_timeseries(export_db: InfluxDatabase, tmp_path: Path) -> None:
    text = export(export_db, tmp_path, "--format", "waterml2")
    root = etree.fromstring(text.encode("utf-8"))
    assert etree.QName(root) == etree.QName(WML2, "Collection")
    assert _structure(root) == ["metadata", "observationMember"]
    observation = _one(root, "wml2:observationMember/om:OM_Observation")
    # om:OM_Observation's content in the order of the O&M 2.0 schema.
    assert _structure(observation) == [
        "phenomenonTime", "resultTime", "procedure", "observedProperty",
        "featureOfInterest", "result",
    ]  # fmt: skip
    timeseries = _one(observation, "om:result/wml2:MeasurementTimeseries")
    assert timeseries.get(f"{{{GML}}}id") == "timeseries.LE-01.level"
    assert _structure(timeseries)[0] == "defaultPointMetadata"
    default = _one(timeseries, "wml2:defaultPointMetadata/wml2:DefaultTVPMeasurementMetadata")
    assert _structure(default) == ["uom", "interpolationType"]
    assert _one(default, "wml2:uom").get("code") == "m"
    ids = [element.get(f"{{{GML}}}id") for element in root.iter() if element.get(f"{{{GML}}}id")]
    assert len(ids) == len(set(ids)) == 6
    points = timeseries.findall("wml2:point/wml2:MeasurementTVP", NSMAP)
    kept = [row for row in EXPECTED_CORRECTED if row[1] is not None]  # deleted: left out
    assert len(points) == len(kept) == 5
    assert [_tvp(tvp) for tvp in points] == [
        ("2026-09-30T22:00:00Z", 128.1, "good", [("approval-level", "approved")]),
        ("2026-09-30T23:00:00Z", 128.16, "good",
         [("approval-level", "approved"), ("corrected", "c1")]),
        ("2026-10-01T00:00:00Z", 128.17, "good",
         [("approval-level", "checked"), ("corrected", "c1")]),
        ("2026-10-01T02:00:00Z", 128.14, "suspect",
         [("approval-level", "raw"), ("qc-flag", "spike")]),
        ("2026-10-01T03:00:00Z", 128.15, "unchecked",
         [("approval-level", "raw"), ("qc-flag", "gap")]),
    ]  # fmt: skip
    assert [value for _, value, _, _ in map(_tvp, points)] == [row[1] for row in kept]


def test_csv_for_spreadsheets(export_db: InfluxDatabase, tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(export(export_db, tmp_path, "--format", "csv"))))
    assert [
        (r["time"], r["value"], r["raw_value"], r["approval_level"], r["qc_flags"], r["deleted"])
        for r in rows
    ] == [
        ("2026-09-30T22:00:00Z", "128.1", "128.1", "approved", "", "false"),
        ("2026-09-30T23:00:00Z", "128.16", "128.11", "approved", "", "false"),
        ("2026-10-01T00:00:00Z", "128.17", "128.12", "checked", "", "false"),
        ("2026-10-01T01:00:00Z", "", "128.13", "raw", "", "true"),
        ("2026-10-01T02:00:00Z", "128.14", "128.14", "raw", "spike", "false"),
        ("2026-10-01T03:00:00Z", "128.15", "128.15", "raw", "gap", "false"),
    ]
    assert {r["unit"] for r in rows} == {"m"}


def test_export_errors_exit_2(
    export_db: InfluxDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, export_db)
    base = ["export", "--config", str(config), "--quantity", "level", "--format", "csv"]
    naive = ["--from", "2026-10-01T00:00:00", "--to", "2026-10-02T00:00:00+02:00"]
    assert gwmon(*base, "--probe", "LE-01", *naive) == 2
    assert "--from '2026-10-01T00:00:00' has no UTC offset" in capsys.readouterr().err
    period = ["--from", "2026-10-02T00:00:00Z", "--to", "2026-10-01T00:00:00Z"]
    assert gwmon(*base, "--probe", "LE-01", *period) == 2
    assert "--to is before --from" in capsys.readouterr().err
    assert gwmon(*base, "--probe", "NOPE", *period) == 2
    assert re.search(r"probe 'NOPE' is not in the registry", capsys.readouterr().err)
