"""Barometric compensation inside `gwmon run`: after each stored batch, derive the water
column, depth and level of the absolute pressure loggers whose data, or whose
barometer's data, the batch brought (docs/data-management.md).

Late data is normal: a barometer that was offline sends its buffer hours or days after
the loggers it covers. The compensation therefore keeps no state of its own: for every
logger a batch touches it reads the logger's raw pressures, the barometer's values
around them and what was derived before from InfluxDB, and writes what is new or
different. The result depends only on the stored raw data, never on the order in which
it arrived; a value without barometer data on both sides (within the gap) waits until
they come. The derived readings are handed on to the next observer (analytics) with the
batch, so level alarms and QC see compensated loggers too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence

from gwmon.ingest._barometric import (
    AIR_PRESSURE_QUANTITY,
    CONFIG_SECTION,
    DERIVED_QUANTITIES,
    PRESSURE_QUANTITY,
    BarometerSeries,
    BarometricSettings,
    Compensated,
    affected_windows,
    changed,
    compensate,
)
from gwmon.ingest._config import GwmonConfig
from gwmon.ingest._observer import BatchObserver
from gwmon.ingest._registry import Probe, Registry
from gwmon.ingest._senml import Reading
from gwmon.storage import READING, InfluxClient, Point, StoreWriter
from gwmon.storage import influxql as q

logger = logging.getLogger("gwmon.ingest.barometric")

COMPENSATION_WRITER = "gwmon-barometric"  # names it in `rejected` should InfluxDB refuse
_NS = 1_000_000_000


def _window(probe_id: str, quantity: str, first_ns: int, last_ns: int) -> tuple[q.Condition, ...]:
    return (
        q.eq("probe", probe_id),
        q.eq("quantity", quantity),
        q.time_ge(first_ns),
        q.time_le(last_ns),
    )


class Compensator:
    """Derives and stores the compensated values of loggers over time windows."""

    def __init__(
        self,
        registry: Registry,
        store: InfluxClient,
        settings: BarometricSettings,
        *,
        writer: StoreWriter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.store = store
        self.settings = settings
        self.writer = writer or StoreWriter(
            store, writer=COMPENSATION_WRITER, should_stop=lambda: True
        )
        self._clock = clock

    def for_batch(self, readings: Iterable[Reading]) -> list[Reading]:
        """Compensate what a stored batch may have changed; the derived readings stored."""
        windows = affected_windows(readings, self.registry, self.settings.max_gap_ns)
        derived: list[Reading] = []
        for probe_id, (first_ns, last_ns) in sorted(windows.items()):
            derived.extend(self.recompute(self.registry.probes[probe_id], first_ns, last_ns))
        return derived

    def recompute(self, probe: Probe, first_ns: int, last_ns: int) -> list[Reading]:
        """Derive `probe`'s values in [first_ns, last_ns] and store those that are new or
        differ from the stored ones; returns them as readings (what InfluxDB stored)."""
        if probe.barometer is None:
            return []
        pressures = self._values(probe.probe_id, PRESSURE_QUANTITY, first_ns, last_ns)
        if not pressures:
            return []
        gap = self.settings.max_gap_ns
        barometer = BarometerSeries.of(
            self._values(probe.barometer, AIR_PRESSURE_QUANTITY, first_ns - gap, last_ns + gap)
        )
        stored, measured = self._stored(probe.probe_id, first_ns, last_ns)
        results = compensate(probe, pressures, barometer, self.settings)
        different = changed(results, stored)
        todo = [item for item in different if (item[1], item[0].time_ns) not in measured]
        if len(todo) < len(different):
            logger.warning(
                "%s sends depth or level itself at times it also sends pressure_abs: the "
                "measured values are kept, the compensated ones not stored",
                probe.probe_id,
            )
        return self._store(probe, todo)

    def _values(
        self, probe_id: str, quantity: str, first_ns: int, last_ns: int
    ) -> list[tuple[int, float]]:
        statement = q.select(READING, "value").where(
            *_window(probe_id, quantity, first_ns, last_ns)
        )
        return [
            (int(row["time"]), float(row["value"]))
            for row in self.store.query_rows(statement)
            if isinstance(row.get("value"), int | float)
        ]

    def _stored(
        self, probe_id: str, first_ns: int, last_ns: int
    ) -> tuple[dict[tuple[str, int], tuple[float, float | None]], set[tuple[str, int]]]:
        """Derived values stored before ((quantity, time) -> (value, air pressure)) and
        the (quantity, time) of measured depths and levels, which are never replaced."""
        statement = (
            q.select(READING, "value", "derived_from", "air_pressure_hpa")
            .where(
                q.eq("probe", probe_id),
                q.any_of(*(q.eq("quantity", quantity) for quantity in DERIVED_QUANTITIES)),
                q.time_ge(first_ns),
                q.time_le(last_ns),
            )
            .group_by("quantity")
        )
        stored: dict[tuple[str, int], tuple[float, float | None]] = {}
        measured: set[tuple[str, int]] = set()
        for row in self.store.query_rows(statement):
            key = (str(row["quantity"]), int(row["time"]))
            if row.get("derived_from") == PRESSURE_QUANTITY:
                air = row.get("air_pressure_hpa")
                stored[key] = (float(row["value"]), float(air) if air is not None else None)
            else:
                measured.add(key)
        return stored, measured

    def _store(self, probe: Probe, todo: Sequence[tuple[Compensated, str, float]]) -> list[Reading]:
        now_ns = int(self._clock() * _NS)
        tags = {"probe": probe.probe_id, "site": probe.site, "municipality": probe.municipality}
        points: list[Point] = []
        readings: list[Reading] = []
        for result, quantity, value in todo:
            points.append(
                READING.point(
                    {**tags, "quantity": quantity},
                    {
                        "value": value,
                        "lag_s": (now_ns - result.time_ns) / _NS,
                        "derived_from": PRESSURE_QUANTITY,
                        "air_pressure_hpa": result.air_pressure_hpa,
                    },
                    result.time_ns,
                )
            )
            readings.append(
                Reading(probe.probe_id, quantity, result.time_ns, value, PRESSURE_QUANTITY, now_ns)
            )
        refused = self.writer.write([point.to_line() for point in points]).refused
        if points:
            logger.debug(
                "%s: %d compensated values stored", probe.probe_id, len(points) - len(refused)
            )
        return [reading for index, reading in enumerate(readings) if index not in refused]


class CompensatingObserver:
    """A `BatchObserver` that compensates, then hands the batch and the derived readings
    to `inner` (analytics). A failure of the compensation (InfluxDB gone between the
    batch's write and now) is raised after `inner` has seen the batch, so the ingest
    counts it (`observer_errors`) and analytics still runs; `gwmon compensate` derives
    such a period again."""

    def __init__(self, compensator: Compensator, inner: BatchObserver | None = None) -> None:
        self.compensator = compensator
        self.inner = inner

    def batch_stored(self, readings: Sequence[Reading]) -> None:
        try:
            derived = self.compensator.for_batch(readings)
        except Exception:
            if self.inner is not None:
                self.inner.batch_stored(readings)
            raise
        if self.inner is not None:
            self.inner.batch_stored([*readings, *derived] if derived else readings)

    def batch_done(self) -> Callable[[], bool] | None:
        """`inner`'s check for the batch (`DefersAcks`), so that the ingest waits for it."""
        done = getattr(self.inner, "batch_done", None)
        return done() if done is not None else None

    def tick(self, now_s: float) -> None:
        if self.inner is not None:
            self.inner.tick(now_s)

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


def needs_compensation(registry: Registry) -> bool:
    """Whether any probe of the registry names a barometer."""
    return any(probe.barometer is not None for probe in registry)


def build_compensation(
    config: GwmonConfig, registry: Registry, store: InfluxClient, inner: BatchObserver
) -> BatchObserver:
    """`inner` behind the barometric compensation, or `inner` itself when no probe of the
    registry names a barometer. Raises ConfigError for a bad [barometric] section."""
    if not needs_compensation(registry):
        return inner
    settings = config.section(CONFIG_SECTION)
    return CompensatingObserver(Compensator(registry, store, settings), inner)
