"""Exports as pure renderers: any stored value comes back exactly from ZRXP, WaterML and
CSV (no exponent notation, no rounding), whatever its approval level and flags."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from dashboards.dash_scenario import DEMO_REGISTRY
from gwmon.dashboards._export import ExportSeries, ExportValue
from gwmon.dashboards._export_csv import render_csv
from gwmon.dashboards._export_waterml import WML2, render_waterml
from gwmon.dashboards._export_zrxp import render_zrxp
from gwmon.ingest import load_registry

PROBE = load_registry(DEMO_REGISTRY).probes["LE-01"]
NS = 1_000_000_000

values = st.lists(
    st.tuples(
        st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False),
        st.sampled_from(("raw", "checked", "approved")),
        st.sampled_from(((), ("spike",), ("gap",), ("flatline", "range"))),
    ),
    max_size=30,
)


def series(items: list[tuple[float, str, tuple[str, ...]]]) -> ExportSeries:
    rows = tuple(
        ExportValue((1_790_000_000 + 3600 * index) * NS, value, value, level, flags, False, "")
        for index, (value, level, flags) in enumerate(items)
    )
    return ExportSeries(PROBE, "level", "m", "corrected", 0, 1, rows, 0)


@given(values)
def test_every_format_gives_back_the_values(
    items: list[tuple[float, str, tuple[str, ...]]],
) -> None:
    export = series(items)
    expected = [value for value, _, _ in items]
    zrxp_rows = render_zrxp(export).splitlines()[2:]
    assert [float(row.split(" ")[1]) for row in zrxp_rows] == expected
    root = etree.fromstring(render_waterml(export).encode())
    assert [float(str(v.text)) for v in root.iter(f"{{{WML2}}}value")] == expected
    csv_rows = list(csv.DictReader(io.StringIO(render_csv(export))))
    assert [float(row["value"]) for row in csv_rows] == expected
    assert all("e" not in row.split(" ")[1].lower() for row in zrxp_rows)
