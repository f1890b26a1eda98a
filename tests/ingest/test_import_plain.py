"""The plain-row path of `gwmon import` (rows decoded column by column, `CsvReader`)
against the careful path (every row a SenML record through the decoder): for any file,
both write exactly the same lines in the same order and report exactly the same rows,
with the same line numbers, reasons and details; and plain rows do take the plain path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gwmon.ingest import _import_csv, load_config, load_registry
from gwmon.ingest._config import GwmonConfig
from gwmon.ingest._import import Importer, ImportSummary
from gwmon.ingest._import_csv import CsvPack, CsvReader, RowProblem
from gwmon.ingest._import_plain import PlainRows
from gwmon.ingest._senml import RECORDS
from gwmon.storage import StoreWriteError
from ingest_helpers import DEMO_REGISTRY

NOW = 1_764_140_400.0  # 2025-11-26T07:00:00Z
T0 = 1_764_000_000
BERLIN = ZoneInfo("Europe/Berlin")


class Lines:
    """A LineSink that stores lines as InfluxDB does (one point per series and time, the
    last write wins) and keeps every line it was given (`written`). As InfluxDB with a
    field type conflict, it refuses the lines of two series (the derived levels of LE-07
    and all temperatures): their rows are reported with their line numbers, so those
    must be right too."""

    REFUSED = ("quantity=level,site=Leipzig-Probstheida", "quantity=temperature")

    def __init__(self) -> None:
        self.points: dict[tuple[str, str], str] = {}
        self.written: list[str] = []

    def write_lines(self, lines: Sequence[str]) -> None:
        self.written += lines
        refused = 0
        for line in lines:
            if line.startswith("reading,") and any(part in line for part in self.REFUSED):
                refused += 1
                continue
            series, _, rest = line.partition(" ")
            self.points[series, rest.rpartition(" ")[2]] = line
        if refused:
            raise StoreWriteError(
                "partial write: field type conflict",
                retryable=False,
                partial=True,
                status=400,
                dropped=refused,
            )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> GwmonConfig:
    folder = tmp_path_factory.mktemp("plain")
    path = folder / "gwmon.toml"
    path.write_text(
        '[influxdb]\nurl = "http://127.0.0.1:9"\ndatabase = "x"\nbatch_size = 7\n'
        f'[registry]\npath = "{DEMO_REGISTRY}"\n'
        f'[analytics]\nenabled = false\nstate_dir = "{folder / "state"}"\n'
    )
    return load_config(path)


def imported(
    config: GwmonConfig, data: Path, *, plain: bool
) -> tuple[Lines, list[RowProblem], ImportSummary]:
    sink = Lines()
    problems: list[RowProblem] = []
    importer = Importer(
        config,
        load_registry(config.registry_path),
        sink,
        timezone=BERLIN,
        clock=lambda: NOW,
        plain=plain,
    )
    summary = importer.run(data, on_problem=problems.append)
    return sink, problems, summary


def assert_same(config: GwmonConfig, data: Path) -> Lines:
    """Both paths store the same points and report the same rows; the plain one's sink."""
    careful = imported(config, data, plain=False)
    plain = imported(config, data, plain=True)
    assert plain[0].points == careful[0].points
    assert sorted(plain[1], key=lambda p: p.line) == sorted(careful[1], key=lambda p: p.line)
    for field in ("rows", "readings", "derived", "problems", "skipped"):
        assert getattr(plain[2], field) == getattr(careful[2], field), field
    return plain[0]


# -- rows of every kind ----------------------------------------------------------------------
PROBES = ["LE-01", "LE-02", "LE-07", "WU-01", "XX-99", " LE-01", "LE-01 ", "#LE-01", ""]
NAMES = ["nitrate", "nitrate_n", "depth", "level", "temperature", "conductivity", "battery"]
ODD_NAMES = ["seq", "colour", " nitrate", "Nitrate", "pressure_abs", ""]
UNITS = ["mg/L", "kg/m3", "m", "Cel", "K", "uS/cm", "S/m", "%EL", "hPa"]
ODD_UNITS = ["ppm", " mg/L", "", "M"]


@st.composite
def times(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        return str(draw(st.integers(T0, T0 + 10**6)))
    if kind == 5:
        seconds = draw(st.sampled_from([NOW + 299, NOW + 300, NOW + 301, NOW + 10**6]))
        return str(int(seconds))
    if kind == 6:
        return draw(
            st.sampled_from(
                [
                    "2025-11-26T07:00:00Z",
                    "2025-11-26T08:00:00+01:00",
                    "2025-11-26T07:00:00.25Z",
                    "2025-11-26T07:00:00.000001Z",
                    "26.11.2025 08:00",
                    "2025-10-26T02:30:00",  # ambiguous in Berlin
                    "2025-11-26 08:00:00",
                ]
            )
        )
    return draw(
        st.sampled_from(
            [
                "1764140400.5",
                "1764140400.123456789",
                "1000",
                "0",
                " 1764140400",
                "1764140400 ",
                "99999999999",
                "999999999999",
                "yesterday",
                "",
                "-1764140400",
                "1.7e9",
            ]
        )
    )


@st.composite
def values(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 3:
        return draw(st.decimals(-1000, 1000, places=draw(st.integers(0, 4))).map(str))
    if kind == 4:
        return str(draw(st.integers(-(10**11), 10**11)))
    if kind == 5:
        return draw(st.floats(allow_nan=False, allow_infinity=False).map(repr))
    if kind == 6:
        whole, part = draw(st.integers(0, 999)), draw(st.integers(0, 999))
        return f"{whole},{part}"  # a decimal comma
    return draw(
        st.sampled_from(
            [
                "<0.5",
                "<0,5",
                "< 2",
                "<x",
                "1e400",
                "1e5",
                "1E-3",
                "-0",
                "-0.0",
                "00",
                "+1",
                ".5",
                "NaN",
                "true",
                "null",
                "",
                " ",
                " 12.5 ",
                "12.5\t",
                "1,234.5",
                "1.234,5",
                "1,2,3",
                "[1",
                "1]",
                "{}",
                "12345678901234567",
                "0.12345678901234",
                "0.123456789012345",
                "10000000000",
                "10000000001",
                "-10000000000.5",
            ]
        )
    )


ROW_FIELDS = ("probe", "time", "quantity", "value", "unit")


@st.composite
def rows(draw: st.DrawFn, delimiter: str, order: tuple[int, ...]) -> bytes:
    kind = draw(st.integers(0, 39))
    if kind == 0:
        return draw(st.sampled_from([b"", b"   ", b"# a comment", b"#,,,,", b"\xff\xfe", b'"']))
    name = draw(st.sampled_from(NAMES) if kind > 3 else st.sampled_from(ODD_NAMES))
    accepted = sorted(RECORDS[name].units) if name in RECORDS else UNITS
    if kind > 9:
        unit = draw(st.sampled_from(accepted))
    else:
        unit = draw(st.sampled_from(UNITS) if kind > 5 else st.sampled_from(ODD_UNITS))
    cells = {
        "probe": draw(st.sampled_from(PROBES[:4]) if kind > 7 else st.sampled_from(PROBES)),
        "time": draw(times()),
        "quantity": name,
        "value": draw(values()),
        "unit": unit,
    }
    fields = [cells[ROW_FIELDS[index]] for index in order]
    if kind == 1:
        fields.append("extra")
    if kind == 2:
        fields.pop()
    if kind == 3:
        at = draw(st.integers(0, len(fields) - 1))
        fields[at] = f'"{fields[at]}"'
    line = delimiter.join(fields).encode()
    if kind == 4:
        line += draw(st.sampled_from([b"\r", b"\r\r", b"\xc3\xa4", b"\xff", b" " * 1000]))
    return line


@st.composite
def files(draw: st.DrawFn) -> bytes:
    delimiter = draw(st.sampled_from([",", ";"]))
    order = tuple(draw(st.permutations(range(5))))
    header = delimiter.join(ROW_FIELDS[index] for index in order).encode()
    if draw(st.booleans()):
        header = b"\xef\xbb\xbf" + header
    body = draw(st.lists(rows(delimiter, order), max_size=40))
    # Long runs of one probe's plain rows, as a logger writes them.
    run = draw(st.integers(0, 60))
    start = draw(st.integers(0, len(body)))
    plain = [
        delimiter.join(
            [("LE-07", str(T0 + 900 * i), "depth", f"{i % 97 / 10}", "m")[index] for index in order]
        ).encode()
        for i in range(run)
    ]
    body[start:start] = plain
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    end = newline if draw(st.booleans()) else b""
    return header + newline + newline.join(body) + end


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=files(), block=st.sampled_from([16, 100, 1 << 18]))
@example(content=b"probe,time,quantity,value,unit\nLE-07,1764000000,depth,8.13,m\n", block=16)
def test_the_plain_path_writes_and_reports_what_the_careful_path_does(
    config: GwmonConfig,
    tmp_path_factory: pytest.TempPathFactory,
    content: bytes,
    block: int,
) -> None:
    data = tmp_path_factory.mktemp("file") / "export.csv"
    data.write_bytes(content)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_import_csv, "_BLOCK_BYTES", block)  # rows across block edges
        assert_same(config, data)


def _reader(config: GwmonConfig, data: Path, *, timezone: ZoneInfo | None) -> CsvReader:
    """A reader of `data` at the fixed clock, problems ignored (the tests look at packs)."""
    return CsvReader(
        data,
        load_registry(config.registry_path),
        timezone=timezone,
        on_problem=lambda problem: None,
        clock=lambda: NOW,
    )


def kinds(config: GwmonConfig, data: Path) -> list[tuple[str, int]]:
    reader = _reader(config, data, timezone=None)
    found: list[tuple[str, int]] = []
    for pack in reader.packs():
        kind = "plain" if isinstance(pack, PlainRows) else "careful"
        assert isinstance(pack, PlainRows | CsvPack)
        found.append((kind, len(pack.lines)))
    return found


def test_plain_rows_take_the_plain_path_and_the_others_the_careful_one(
    config: GwmonConfig, tmp_path: Path
) -> None:
    data = tmp_path / "export.csv"
    data.write_text(
        "probe,time,quantity,value,unit\n"
        "LE-07,1764000000,nitrate,41.8,mg/L\n"  # 2: plain
        "LE-07,1764000900,depth,8.13,m\n"  # 3: plain
        "LE-07,1764000900,nitrate,<0.5,mg/L\n"  # 4: censored: careful
        "LE-07,1764001800,nitrate_n,10,kg/m3\n"  # 5: plain (converted)
        "LE-01,1764001800,temperature,285.15,K\n"  # 6: plain, another probe
        "LE-01,1764001800,colour,3,mg/L\n"  # 7: careful (refused)
        "LE-01,2025-11-26T07:00:00Z,level,130.5,m\n"  # 8: plain (an ISO time)
    )
    assert kinds(config, data) == [
        ("plain", 2),
        ("careful", 1),
        ("plain", 1),
        ("plain", 1),
        ("careful", 1),
        ("plain", 1),
    ]
    stored = assert_same(config, data)
    # 7 readings (the level derived from line 3 included); the level and the temperature
    # are refused and recorded as `rejected` points instead.
    readings = [key for key in stored.points if key[0].startswith("reading,")]
    assert (len(readings), len(stored.points)) == (5, 7)


def test_the_excel_variant_takes_the_plain_path(config: GwmonConfig, tmp_path: Path) -> None:
    data = tmp_path / "excel.csv"
    data.write_bytes(
        "\ufeffprobe;time;quantity;value;unit\r\n"
        "WU-01;26.11.2025 08:00;nitrate;41,8;mg/L\r\n"
        "WU-01;26.11.2025 07:00;level;112,5;m\r\n".encode()
    )
    reader = _reader(config, data, timezone=BERLIN)
    (pack,) = reader.packs()
    assert isinstance(pack, PlainRows)
    assert pack.columns.values == [41.8, 112.5]
    assert pack.columns.times_ns == [int(NOW) * 10**9, (int(NOW) - 3600) * 10**9]
    assert pack.lines == [2, 3]
    assert_same(config, data)


def test_a_point_written_twice_keeps_the_files_order(config: GwmonConfig, tmp_path: Path) -> None:
    # The same point from a plain row, then a careful one, then a plain one: the last
    # row wins in InfluxDB, so the lines must go out in the file's order.
    data = tmp_path / "twice.csv"
    data.write_text(
        "probe,time,quantity,value,unit\n"
        "LE-01,1764000000,level,130.1,m\n"
        "LE-01,1764000000,level, 130.2,m\n"  # a space: careful
        "LE-01,1764000000,level,130.3,m\n"
    )
    written = assert_same(config, data).written
    assert [line.split(" ")[1].split(",")[0] for line in written] == [
        "value=130.1",
        "value=130.2",
        "value=130.3",
    ]


def test_a_line_longer_than_a_block_is_refused_by_its_length(
    config: GwmonConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_import_csv, "_BLOCK_BYTES", 64)
    data = tmp_path / "long.csv"
    data.write_bytes(
        b"probe,time,quantity,value,unit\n"
        b"LE-01,1764000000,level,130.1,m\n"
        b"LE-01,1764000000,level,1" + b"0" * 5000 + b",m\n"
        b"LE-01,1764000900,level,130.3,m"  # no newline at the end
    )
    stored, problems, summary = imported(config, data, plain=True)
    assert [(p.line, p.reason) for p in problems] == [(3, "bad_row")]
    assert problems[0].text == "LE-01,1764000000,level,1" + "0" * 176  # its first 200 bytes
    assert len(stored.points) == 2 and summary.rows == 3
    assert_same(config, data)


def test_an_import_writes_requests_of_its_batch_size(config: GwmonConfig, tmp_path: Path) -> None:
    data = tmp_path / "export.csv"
    data.write_text(
        "probe,time,quantity,value,unit\n"
        + "".join(f"LE-01,{T0 + 900 * i},level,130.{i},m\n" for i in range(10))
    )

    class Requests(Lines):
        def __init__(self) -> None:
            super().__init__()
            self.sizes: list[int] = []

        def write_lines(self, lines: Sequence[str]) -> None:
            self.sizes.append(len(lines))
            super().write_lines(lines)

    sink = Requests()
    importer = Importer(config, load_registry(config.registry_path), sink, batch_lines=4)
    assert importer.run(data).readings == 10
    assert sink.sizes == [4, 4, 2]  # in pieces of the batch's size, whatever the blocks
    default = Requests()
    Importer(config, load_registry(config.registry_path), default).run(data)
    assert default.sizes == [7, 3]  # [influxdb] batch_size = 7
