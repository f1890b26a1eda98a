"""The interface through which later stages see what the ingest stored."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from gwmon.ingest._senml import Reading


class ReadingColumns(Protocol):
    """The readings of one message as parallel columns: reading i is probe `probe`,
    `quantities[i]`, `times_ns[i]`, `values[i]`, `record_names[i]`, arrival `arrival_ns`,
    `censored[i]`; exactly the `Reading` the sequence holds for it."""

    @property
    def probe(self) -> str: ...

    @property
    def arrival_ns(self) -> int: ...

    @property
    def quantities(self) -> Sequence[str]: ...

    @property
    def times_ns(self) -> Sequence[int]: ...

    @property
    def values(self) -> Sequence[float]: ...

    @property
    def record_names(self) -> Sequence[str]: ...

    @property
    def censored(self) -> Sequence[bool]: ...


@runtime_checkable
class ColumnarReadings(Protocol):
    """What `IngestService` hands its observers besides the `Reading` sequence:
    `columns()`, the same readings in the same order as one `ReadingColumns` per
    message, so an observer can read them without a `Reading` object per reading."""

    def columns(self) -> Sequence[ReadingColumns]: ...


class BatchObserver(Protocol):
    """Sees every batch of readings after InfluxDB accepted it.

    Lifecycle, all on the ingest's single thread:
    - constructed by `gwmon run` before the MQTT connection opens;
    - `batch_stored(readings)` once per written batch, in arrival order (which is not
      measurement-time order: backfill and redelivery arrive late and twice), **before**
      the broker is acknowledged. When it returns, whatever the observer derived from the
      batch (flags, alerts, queued mails, its own state) must be durable: a crash right
      after it would not redeliver the batch;
    - `tick(now_s)` about once per second, also while no data arrives (stale probes);
    - `close()` once at shutdown, after the last batch.

    A raised exception is logged and counted (`observer_errors`); the batch is still
    acknowledged, because the readings are safe in InfluxDB and analytics can be re-run
    from there.

    An observer with a true class attribute `overlaps_next_write` lets the ingest write
    the next batch to InfluxDB while `batch_stored` runs (when every observer has it):
    it must not depend on what InfluxDB holds beyond the batch it is given, and must not
    share the ingest's writers' clients (the `store` handed to `gwmon run`'s observers is
    then the ingest thread's alone). The batch is still acknowledged only after
    `batch_stored` returned.

    An observer with a method `batch_done()` may finish a batch after `batch_stored`
    returned (`DefersAcks`): the ingest acknowledges the batch's messages only once the
    check `batch_done()` gave right after `batch_stored` says True, in arrival order.
    """

    def batch_stored(self, readings: Sequence[Reading]) -> None: ...

    def tick(self, now_s: float) -> None: ...

    def close(self) -> None: ...


class DefersAcks(Protocol):
    """An observer that finishes batches in the background (the analytics of a
    scaled-out group: hand-offs still on the way to the broker, readings held briefly
    to evaluate them in measurement order). `batch_done()`, called on the ingest's
    thread right after each `batch_stored`, gives a check (any thread may make it
    true) that says when that batch is safe: its messages are acknowledged only then,
    and a batch never before the ones before it. None: safe already."""

    def batch_done(self) -> Callable[[], bool] | None: ...
