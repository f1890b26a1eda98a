"""What the analytics stage counted since it started (`AnalyticsObserver.stats`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AnalyticsStats:
    """Readings seen (`duplicates` and `too_late` among them), replays after late
    readings, qc flags and alert events delivered, listener failures, failed requests to
    InfluxDB (`store_errors`) and points InfluxDB refused for good (`store_refused`)."""

    readings: int = 0
    duplicates: int = 0
    too_late: int = 0
    replays: int = 0
    flags: int = 0
    events: int = 0
    listener_errors: int = 0
    store_errors: int = 0
    store_refused: int = 0
