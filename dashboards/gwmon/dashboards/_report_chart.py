"""The report's nitrate chart per probe: a PNG made with matplotlib's Agg backend.

Drawn with matplotlib's object API (no pyplot, no global state), and matplotlib is
imported on the first chart: importing it costs about 30 MiB and a second, which
`gwmon run` (importing this package for its CLI) must not pay.
"""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gwmon.dashboards._common import Texts
from gwmon.dashboards._report_month import Period, ProbeMonth
from gwmon.ingest import DEFAULT_NITRATE_BREACH_MG_L, DEFAULT_NITRATE_WARNING_MG_L

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _date_num(seconds: float) -> float:
    # matplotlib's date axis counts days since 1970-01-01 UTC.
    return seconds / 86400.0


def _plot_values(ax: Axes, entry: ProbeMonth, t: Texts) -> None:
    """Measured values as the line (broken where a value was below the LOQ), values
    below the LOQ as markers at the limit, QC-flagged values as crosses."""
    if entry.values:
        times = [_date_num(s) for s in entry.times_s]
        limits = entry.limits if len(entry.limits) == len(entry.values) else []
        measured = [
            v if not limits or limits[i] is None else math.nan for i, v in enumerate(entry.values)
        ]
        ax.plot(times, measured, color="#005ca9", linewidth=1.2, label=t("Nitrat", "Nitrate"))
        below = [(x, limit) for x, limit in zip(times, limits, strict=False) if limit]
        if below:
            ax.plot(
                [x for x, _ in below],
                [limit for _, limit in below],
                "v",
                markersize=3,
                color="#6c6c6c",
                label=t("< BG (unter Bestimmungsgrenze)", "< LOQ (below quantification)"),
            )
    if entry.flagged:
        ax.plot(
            [_date_num(s) for s, _ in entry.flagged],
            [v for _, v in entry.flagged],
            "x",
            color="purple",
            label=t("QC-markiert (nicht gewertet)", "QC flagged (not counted)"),
        )


def _plot_thresholds(ax: Axes, entry: ProbeMonth, t: Texts) -> None:
    """The legal values by name, a probe's own registry thresholds as the probe's."""
    warning, breach = entry.probe.nitrate_warning_mg_l, entry.probe.nitrate_breach_mg_l
    if warning == DEFAULT_NITRATE_WARNING_MG_L:
        warning_label = t(f"Trendumkehr {t.fixed(warning, 1)}", f"Trend reversal {warning:g}")
    else:
        warning_label = t(f"Warnschwelle {t.fixed(warning, 1)}", f"Warning threshold {warning:g}")
    if breach == DEFAULT_NITRATE_BREACH_MG_L:
        breach_label = t(f"Schwellenwert {t.fixed(breach, 1)}", f"Threshold value {breach:g}")
    else:
        breach_label = t(f"Alarmschwelle {t.fixed(breach, 1)}", f"Alarm threshold {breach:g}")
    ax.axhline(warning, color="orange", linestyle="--", linewidth=1, label=warning_label)
    ax.axhline(breach, color="red", linestyle="--", linewidth=1, label=breach_label)


def nitrate_chart(entry: ProbeMonth, period: Period, t: Texts) -> str:
    """The probe's month as a base64 PNG for an inline <img>."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.dates import DateFormatter  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    zone = ZoneInfo(period.timezone)
    fig = Figure(figsize=(8, 2.9), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    _plot_values(ax, entry, t)
    _plot_thresholds(ax, entry, t)
    ax.set_xlim(_date_num(period.start_s), _date_num(period.end_s))
    ax.set_ylabel("mg/L NO₃")
    formatter = DateFormatter("%d.%m.", tz=zone)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.grid(alpha=0.3)
    fig.legend(loc="lower center", fontsize=7, ncols=4, frameon=False)
    ax.set_title(f"{entry.probe.probe_id} – {entry.probe.site}", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")
