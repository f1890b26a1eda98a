"""The English texts of alerts (`Alert.message`): what happened, where, since when.

The legal values are named as such (GrwV Anlage 2: the Schwellenwert of 50 mg/L; the
start of trend reversal: at most 75 % of it, 37.5 mg/L); a probe's own registry
thresholds are called the probe's, never the GrwV's. Groundwater, never drinking water.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gwmon.analytics._codec import to_datetime
from gwmon.analytics._engine import Episode
from gwmon.analytics._model import AlertKind
from gwmon.ingest import GRWV_NITRATE_THRESHOLD_MG_L, TREND_REVERSAL_START_MG_L, Probe

if TYPE_CHECKING:  # numpy comes with the trend test; `gwmon run` does not import it
    from gwmon.analytics._mann_kendall import MannKendallResult

_NS = 1_000_000_000
WITHDRAWN_PREFIX = (
    "Withdrawn after re-evaluation with late readings (the alarm did not hold in "
    "measurement-time order): "
)


def when(time_ns: int) -> str:
    return to_datetime(time_ns).strftime("%Y-%m-%d %H:%M UTC")


def _place(probe: Probe) -> str:
    return f"{probe.probe_id} ({probe.site}, {probe.municipality})"


def _is_value(threshold: float, legal: float) -> bool:
    return abs(threshold - legal) < 1e-9


def _breach_text(probe: Probe, threshold: float, since: str, values: str) -> str:
    if _is_value(threshold, GRWV_NITRATE_THRESHOLD_MG_L):
        text = (
            f"Nitrate at {_place(probe)} exceeded the GrwV Anlage 2 threshold value "
            f"(Schwellenwert) of {threshold:g} mg/L on {since} {values}."
        )
    else:
        text = (
            f"Nitrate at {_place(probe)} exceeded the probe's alarm threshold of "
            f"{threshold:g} mg/L on {since} {values}; the GrwV Anlage 2 threshold value "
            f"is {GRWV_NITRATE_THRESHOLD_MG_L:g} mg/L."
        )
    return text + " Groundwater, not a drinking-water result."


def _warning_text(probe: Probe, threshold: float, since: str, values: str) -> str:
    if _is_value(threshold, TREND_REVERSAL_START_MG_L):
        return (
            f"Nitrate at {_place(probe)} exceeded {threshold:g} mg/L, the trend-reversal "
            f"starting point (75 % of the GrwV threshold value of "
            f"{GRWV_NITRATE_THRESHOLD_MG_L:g} mg/L), on {since} {values}."
        )
    return (
        f"Nitrate at {_place(probe)} exceeded the probe's warning threshold of "
        f"{threshold:g} mg/L on {since} {values}; the GrwV trend-reversal starting "
        f"point is at most 75 % of the {GRWV_NITRATE_THRESHOLD_MG_L:g} mg/L threshold value, "
        f"{TREND_REVERSAL_START_MG_L:g} mg/L."
    )


def episode_message(probe: Probe, episode: Episode) -> str:
    """The text of the alert of an alarm episode (breach, warning, level, sensor fault)."""
    kind = AlertKind(episode.kind)
    since = when(episode.opened_ns)
    threshold = episode.threshold if episode.threshold is not None else math.nan
    values = f"({episode.open_value:.1f} mg/L, peak {episode.value:.1f} mg/L)"
    if kind is AlertKind.BREACH:
        text = _breach_text(probe, threshold, since, values)
    elif kind is AlertKind.WARNING:
        text = _warning_text(probe, threshold, since, values)
    elif kind is AlertKind.LEVEL_LOW:
        text = (
            f"Groundwater level at {_place(probe)} fell below the minimum operating level "
            f"{threshold:.2f} m NHN on {since} (lowest {episode.value:.2f} m NHN)."
        )
    elif kind is AlertKind.LEVEL_HIGH:
        text = (
            f"Groundwater level at {_place(probe)} rose above the maximum level "
            f"{threshold:.2f} m NHN on {since} (highest {episode.value:.2f} m NHN)."
        )
    else:
        text = (
            f"Sensor fault at {_place(probe)} since {since}: {episode.detail}. Flagged "
            "readings are kept but raise no water-quality alarm; please check the probe."
        )
    if episode.resolved_ns is not None:
        text += f" Back to normal on {when(episode.resolved_ns)}."
    return text


def stale_message(probe: Probe, last_arrival_ns: int | None, limit_ns: int) -> str:
    heard = (
        f"last data arrived {when(last_arrival_ns)}"
        if last_arrival_ns is not None
        else "no data since analytics started"
    )
    return (
        f"Probe {probe.probe_id} ({probe.site}, {probe.municipality}) is silent: {heard}; "
        f"expected every {probe.expected_interval_s} s, stale after {limit_ns / _NS:.0f} s."
    )


def data_again(arrival_ns: int) -> str:
    return f" Data arrived again {when(arrival_ns)}."


def trend_message(probe: Probe, result: MannKendallResult) -> str:
    """The text of a rising-trend alert (GrwV Anlage 6)."""
    assert result.slope_per_year is not None and result.p is not None
    start = result.reversal_start
    if abs(start - TREND_REVERSAL_START_MG_L) < 1e-9:
        named = (
            f"The start of trend reversal, {start:g} mg/L (75 % of the GrwV threshold value "
            f"of {GRWV_NITRATE_THRESHOLD_MG_L:g} mg/L),"
        )
    else:
        named = (
            f"The start of trend reversal set for this probe, {start:g} mg/L (the GrwV's is "
            f"at most 75 % of {GRWV_NITRATE_THRESHOLD_MG_L:g} mg/L, "
            f"{TREND_REVERSAL_START_MG_L:g} mg/L),"
        )
    corrected = ", Hamed-Rao corrected" if result.autocorrelation == "hamed_rao" else ""
    reached = "has been reached." if result.reversal_start_reached else "has not been reached yet."
    return (
        f"Significant rising nitrate trend at {probe.probe_id} ({probe.site}, "
        f"{probe.municipality}): Sen's slope {result.slope_per_year:+.2f} mg/L per year, "
        f"Mann-Kendall p = {result.p:.3g} < {result.alpha:g} (n = {result.n}, GrwV Anlage 6"
        f"{corrected}). {named} {reached}"
    )


def trend_resolved(last_ns: int, result: MannKendallResult) -> str:
    return (
        f" Resolved: the test of {to_datetime(last_ns):%Y-%m-%d} shows {result.verdict}"
        f" (p = {result.p:.3g})."
    )


def drift_message(probe: Probe, dip_ns: int, offset_m: float, tolerance_m: float) -> str:
    """The text of a drift alert: the logger against a manual dip (Abstich)."""
    side = "above" if offset_m > 0 else "below"
    return (
        f"The level logger of {_place(probe)} reads {abs(offset_m):.3f} m {side} the manual "
        f"dip of {when(dip_ns)} (logger minus dip {offset_m:+.3f} m, tolerance "
        f"±{tolerance_m:g} m): check, clean or recalibrate the sensor, or correct the "
        "series (`gwmon corrections add`)."
    )


def drift_resolved(dip_ns: int, offset_m: float | None, correction: str | None) -> str:
    """Why a drift alert ended: the latest dip agrees, or a correction made it agree."""
    if offset_m is None:
        return (
            f" Resolved: the logger value compared with the dip of {when(dip_ns)} is deleted "
            f"from the corrected series ({correction or 'a delete'})."
        )
    cause = f" after correction {correction}" if correction else ""
    return (
        f" Resolved: the dip of {when(dip_ns)} agrees with the logger{cause} "
        f"(logger minus dip {offset_m:+.3f} m)."
    )
