"""The inline chart: the last days of one quantity with the threshold lines, as PNG.

Rendered off-screen with matplotlib's object API (no pyplot, no global state), so it is
safe on the sender thread; matplotlib is imported on the first chart, not with the
package (it takes a second). Data comes from the `reading` measurement (docs/storage.md).
A value reported below the limit of quantification (`censored`) is stored as that limit,
an upper bound: it is drawn as its own marker, not as a point of the measured line.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gwmon.storage import READING, InfluxClient, StoreError
from gwmon.storage import influxql as q

from ._words import BERLIN

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger("gwmon.analytics.mail.chart")

MEASURED_COLOUR = "#0b5394"
CENSORED_COLOUR = "#674ea7"
CENSORED_MARKER = "v"  # pointing down: the value is at most this


@dataclass(frozen=True, slots=True)
class ThresholdLine:
    value: float
    label: str
    colour: str


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """What the chart shows besides the data: title, unit, threshold lines, a dotted line
    at `marker` (the alert's opening), the decimal separator, the censored values' name."""

    title: str
    unit: str
    lines: Sequence[ThresholdLine]
    marker: datetime | None = None
    decimal_comma: bool = False
    censored_label: str = "< LOQ"


@dataclass(frozen=True, slots=True)
class Sample:
    """One stored reading; `censored`: below the limit of quantification, `value` is it."""

    time: datetime
    value: float
    censored: bool = False


def fetch_series(
    client: InfluxClient, probe: str, quantity: str, start: datetime, end: datetime
) -> list[Sample]:
    """The readings of one probe's quantity in [start, end], oldest first.

    Raises StoreError when InfluxDB cannot answer.
    """
    start_ns = int(start.timestamp()) * 1_000_000_000
    end_ns = (int(end.timestamp()) + 1) * 1_000_000_000
    statement = q.select(READING, "value", "censored").where(
        q.eq("probe", probe),
        q.eq("quantity", quantity),
        q.time_ge(start_ns),
        q.time_lt(end_ns),
    )
    series: list[Sample] = []
    for row in client.query_rows(statement, epoch="ms"):
        value = row.get("value")
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(row["time"] / 1000, UTC)
            series.append(Sample(moment, float(value), censored=row.get("censored") is True))
    return series


def _comma(value: float, _position: int | None) -> str:
    return f"{value:g}".replace(".", ",")


def draw_chart(series: Sequence[Sample], spec: ChartSpec) -> Figure:
    """A 700x300 px figure of the series with horizontal threshold lines.

    The measured line has a gap where a value is censored; the censored values are
    markers of their own at the limit of quantification, named `spec.censored_label`.
    """
    # Imported here: matplotlib is slow to import, and only the sender thread draws.
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.dates import date2num  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(7.0, 3.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    times = date2num([sample.time for sample in series])  # type: ignore[no-untyped-call]
    values = [math.nan if sample.censored else sample.value for sample in series]
    axes.plot(
        times, values, color=MEASURED_COLOUR, linewidth=1.4, marker="." if len(values) < 60 else ""
    )
    censored = [sample for sample in series if sample.censored]
    if censored:
        axes.plot(
            date2num([sample.time for sample in censored]),  # type: ignore[no-untyped-call]
            [sample.value for sample in censored],
            linestyle="none",
            marker=CENSORED_MARKER,
            markersize=6,
            color=CENSORED_COLOUR,
            label=spec.censored_label,
        )
    for line in spec.lines:
        axes.axhline(line.value, color=line.colour, linestyle="--", linewidth=1.2, label=line.label)
    if spec.marker is not None:
        axes.axvline(
            float(date2num(spec.marker)),  # type: ignore[no-untyped-call]
            color="#888888",
            linestyle=":",
            linewidth=1.0,
        )
    _format_axes(axes, spec)
    if spec.lines or censored:
        axes.legend(loc="best", fontsize=8)
    return figure


def _format_axes(axes: Axes, spec: ChartSpec) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

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
    if spec.decimal_comma:
        axes.yaxis.set_major_formatter(FuncFormatter(_comma))
    axes.set_ylabel(spec.unit)
    axes.set_title(spec.title, fontsize=11)
    axes.grid(visible=True, alpha=0.3)


def render_png(series: Sequence[Sample], spec: ChartSpec) -> bytes:
    """The chart as PNG."""
    buffer = io.BytesIO()
    draw_chart(series, spec).savefig(buffer, format="png")
    return buffer.getvalue()


def chart_for(
    client: InfluxClient,
    *,
    probe: str,
    quantity: str,
    start: datetime,
    end: datetime,
    spec: ChartSpec,
) -> bytes | None:
    """The PNG, or None when there is no data or InfluxDB cannot answer (logged)."""
    try:
        series = fetch_series(client, probe, quantity, start, end)
    except StoreError as exc:
        logger.warning("no chart for %s %s: InfluxDB query failed: %s", probe, quantity, exc)
        return None
    if not series:
        return None
    return render_png(series, spec)
