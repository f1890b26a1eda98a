"""What analytics writes, and how it is delivered after each committed batch.

Every batch commits its results to the state file together with an outbox (`_state.py`)
of `qc` and `alert` lines, withdrawals of `qc` flags (a DELETE) and alert events;
`Delivery.flush` then works the outbox off in order. All writes go through one
`gwmon.storage.StoreWriter`, the policy for refused writes shared with the ingest:

- InfluxDB unavailable (no answer, 5xx, 401/403/404): the lines stay in the outbox and
  are written at the next batch or tick, in their order; a withdrawal waits for the
  lines before it. Events are announced all the same: mail must not wait for the
  database.
- InfluxDB refuses a line for good (HTTP 400, e.g. a field type conflict): the writer
  records it in `rejected` (reason `store_refused`, the whole line as payload, so it can
  be written again once the conflict is fixed), analytics counts it
  (`AnalyticsStats.store_refused`) and goes on. The analytics state is not rolled back:
  flags and alerts are derived from readings InfluxDB did store, so the state remains
  the truth about them. A refused `alert` point leaves InfluxDB one change behind; the
  alert is still announced (a breach must not go unmailed over a storage conflict) and
  its next change writes its whole present state again. A refused `qc` point is a flag
  that dashboards and `gwmon trend` do not see (the trend test then uses that value).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gwmon.analytics._codec import event_from_state
from gwmon.analytics._engine import Flag
from gwmon.analytics._model import AlertEvent, AlertListener
from gwmon.analytics._state import EVENT, LINE, QC_DELETE, StateStore
from gwmon.analytics._stats import AnalyticsStats
from gwmon.ingest import Probe
from gwmon.storage import (
    QC,
    FieldValue,
    InfluxClient,
    Point,
    StoreError,
    StoreWriteError,
    StoreWriter,
)
from gwmon.storage import influxql as q

logger = logging.getLogger("gwmon.analytics.delivery")

_LINES_PER_WRITE = 5_000


def qc_point(
    probe: Probe,
    quantity: str,
    time_ns: int,
    value: float,
    flag: Flag,
    *,
    withdrawn: bool | None = None,
) -> Point:
    """The `qc` point of one flag on one reading (at the reading's measurement time);
    `withdrawn` only with [analytics] qc_withdrawal = "mark" (docs/alerts.md)."""
    tags = {
        "probe": probe.probe_id,
        "site": probe.site,
        "municipality": probe.municipality,
        "quantity": quantity,
        "flag": flag.flag,
    }
    fields: dict[str, FieldValue] = {
        "value": float(value),
        "detector": flag.detector,
        "detail": flag.detail,
    }
    if withdrawn is not None:
        fields["withdrawn"] = withdrawn
    return QC.point(tags, fields, time_ns)


@dataclass(frozen=True, slots=True)
class QcWithdrawal:
    """A flag a reading no longer has (its value was replaced, or a replay cleared it)."""

    probe: str
    quantity: str
    flag: str
    time_ns: int

    def statement(self) -> q.Statement:
        conditions = (
            q.eq("probe", self.probe),
            q.eq("quantity", self.quantity),
            q.eq("flag", self.flag),
            q.time_ge(self.time_ns),
            q.time_le(self.time_ns),
        )
        return q.Delete(QC, conditions)

    def to_body(self) -> str:
        return json.dumps([self.probe, self.quantity, self.flag, self.time_ns])

    @classmethod
    def from_body(cls, body: str) -> QcWithdrawal:
        probe, quantity, flag, time_ns = json.loads(body)
        return cls(str(probe), str(quantity), str(flag), int(time_ns))


_OLD_CONDITION = re.compile(r"\"(probe|quantity|flag)\" = '([^'\\]*)'")
_OLD_TIME = re.compile(r"time >= ([0-9]+) AND time <= ([0-9]+)$")


def withdrawal_from_old_statement(text: str) -> QcWithdrawal | None:
    """The withdrawal an outbox row of kind "query" (state files written before
    withdrawals were stored as data) holds: its DELETE text, or None if it is not one."""
    values = dict(_OLD_CONDITION.findall(text))
    times = _OLD_TIME.search(text)
    if set(values) != {"probe", "quantity", "flag"} or times is None:
        return None
    withdrawal = QcWithdrawal(values["probe"], values["quantity"], values["flag"], int(times[1]))
    return withdrawal if withdrawal.statement().text == text else None


def write_points(writer: StoreWriter, points: Iterable[Point]) -> None:
    """Write for a CLI: a refused point (recorded in `rejected`) is a StoreWriteError."""
    result = writer.write([point.to_line() for point in points])
    if result.refused:
        reason = next(iter(result.refused.values()))
        msg = f"InfluxDB refused {len(result.refused)} point(s) (kept in `rejected`): {reason}"
        raise StoreWriteError(msg, retryable=False, status=400)


class Delivery:
    """Works the outbox off (see the module docstring). The caller serialises calls."""

    def __init__(self, state: StateStore, stats: AnalyticsStats) -> None:
        self._state = state
        self._stats = stats
        self.listeners: list[AlertListener] = []

    def flush(self, writer: StoreWriter, client: InfluxClient) -> None:
        """Deliver the outbox: lines through `writer`, withdrawals through `client`."""
        rows = self._state.outbox()
        if not rows:
            return
        done: list[int] = []
        lines: list[str] = []
        line_ids: list[int] = []
        failed = False
        for row_id, kind, body in rows:
            if kind == LINE:
                if not failed:
                    lines.append(body)
                    line_ids.append(row_id)
            elif kind == EVENT:
                self._announce(event_from_state(json.loads(body)))
                done.append(row_id)
            elif failed or not self._write(writer, lines):
                failed = True
            else:
                done.extend(line_ids)
                lines.clear()
                line_ids.clear()
                self._withdraw(client, kind, body)
                done.append(row_id)
        if not failed and self._write(writer, lines):
            done.extend(line_ids)
        self._state.outbox_done(done)

    def _write(self, writer: StoreWriter, lines: Sequence[str]) -> bool:
        """Write `lines` (in parts): True when InfluxDB has each one or refused it."""
        for start in range(0, len(lines), _LINES_PER_WRITE):
            part = lines[start : start + _LINES_PER_WRITE]
            try:
                result = writer.write(part)
            except StoreError as exc:
                self._stats.store_errors += 1
                logger.warning("analytics write to InfluxDB failed (%s); kept", exc)
                return False
            self._stats.store_errors += result.failed_requests
            if result.refused:
                # Recorded in `rejected` by the writer; retrying cannot help.
                self._stats.store_refused += len(result.refused)
                logger.error(
                    "InfluxDB refused %d analytics point(s); first: %s",
                    len(result.refused),
                    part[min(result.refused)][:300],
                )
        return True

    def _withdraw(self, client: InfluxClient, kind: str, body: str) -> None:
        withdrawal = (
            QcWithdrawal.from_body(body)
            if kind == QC_DELETE
            else withdrawal_from_old_statement(body)
        )
        if withdrawal is None:
            logger.error("outbox row of kind %r not understood, dropped: %s", kind, body[:200])
            return
        try:
            client.query(withdrawal.statement())
        except StoreError as exc:
            self._stats.store_errors += 1
            logger.warning("analytics qc withdrawal failed (%s): %s", exc, withdrawal)

    def _announce(self, event: AlertEvent) -> None:
        for listener in self.listeners:
            try:
                listener.alert_event(event)
            except Exception:
                self._stats.listener_errors += 1
                logger.exception("alert listener %r failed on %s", listener, event.event_id)
        self._stats.events += 1
