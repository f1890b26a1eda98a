"""Generated import files (`gwmon import`, docs/import.md) through the CSV reader and the
wire decoder, as the importer runs them, without InfluxDB: a file is refused as a whole
only for its header, every other problem is one row's with a known reason and its line,
every row is either a problem or a reading, and the SenML the reader builds from any
row is always well-formed (the importer does not expect a whole pack to be refused).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import tally
from gwmon.ingest import CANONICAL_QUANTITIES, PayloadRejected, Reason, load_registry
from gwmon.ingest._import_csv import (
    BAD_ROW,
    BAD_TIME,
    BAD_VALUE,
    NOT_UTF8,
    PACK_MAX_BYTES,
    UNKNOWN_PROBE,
    CsvReader,
    ImportFileError,
    RowProblem,
)
from gwmon.ingest._import_plain import PlainRows
from gwmon.ingest._pack import decode_columns

REGISTRY = load_registry(Path(__file__).resolve().parents[2] / "examples" / "registry-wertvoll.csv")
NOW_S = 1_795_676_400.0
ROW_REASONS = {BAD_ROW, BAD_TIME, BAD_VALUE, UNKNOWN_PROBE, NOT_UTF8} | {r.value for r in Reason}
COLUMNS = ["probe", "time", "quantity", "value", "unit"]

cell_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)
probes = st.one_of(st.sampled_from(["LE-01", "WU-01", "TH-01", " LE-02 "]), cell_text)
times = st.one_of(
    st.sampled_from(
        [
            "2025-11-26T07:00:00Z", "2025-11-26T07:00:00+01:00", "2025-11-26 07:00",
            "26.11.2025 07:00", "31.02.2025 07:00", "2025-03-30T02:30:00", "1764140400",
            "1764140400.123456789", "99999999999999", "-1", "2025-13-01T00:00:00Z", "",
        ]
    ),
    cell_text,
)  # fmt: skip
values = st.one_of(
    st.sampled_from(["12.5", "12,5", "<0.5", "< 0,5", "1e400", "-0", "NaN", "1e-400", "", "<"]),
    st.floats(allow_nan=True).map(str),
    cell_text,
)
quantities = st.one_of(
    st.sampled_from(["nitrate", "nitrate_n", "level", "depth", "temperature", "seq"]), cell_text
)
units = st.one_of(st.sampled_from(["mg/L", "m", "Cel", "K", "kg/m3", ""]), cell_text)
valid_rows = st.tuples(
    st.sampled_from(["LE-01", "WU-01", "TH-01"]),
    st.sampled_from(["2025-11-26T07:00:00Z", "1764140400", "26.11.2025 07:00"]),
    st.sampled_from(["nitrate", "level", "depth"]),
    st.sampled_from(["12.5", "41,2", "<0.5", "3"]),
    st.sampled_from(["mg/L", "m"]),
)
rows = st.one_of(valid_rows, st.tuples(probes, times, quantities, values, units))


def render(row: tuple[str, ...], delimiter: str, quote: bool) -> str:
    if quote:
        return delimiter.join('"' + cell.replace('"', '""') + '"' for cell in row)
    return delimiter.join(row)


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    order=st.permutations(COLUMNS),
    delimiter=st.sampled_from([",", ";"]),
    header_damage=st.sampled_from([""] * 7 + ["drop", "extra", "twice"]),
    bom=st.booleans(),
    body=st.lists(st.tuples(rows, st.booleans()), max_size=8),
    raw_lines=st.lists(st.binary(max_size=40), max_size=2),
    long_line=st.booleans(),
    timezone=st.sampled_from([None, "Europe/Berlin"]),
)
def test_generated_import_files_are_imported_or_refused_row_by_row_with_a_reason(
    order: list[str],
    delimiter: str,
    header_damage: str,
    bom: bool,
    body: list[tuple[tuple[str, ...], bool]],
    raw_lines: list[bytes],
    long_line: bool,
    timezone: str | None,
) -> None:
    header = list(order)
    if header_damage == "drop":
        header.pop()
    elif header_damage == "extra":
        header.append("comment")
    elif header_damage == "twice":
        header.append(header[0])
    lines = [
        render(tuple(row[COLUMNS.index(name)] for name in order), delimiter, quote)
        for row, quote in body
    ]
    data = ("\ufeff" if bom else "").encode() + delimiter.join(header).encode() + b"\n"
    data += b"".join(line.encode("utf-8") + b"\n" for line in lines)
    data += b"".join(raw.replace(b"\n", b" ") + b"\n" for raw in raw_lines)
    if long_line:
        data += b"LE-01" + b"," * 1_200 + b"\n"
    problems: list[RowProblem] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "import.csv"
        path.write_bytes(data)
        reader = CsvReader(
            path,
            REGISTRY,
            timezone=ZoneInfo(timezone) if timezone else None,
            on_problem=problems.append,
            clock=lambda: NOW_S,
        )
        try:
            packs = list(reader.packs())
        except ImportFileError as exc:
            assert header_damage, exc  # only a bad header refuses the file
            tally.record("import_csv", "file_refused")
            return
    kept = 0
    for pack in packs:
        if isinstance(pack, PlainRows):  # decoded by the reader (test_import_plain.py)
            assert set(pack.columns.quantities) <= set(CANONICAL_QUANTITIES)
            kept += len(pack.lines)
            continue
        try:
            columns = decode_columns(
                pack.probe.probe_id, pack.payload, now_s=NOW_S, max_bytes=PACK_MAX_BYTES
            )
        except PayloadRejected as exc:  # the reader built SenML that is not well-formed
            raise AssertionError(f"{pack.payload!r}: {exc}") from None
        assert set(columns.quantities) <= set(CANONICAL_QUANTITIES)
        kept += len(pack.records) - len(columns.rejections)
        for rejection in columns.rejections:
            problems.append(RowProblem(pack.lines[rejection.index], rejection.reason, "", ""))
    for problem in problems:
        assert problem.reason in ROW_REASONS and problem.line >= 2, problem
        tally.record("import_csv", f"row:{problem.reason}", case=False)
    assert kept + len(problems) == reader.rows  # every row is a reading or a problem
    tally.record("import_csv", "imported" if kept else "nothing_imported")


def read_problems(data: bytes) -> tuple[list[RowProblem], int]:
    problems: list[RowProblem] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "import.csv"
        path.write_bytes(data)
        reader = CsvReader(path, REGISTRY, timezone=None, on_problem=problems.append)
        packs = list(reader.packs())
    return problems, sum(len(pack.lines) for pack in packs)


def test_a_stray_carriage_return_in_a_row_with_quotes_is_a_bad_row() -> None:
    # Found by the test above: Python's csv module raised csv.Error out of `gwmon import`.
    data = (
        b"probe,time,quantity,value,unit\n"
        b'LE-01,"2025-11-26T07:00:00Z",nitrate,12.5,mg/L\r0\n'
        b'LE-01,"2025-11-26T08:00:00Z",nitrate,12.6,mg/L\n'
    )
    problems, records = read_problems(data)
    assert [(problem.line, problem.reason) for problem in problems] == [(2, BAD_ROW)]
    assert records == 1


def test_a_stray_carriage_return_in_a_quoted_header_refuses_the_file() -> None:
    try:
        read_problems(b'"probe",time,quantity,value,unit\r0\nLE-01,1764140400,nitrate,1,mg/L\n')
    except ImportFileError as exc:
        assert "header" in str(exc)
    else:
        raise AssertionError("a header csv cannot read was accepted")
