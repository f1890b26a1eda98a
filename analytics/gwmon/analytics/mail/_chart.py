"""The inline chart: the last days of one quantity with the threshold lines, as PNG.

Rendered off-screen with matplotlib's object API (no pyplot, no global state), so it is
safe on the sender thread. Data comes from the `reading` measurement (docs/storage.md).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from gwmon.storage import InfluxClient, StoreError

from ._texts import BERLIN

logger = logging.getLogger("gwmon.analytics.mail.chart")


@dataclass(frozen=True, slots=True)
class ThresholdLine:
    value: float
    label: str
    colour: str


def fetch_series(
    client: InfluxClient, probe: str, quantity: str, start: datetime, end: datetime
) -> list[tuple[datetime, float]]:
    """(measurement time, value) of one probe's quantity in [start, end], oldest first.

    Raises StoreError when InfluxDB cannot answer.
    """
    probe_literal = probe.replace("\\", "\\\\").replace("'", "\\'")
    quantity_literal = quantity.replace("\\", "\\\\").replace("'", "\\'")
    start_ns = int(start.timestamp()) * 1_000_000_000
    end_ns = (int(end.timestamp()) + 1) * 1_000_000_000
    influxql = (
        f'SELECT "value" FROM "reading" WHERE "probe" = \'{probe_literal}\' '  # noqa: S608
        f"AND \"quantity\" = '{quantity_literal}' AND time >= {start_ns} AND time < {end_ns} "
        "ORDER BY time ASC"
    )
    rows = client.query_rows(influxql, epoch="ms")
    series: list[tuple[datetime, float]] = []
    for row in rows:
        value = row.get("value")
        if isinstance(value, int | float):
            series.append((datetime.fromtimestamp(row["time"] / 1000, UTC), float(value)))
    return series


def _comma(value: float, _position: int | None) -> str:
    return f"{value:g}".replace(".", ",")


def render_png(
    series: Sequence[tuple[datetime, float]],
    *,
    title: str,
    unit: str,
    lines: Sequence[ThresholdLine],
    marker: datetime | None = None,
    decimal_comma: bool = False,
) -> bytes:
    """A 700x300 px PNG of the series with horizontal threshold lines."""
    figure = Figure(figsize=(7.0, 3.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    times = date2num([moment for moment, _ in series])  # type: ignore[no-untyped-call]
    values = [value for _, value in series]
    axes.plot(times, values, color="#0b5394", linewidth=1.4, marker="." if len(values) < 60 else "")
    for line in lines:
        axes.axhline(line.value, color=line.colour, linestyle="--", linewidth=1.2, label=line.label)
    if marker is not None:
        axes.axvline(
            float(date2num(marker)),  # type: ignore[no-untyped-call]
            color="#888888",
            linestyle=":",
            linewidth=1.0,
        )
    locator = AutoDateLocator(tz=BERLIN)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(  # type: ignore[no-untyped-call]
        locator,
        tz=BERLIN,
        # Numeric, so no month names in the server's locale language.
        formats=["%Y", "%m.%Y", "%d.%m.", "%H:%M", "%H:%M", "%S.%f"],
        offset_formats=["", "%Y", "%m.%Y", "%d.%m.%Y", "%d.%m.%Y", "%d.%m.%Y %H:%M"],
    )
    axes.xaxis.set_major_formatter(formatter)
    if decimal_comma:
        axes.yaxis.set_major_formatter(FuncFormatter(_comma))
    axes.set_ylabel(unit)
    axes.set_title(title, fontsize=11)
    axes.grid(visible=True, alpha=0.3)
    if lines:
        axes.legend(loc="best", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def chart_for(
    client: InfluxClient,
    *,
    probe: str,
    quantity: str,
    start: datetime,
    end: datetime,
    title: str,
    unit: str,
    lines: Sequence[ThresholdLine],
    marker: datetime | None,
    decimal_comma: bool = False,
) -> bytes | None:
    """The PNG, or None when there is no data or InfluxDB cannot answer (logged)."""
    try:
        series = fetch_series(client, probe, quantity, start, end)
    except StoreError as exc:
        logger.warning("no chart for %s %s: InfluxDB query failed: %s", probe, quantity, exc)
        return None
    if not series:
        return None
    return render_png(
        series, title=title, unit=unit, lines=lines, marker=marker, decimal_comma=decimal_comma
    )
