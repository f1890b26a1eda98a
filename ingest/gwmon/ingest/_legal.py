"""The legal values for nitrate in groundwater, defined once for every stage.

Grundwasserverordnung (GrwV) Anlage 2: the Schwellenwert (threshold value) for nitrate is
50 mg/L, exceeded by values above it ("Grenzwert" is the drinking-water word, not this).
GrwV § 10: measures for trend reversal start at the latest at 75 % of the Schwellenwert.
"""

from __future__ import annotations

GRWV_NITRATE_THRESHOLD_MG_L = 50.0
TREND_REVERSAL_START_MG_L = 0.75 * GRWV_NITRATE_THRESHOLD_MG_L  # 37.5 mg/L
