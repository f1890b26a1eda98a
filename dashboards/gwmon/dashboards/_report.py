"""The monthly report per Stabsstelle (municipality): what Grafana OSS cannot do.

A self-contained HTML file per municipality and month (docs/report.md): the figures from
`_report_month`, the page from `_report_html`, the charts from `_report_chart`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from gwmon.dashboards._report_html import render_html
from gwmon.dashboards._report_month import Period, collect
from gwmon.dashboards._settings import DashboardsSettings
from gwmon.ingest import Registry
from gwmon.storage import InfluxClient

logger = logging.getLogger("gwmon.dashboards.report")


def slug(text: str) -> str:
    table = str.maketrans(
        {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"}
    )
    return re.sub(r"[^A-Za-z0-9]+", "-", text.translate(table)).strip("-").lower()


def write_reports(
    client: InfluxClient,
    registry: Registry,
    settings: DashboardsSettings,
    *,
    month: str,
    municipalities: Sequence[str],
    out_dir: Path,
) -> list[Path]:
    """One HTML file per municipality (all of the registry when none are given)."""
    period = Period.parse(month, settings.timezone)
    names = list(municipalities) or sorted(registry.municipalities())
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        report = collect(client, registry, name, period)
        target = out_dir / f"gwmon-monatsbericht-{month}-{slug(name)}.html"
        target.write_text(render_html(report, settings), encoding="utf-8")
        logger.info("wrote monthly report %s", target)
        written.append(target)
    return written
