"""The one store writer: how every stage writes and what happens to refused points.

Policy, the same for the ingest and for analytics:
- a write that fails because InfluxDB is unreachable, overloaded or misconfigured (no
  answer, 5xx, 401/403/404) is retried with backoff until it succeeds or the caller
  stops (`StoreUnavailable`); nothing is acknowledged meanwhile, so nothing is lost;
- a write InfluxDB refuses (HTTP 400: field type conflict, unparseable line) is split
  until the refused lines are known; the good ones are stored, and each refused one is
  recorded as a `rejected` point with reason `store_refused`, naming its probe,
  quantity and time. The caller learns which lines were refused, so that it counts and
  evaluates only what was stored.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gwmon.backoff import Backoff
from gwmon.storage._errors import StoreWriteError
from gwmon.storage._line import line_tags, line_time_ns
from gwmon.storage._measurements import REJECTED

logger = logging.getLogger("gwmon.storage.writer")

STORE_REFUSED = "store_refused"  # rejected.reason of a point InfluxDB refused
INVALID_PROBE_TAG = "_invalid"  # rejected.probe when there is no (registered) probe
_DAY_NS = 86_400 * 1_000_000_000
_RECORD_REFUSALS_FOR_S = 60.0


class StoreUnavailable(StoreWriteError):
    """The caller asked to stop while InfluxDB was still not accepting the write."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """`refused`: index in the written lines -> InfluxDB's reason, for every line it
    refused for good (recorded in `rejected`); `failed_requests`: write requests that
    failed on the way (retried or split)."""

    refused: Mapping[int, str]
    failed_requests: int


class LineSink(Protocol):
    """Where lines go: `InfluxClient`, or a fake in unit tests of the policy."""

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write in one request; raise StoreWriteError (with `status`, `dropped`)."""


@dataclass
class _RefusalSearch:
    lines: Sequence[str]
    order: list[int]  # indices into `lines`, sorted by measurement and time
    day_starts: list[int]  # positions in `order` where a new (measurement, day) begins
    refused: dict[int, str] = field(default_factory=dict)


class StoreWriter:
    """Writes line protocol under the policy above. Not thread-safe: one per thread.

    `wait(seconds)` is how the writer sleeps between tries (the ingest passes one that
    keeps the MQTT connection alive); `should_stop()` is asked before every retry.
    `writer` names the process in `rejected.ingestor`; retries wait at most
    `max_retry_interval_s` ([influxdb] max_retry_interval_s).
    """

    def __init__(
        self,
        client: LineSink,
        *,
        writer: str,
        max_retry_interval_s: float = 30.0,
        wait: Callable[[float], None] = time.sleep,
        should_stop: Callable[[], bool] = lambda: False,
        rejected_payload_max_chars: int = 2_048,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.writer = writer
        self._max_retry_s = max_retry_interval_s
        self._wait = wait
        self._should_stop = should_stop
        self._max_chars = rejected_payload_max_chars
        self._clock = clock
        self._failed = 0
        self._last_record_ns = 0

    def write(self, lines: Sequence[str], *, record_refusals: bool = True) -> WriteResult:
        """Write `lines` under the policy; raises StoreUnavailable only when asked to stop.

        `record_refusals=False` leaves out the `rejected` points (to measure the search)."""
        self._failed = 0
        if not lines:
            return WriteResult({}, 0)
        error = self._write_once(lines)
        if error is None:
            return WriteResult({}, self._failed)
        refused = self._find_refused(lines, error)
        result = WriteResult(refused, self._failed)
        if record_refusals:
            self._record_refusals(lines, refused)
        return result

    # -- finding the refused lines ------------------------------------------------------------
    def _find_refused(self, lines: Sequence[str], error: StoreWriteError) -> dict[int, str]:
        # InfluxDB answers a partial write with a count ("dropped=N") and the first
        # conflict, not with the lines it refused, and keeps the others. Find them by
        # writing parts again: rewriting a stored point stores the same point (same
        # measurement, tags and time). Field types are per shard, and shards are whole
        # UTC days or weeks (1 h only for retention under 2 days): sorted by measurement
        # and time, and cut between days where possible, a part is mostly wholly stored
        # or wholly refused ("dropped" = its size) and needs no further cut. The sort is
        # stable and parts are written in order, so of two lines for the same point the
        # later one still wins.
        keys = [_shard_key(line) for line in lines]
        order = sorted(range(len(lines)), key=keys.__getitem__)
        search = _RefusalSearch(
            lines=lines,
            order=order,
            day_starts=[
                position
                for position in range(1, len(order))
                if keys[order[position]][:2] != keys[order[position - 1]][:2]
            ],
        )
        self._isolate(search, 0, len(order), error)
        return search.refused

    def _isolate(self, search: _RefusalSearch, low: int, high: int, error: StoreWriteError) -> None:
        """Lines order[low:high] were written together and `error` came back."""
        if high - low == 1 or error.dropped == high - low:
            search.refused.update(dict.fromkeys(search.order[low:high], error.detail))
            return
        cut = _cut_near_middle(search.day_starts, low, high)
        for part_low, part_high in ((low, cut), (cut, high)):
            part = [search.lines[index] for index in search.order[part_low:part_high]]
            part_error = self._write_once(part)
            if part_error is not None:
                self._isolate(search, part_low, part_high, part_error)

    def _write_once(self, lines: Sequence[str]) -> StoreWriteError | None:
        """None once InfluxDB has all `lines`; its refusal (HTTP 400) otherwise. Every
        other failure is retried with backoff until it succeeds or the caller stops."""
        backoff = Backoff(0.2, self._max_retry_s)
        while True:
            try:
                self.client.write_lines(lines)
            except StoreWriteError as exc:
                self._failed += 1
                if exc.status == 400:
                    return exc
                if self._should_stop():
                    msg = f"stopped while InfluxDB was not accepting writes: {exc}"
                    raise StoreUnavailable(msg, retryable=True, status=exc.status) from None
                delay = backoff.next_delay()
                if exc.retryable:
                    logger.warning("InfluxDB write failed (%s); retrying in %.1f s", exc, delay)
                else:
                    # Auth, missing database, ...: nothing is lost (nothing is
                    # acknowledged meanwhile), but an operator must act.
                    logger.error("InfluxDB refuses writes: %s; retrying in %.0f s", exc, delay)
                self._wait(delay)
            else:
                return None

    # -- recording them -------------------------------------------------------------------------
    def record_refusals(self, lines: Sequence[str], refused: Mapping[int, str]) -> None:
        """Record refusals found by `write(..., record_refusals=False)` (of this writer or
        of others writing parts of the same lines) as `rejected` points."""
        if refused:
            self._record_refusals(lines, refused)

    def _record_refusals(self, lines: Sequence[str], refused: Mapping[int, str]) -> None:
        first = next(iter(refused.values()))
        logger.error("InfluxDB refused %d of %d points: %s", len(refused), len(lines), first[:300])
        now_ns = int(self._clock() * 1_000_000_000)
        records = [
            self._refusal_line(lines[index], refused[index], now_ns) for index in sorted(refused)
        ]
        started = time.monotonic()
        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                self.client.write_lines(records)
            except StoreWriteError as exc:
                if (
                    not exc.retryable
                    or self._should_stop()
                    or time.monotonic() - started > _RECORD_REFUSALS_FOR_S
                ):
                    logger.error(
                        "could not record the %d refused points either: %s", len(records), exc
                    )
                    return
                self._wait(backoff.next_delay())
            else:
                return

    def _refusal_line(self, line: str, reason: str, now_ns: int) -> str:
        # Rejections of one writer share their tags: a unique time keeps each one.
        self._last_record_ns = max(now_ns, self._last_record_ns + 1)
        tags = line_tags(line)
        text = line if len(line) <= self._max_chars else line[: self._max_chars] + "…"
        values: dict[str, str | int] = {
            "topic": "",
            "payload": text,
            "detail": reason[:1000],
            "record_index": -1,
            "payload_bytes": len(line.encode()),
        }
        if tags.get("quantity"):
            values["quantity"] = tags["quantity"][:64]
        point_time = line_time_ns(line)
        if point_time is not None:
            values["point_time_ns"] = point_time
        point = REJECTED.point(
            {
                "reason": STORE_REFUSED,
                "probe": tags.get("probe") or INVALID_PROBE_TAG,
                "ingestor": self.writer,
            },
            values,
            self._last_record_ns,
        )
        return point.to_line()


def _shard_key(line: str) -> tuple[str, int, int]:
    """(measurement, UTC day, time) of a line; gwmon's measurement names hold no escapes."""
    measurement = line.split(" ", 1)[0].split(",", 1)[0]
    time_ns = line_time_ns(line) or 0
    return measurement, time_ns // _DAY_NS, time_ns


def _cut_near_middle(day_starts: list[int], low: int, high: int) -> int:
    """Where to cut order[low:high] in two: the start of a day (or measurement) nearest
    to the middle, else the middle."""
    middle = (low + high) // 2
    first = bisect.bisect_right(day_starts, low)
    last = bisect.bisect_left(day_starts, high)
    if first == last:
        return middle
    nearest = bisect.bisect_left(day_starts, middle, first, last)
    candidates = day_starts[max(first, nearest - 1) : min(last, nearest + 1)]
    return min(candidates, key=lambda position: abs(position - middle))
