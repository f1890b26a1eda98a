"""`gwmon import` against the real InfluxDB: exact stored values through the decoder's
rules, bad rows reported by line and skipped, re-import idempotent, the Excel variant
(`;`, decimal comma, BOM, CRLF), censored values, and analytics seeing what was stored."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gwmon.ingest import load_config, load_registry
from gwmon.ingest._import import Importer, ImportSummary
from gwmon.ingest._import_csv import RowProblem, time_literal, value_field
from gwmon.ingest.cli import ImportProblems, describe_import
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import InfluxClient
from ingest_helpers import DEMO_REGISTRY, REPO_ROOT

NS = 1_000_000_000
T0 = 1_764_140_400  # 2025-11-26T07:00:00Z

GOOD = f"""probe,time,quantity,value,unit
LE-07,2025-11-26T07:00:00Z,nitrate_n,10,mg/L
LE-07,2025-11-26T07:00:00Z,depth,8.13,m
LE-07,2025-11-26T09:00:00+01:00,nitrate,<0.5,mg/L
LE-01,{T0 + 3600},temperature,285.15,K
LE-01,2025-11-26T08:00:00.25Z,conductivity,0.0612,S/m
"""


def config_file(tmp_path: Path, database: InfluxDatabase, analytics: bool = False) -> Path:
    path = tmp_path / "gwmon.toml"
    path.write_text(
        f'[influxdb]\nurl = "{database.url}"\ndatabase = "{database.name}"\n'
        f'[registry]\npath = "{DEMO_REGISTRY}"\n'
        f"[analytics]\nenabled = {'true' if analytics else 'false'}\n"
        f'state_dir = "{tmp_path / "state"}"\n'
    )
    return path


def gwmon_import(config: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gwmon.cli", "import", "--config", str(config), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )


def stored(database: InfluxDatabase) -> dict[tuple[str, str, int], Any]:
    rows = database.rows("SELECT value, censored FROM reading GROUP BY probe, quantity")
    return {
        (row["probe"], row["quantity"], row["time"]): (row["value"], row["censored"])
        for row in rows
    }


def test_a_file_is_stored_with_the_decoders_exact_values(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    data = tmp_path / "export.csv"
    data.write_text(GOOD, encoding="utf-8")
    result = gwmon_import(config_file(tmp_path, influx_db), data)
    assert result.returncode == 0, result.stderr
    assert ": 5 rows in " in result.stdout and "; 6 readings stored" in result.stdout
    assert "no row skipped" in result.stdout
    assert stored(influx_db) == {
        ("LE-07", "nitrate", T0 * NS): (44.27, None),  # 10 mg/L NO3-N x 4.427
        ("LE-07", "depth", T0 * NS): (8.13, None),
        ("LE-07", "level", T0 * NS): (135.27, None),  # ground level 143.4 m NHN - 8.13 m
        ("LE-07", "nitrate", (T0 + 3600) * NS): (0.5, True),  # below the LOQ of 0.5 mg/L
        ("LE-01", "temperature", (T0 + 3600) * NS): (12.0, None),
        ("LE-01", "conductivity", (T0 + 3600) * NS + NS // 4): (612.0, None),
    }


def test_bad_rows_are_reported_with_their_line_and_the_others_are_stored(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    data = tmp_path / "export.csv"
    data.write_bytes(
        b"probe,time,quantity,value,unit\n"
        b"LE-02,2025-11-26T07:00:00Z,nitrate,41.8,mg/L\n"  # line 2: good
        b"XX-99,2025-11-26T07:00:00Z,nitrate,41.8,mg/L\n"  # 3: not in the registry
        b"LE-02,yesterday,nitrate,41.8,mg/L\n"  # 4: no time
        b"LE-02,2025-11-26T08:00:00,nitrate,41.8,mg/L\n"  # 5: no offset, no --timezone
        b"LE-02,2025-11-26T09:00:00Z,nitrate,4x,mg/L\n"  # 6: not a number
        b"LE-02,2025-11-26T10:00:00Z,nitrate,41.8,ppm\n"  # 7: unknown unit
        b"LE-02,2025-11-26T11:00:00Z,colour,3,mg/L\n"  # 8: unknown quantity
        b"LE-02,2125-11-26T11:00:00Z,nitrate,41.8,mg/L\n"  # 9: in the future
        b"LE-02,2025-11-26T12:00:00Z,nitrate," + b"9" * 4301 + b",mg/L\n"  # 10: too long
        b"LE-02,2025-11-26T13:00:00Z,level,1" + b"0" * 20 + b",m\n"  # 11: out of range
        b"LE-02,2025-11-26T14:00:00Z,temperature,<0.5,Cel\n"  # 12: only nitrate is censored
        b"LE-02,2025-11-26T15:00:00Z,nitrate,41.8\n"  # 13: a field missing
        b"LE-02,2025-11-26T16:00:00Z,nitrate,\xff,mg/L\n"  # 14: not UTF-8
        b"LE-02,2025-11-26T17:00:00Z,nitrate,42.5,mg/L\n"  # 15: good
    )
    errors = tmp_path / "errors.csv"
    result = gwmon_import(config_file(tmp_path, influx_db), data, "--errors", errors)
    assert result.returncode == 1, result.stderr
    # The header is not a row. (A bare `"15 rows" not in stdout` also matched the rate,
    # e.g. "(215 rows/s)", and failed now and then.)
    assert ": 14 rows in " in result.stdout and "12 rows skipped" in result.stdout
    with errors.open(encoding="utf-8") as handle:
        reported = [(int(row["line"]), row["reason"]) for row in csv.DictReader(handle)]
    assert sorted(reported) == [
        (3, "unknown_probe"),
        (4, "bad_time"),
        (5, "bad_time"),
        (6, "bad_value"),
        (7, "unknown_unit"),
        (8, "unknown_quantity"),
        (9, "future_time"),
        (10, "bad_row"),
        (11, "number_out_of_range"),
        (12, "bad_censored_value"),
        (13, "bad_row"),
        (14, "not_utf8"),
    ]
    assert "line 3: unknown_probe: probe 'XX-99' is not in the registry" in result.stderr
    assert stored(influx_db) == {
        ("LE-02", "nitrate", T0 * NS): (41.8, None),
        ("LE-02", "nitrate", (T0 + 10 * 3600) * NS): (42.5, None),
    }


def test_reimporting_a_file_stores_the_same_points(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    rows = [
        f"LE-03,{T0 + 900 * i},nitrate,{20 + i / 100:.2f},mg/L\nLE-03,{T0 + 900 * i},depth,"
        f"{8 + i / 1000:.3f},m"
        for i in range(3000)
    ]
    data = tmp_path / "export.csv"
    data.write_text("probe,time,quantity,value,unit\n" + "\n".join(rows) + "\n")
    config = config_file(tmp_path, influx_db)
    first = gwmon_import(config, data)
    assert first.returncode == 0, first.stderr
    before = stored(influx_db)
    assert len(before) == 9000  # nitrate, depth and the level derived from it
    second = gwmon_import(config, data)
    assert second.returncode == 0, second.stderr
    assert stored(influx_db) == before
    assert influx_db.count("reading") == 9000
    assert before[("LE-03", "level", (T0 + 900 * 2999) * NS)] == (126.501, None)  # 137.5 - 10.999


def test_the_excel_variant_with_semicolons_decimal_commas_and_a_bom(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    data = tmp_path / "excel.csv"
    data.write_bytes(
        "\ufeffprobe;time;quantity;value;unit\r\n"
        "WU-01;26.11.2025 08:00;nitrate;41,8;mg/L\r\n"
        'WU-01;26.11.2025 09:00:30;level;"112,5";m\r\n'
        "WU-01;26.11.2025 10:00;nitrate;<0,5;mg/L\r\n".encode()
    )
    result = gwmon_import(config_file(tmp_path, influx_db), data, "--timezone", "Europe/Berlin")
    assert result.returncode == 0, result.stderr
    assert stored(influx_db) == {
        ("WU-01", "nitrate", T0 * NS): (41.8, None),  # 08:00 CET is 07:00 UTC
        ("WU-01", "level", (T0 + 3630) * NS): (112.5, None),
        ("WU-01", "nitrate", (T0 + 7200) * NS): (0.5, True),
    }


def test_check_writes_nothing_and_a_wrong_header_stops_the_import(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    data = tmp_path / "export.csv"
    data.write_text(GOOD)
    config = config_file(tmp_path, influx_db)
    checked = gwmon_import(config, data, "--check")
    assert checked.returncode == 0, checked.stderr
    assert "checked" in checked.stdout and "; 6 readings would be stored" in checked.stdout
    assert influx_db.count("reading") == 0
    no_size = gwmon_import(config, data, "--batch-size", "0")
    assert no_size.returncode == 2
    assert "--batch-size: '0': a number of lines from 1 to 100,000" in no_size.stderr
    data.write_text("probe,when,quantity,value,unit\nLE-01,1764140400,nitrate,1,mg/L\n")
    wrong = gwmon_import(config, data)
    assert wrong.returncode == 2
    assert "must name the columns probe,time,quantity,value,unit" in wrong.stderr
    assert influx_db.count("reading") == 0


def test_analytics_sees_what_the_import_stored(tmp_path: Path, influx_db: InfluxDatabase) -> None:
    # Values above the 50 mg/L Schwellenwert open a breach alert (and, being above the
    # 37.5 mg/L warning level too, a warning), as in `gwmon run`.
    rows = [
        f"LE-04,{T0 + 3600 * i},nitrate,{value},mg/L" for i, value in enumerate((30, 55, 56, 57))
    ]
    data = tmp_path / "export.csv"
    data.write_text("probe,time,quantity,value,unit\n" + "\n".join(rows) + "\n")
    result = gwmon_import(config_file(tmp_path, influx_db, analytics=True), data)
    assert result.returncode == 0, result.stderr
    alerts = influx_db.rows("SELECT kind, state, opened_at_s FROM alert GROUP BY probe")
    assert sorted((a["probe"], a["kind"], a["state"], a["opened_at_s"]) for a in alerts) == [
        ("LE-04", "breach", "open", T0 + 3600),
        ("LE-04", "warning", "open", T0 + 3600),
    ]


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("1764140400", "1764140400"),
        ("2025-11-26T07:00:00Z", "1764140400"),
        ("2025-11-26T07:00:00.5+00:00", "1764140400.5"),
        ("2025-11-26 08:00:00+01:00", "1764140400"),
        ("2025-11-26T07:00:00.000001Z", "1764140400.000001"),
    ],
)
def test_times_become_exact_unix_seconds(text: str, literal: str) -> None:
    assert time_literal(text, None) == literal


def test_local_times_need_a_zone_and_must_exist_once() -> None:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    berlin = ZoneInfo("Europe/Berlin")
    assert time_literal("26.11.2025 08:00", berlin) == "1764140400"
    with pytest.raises(ValueError, match="no UTC offset"):
        time_literal("26.11.2025 08:00", None)
    with pytest.raises(ValueError, match="ambiguous"):
        time_literal("2025-10-26T02:30:00", berlin)  # the clock went back at 03:00
    with pytest.raises(ValueError, match=r"ambiguous|does not exist"):
        time_literal("2025-03-30T02:30:00", berlin)  # the clock jumped from 02:00 to 03:00


@pytest.mark.parametrize(
    ("text", "field"),
    [("12.5", '"v":12.5'), ("12,5", '"v":12.5'), ("-0,25", '"v":-0.25'), ("<0,5", '"vs":"<0.5"')],
)
def test_values_with_point_or_comma(text: str, field: str) -> None:
    assert value_field(text) == field


@pytest.mark.parametrize("text", ["1.234,5", "+1", ".5", "1e", "NaN", "", "12 mg"])
def test_what_is_not_a_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a number"):
        value_field(text)


def test_the_importer_reports_each_problem_once_with_its_line(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    data = tmp_path / "export.csv"
    data.write_text("# exported 2025-11-27\nprobe,time,quantity,value,unit\n\nLE-05,x,level,1,m\n")
    config = load_config(config_file(tmp_path, influx_db))
    problems: list[RowProblem] = []
    importer = Importer(config, load_registry(config.registry_path), InfluxClient(config.influxdb))
    summary = importer.run(data, on_problem=problems.append)
    assert [(p.line, p.reason, p.text) for p in problems] == [(4, "bad_time", "LE-05,x,level,1,m")]
    assert (summary.rows, summary.readings, summary.skipped) == (1, 0, 1)


def test_the_summary_names_the_rows_apart_from_the_rate() -> None:
    summary = ImportSummary(rows=14, readings=2, problems=Counter(bad_row=12), seconds=14 / 215)
    text = describe_import(Path("export.csv"), summary, ImportProblems(None))
    assert text.splitlines() == [
        "imported export.csv: 14 rows in 0.1 s (215 rows/s); 2 readings stored "
        "(0 levels derived from depths)",
        "12 rows skipped (bad_row 12); the first ones above",
    ]
