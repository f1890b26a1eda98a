"""The mail chart: data from the real InfluxDB, and values below the limit of
quantification (`censored = true`, stored as the LOQ) drawn as what they are."""

from __future__ import annotations

import datetime as dt
import io
import math
from email.message import EmailMessage
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from gwmon.analytics import AlertKind
from gwmon.analytics.mail import _composer
from gwmon.analytics.mail._chart import (
    CENSORED_COLOUR,
    CENSORED_MARKER,
    ChartSpec,
    Sample,
    ThresholdLine,
    chart_for,
    draw_chart,
    fetch_series,
)
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import InfluxClient, InfluxSettings
from mail.mail_helpers import (
    LEIPZIG,
    OPS,
    T0,
    MailRig,
    RigFactory,
    SmtpServer,
    make_alert,
    opened,
    sent_to,
    write_series,
)

HOUR = dt.timedelta(hours=1)


def _series(loq: float) -> tuple[list[tuple[dt.datetime, float]], frozenset[dt.datetime]]:
    """Two weeks hourly up to T0: a rise to 54 mg/L, every 12th value below the LOQ."""
    values: list[tuple[dt.datetime, float]] = []
    censored: set[dt.datetime] = set()
    for h in range(336, -1, -1):
        moment = T0 - h * HOUR
        if h % 12 == 6:
            values.append((moment, loq))
            censored.add(moment)
        else:
            values.append((moment, 40.0 + (336 - h) / 24))
    return values, frozenset(censored)


def _pixels_of(png: bytes, colour: str) -> int:
    wanted = np.array([round(c * 255) for c in to_rgb(colour)], dtype=np.uint8)
    with Image.open(io.BytesIO(png)) as image:
        pixels = np.asarray(image.convert("RGB"))
    return int((pixels == wanted).all(axis=2).sum())


def _charts_by_probe(message: EmailMessage) -> dict[str, bytes]:
    charts: dict[str, bytes] = {}
    for part in message.walk():
        if part.get_content_type() == "image/png":
            png = part.get_content()
            assert isinstance(png, bytes)
            charts[str(part.get_filename()).removesuffix(".png")] = png
    return charts


def test_mail_chart_marks_values_below_loq_not_as_measured_points(
    mail_rig: RigFactory, smtp_server: SmtpServer, influx_db: InfluxDatabase
) -> None:
    rig: MailRig = mail_rig(smtp=smtp_server)
    loq = rig.registry.probes["LE-07"].nitrate_loq_mg_l
    assert loq is not None
    values, censored = _series(loq)
    assert len(censored) == 28
    write_series(influx_db, rig.registry, "LE-07", "nitrate", values, censored_at=censored)
    # The same values at LE-08, all measured: the control.
    write_series(influx_db, rig.registry, "LE-08", "nitrate", values)
    service = rig.build()
    service.alert_event(opened(make_alert(rig.registry, "LE-07")))
    service.alert_event(opened(make_alert(rig.registry, "LE-08", AlertKind.BREACH, 54.0, n=2)))
    service.run_once()
    (digest,) = sent_to(smtp_server.mails(), LEIPZIG)
    charts = _charts_by_probe(digest.message)
    assert sorted(charts) == ["LE-07", "LE-08"]
    with_censored = _pixels_of(charts["LE-07"], CENSORED_COLOUR)
    without = _pixels_of(charts["LE-08"], CENSORED_COLOUR)
    assert without == 0, without
    assert with_censored >= 28 * 5, with_censored  # each of the 28 markers fills several pixels


def test_fetch_series_reads_the_censored_flag(
    influx_db: InfluxDatabase, mail_rig: RigFactory
) -> None:
    rig: MailRig = mail_rig()
    values, censored = _series(0.5)
    write_series(influx_db, rig.registry, "LE-07", "nitrate", values, censored_at=censored)
    client = InfluxClient(InfluxSettings(url=influx_db.url, database=influx_db.name))
    try:
        series = fetch_series(client, "LE-07", "nitrate", T0 - 336 * HOUR, T0)
        # A hostile probe id is a value, not InfluxQL: no rows, no error.
        hostile = fetch_series(client, "LE-07' OR probe =~ /.*/ --", "nitrate", T0 - HOUR, T0)
    finally:
        client.close()
    assert [s.time for s in series] == [t for t, _ in values]
    assert [s.value for s in series] == [v for _, v in values]
    assert {s.time for s in series if s.censored} == censored
    assert hostile == []


def test_censored_values_are_their_own_marker_with_a_legend_entry() -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    series = [
        Sample(start, 12.0),
        Sample(start + HOUR, 0.5, censored=True),
        Sample(start + 2 * HOUR, 13.0),
        Sample(start + 3 * HOUR, 0.5, censored=True),
    ]
    spec = ChartSpec(
        title="Nitrat LE-07",
        unit="mg/L NO₃",
        lines=[ThresholdLine(50.0, "Schwellenwert 50,0", "#b00020")],
        censored_label="< BG (Bestimmungsgrenze)",
    )
    axes = draw_chart(series, spec).axes[0]
    measured, below_loq = axes.get_lines()[:2]
    measured_y = [float(v) for v in np.asarray(measured.get_ydata(), dtype=float)]
    assert measured_y[0] == 12.0 and measured_y[2] == 13.0
    assert math.isnan(measured_y[1]) and math.isnan(measured_y[3])  # a gap, not 0.5
    assert [float(v) for v in np.asarray(below_loq.get_ydata(), dtype=float)] == [0.5, 0.5]
    assert below_loq.get_marker() == CENSORED_MARKER
    assert below_loq.get_linestyle() == "None"
    legend = axes.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == [
        "< BG (Bestimmungsgrenze)",
        "Schwellenwert 50,0",
    ]


def test_without_censored_values_no_marker_and_no_extra_legend_entry() -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    spec = ChartSpec(title="t", unit="m NHN", lines=[])
    axes = draw_chart([Sample(start, 120.0), Sample(start + HOUR, 120.1)], spec).axes[0]
    assert len(axes.get_lines()) == 1
    assert axes.get_legend() is None


def test_an_alert_mailed_to_two_audiences_in_one_cycle_has_its_chart_drawn_once(
    mail_rig: RigFactory,
    smtp_server: SmtpServer,
    influx_db: InfluxDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Drawing a chart is most of a mail's composing time (about 0.2 s on two loaded
    cores): the Stabsstelle and the operators get the same chart from one drawing."""
    rig: MailRig = mail_rig(smtp=smtp_server)
    values, _ = _series(0.5)
    write_series(influx_db, rig.registry, "LE-08", "nitrate", values)
    drawn: list[str] = []

    def counting_chart_for(*args: Any, **kwargs: Any) -> bytes | None:
        drawn.append(kwargs["probe"])
        return chart_for(*args, **kwargs)

    monkeypatch.setattr(_composer, "chart_for", counting_chart_for)
    service = rig.build()
    service.alert_event(opened(make_alert(rig.registry, "LE-08", AlertKind.BREACH, 54.0, n=2)))
    service.run_once()
    (to_leipzig,) = sent_to(smtp_server.mails(), LEIPZIG)
    (to_operators,) = sent_to(smtp_server.mails(), OPS)
    assert drawn == ["LE-08"]
    chart = _charts_by_probe(to_leipzig.message)["LE-08"]
    assert _charts_by_probe(to_operators.message) == {"LE-08": chart}
