"""How much does the mail outbox cost the ingest thread?

`MailService.alert_event` runs inside the ingest's batch handling and must make each event
durable (atomic write + fsync) before it returns. This measures events/s through
`alert_event` and, as the baseline measured in the same run, the same JSON written
without fsync; the ratio is the price of durability on this disk. Alert events are rare
(a handful per probe per day), so the absolute rate only has to beat a burst of all probes.

    .venv/bin/python bench/mail_outbox.py [--events N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from gwmon.analytics import (
    Alert,
    AlertEvent,
    AlertEventType,
    AlertKind,
    AlertState,
    Severity,
    alert_to_json,
)
from gwmon.analytics.mail import MailService, MailSettings
from gwmon.ingest import Registry


class _NoAck:
    """An alert book that knows no alert."""

    def get(self, alert_id: str) -> Alert | None:
        return None

    def open_alerts(self) -> list[Alert]:
        return []

    def acknowledge(
        self, alert_id: str, *, by: str, comment: str | None = None, at: dt.datetime | None = None
    ) -> Alert:
        raise KeyError(alert_id)


class _NoTransport:
    def send(self, message: bytes, sender: str, recipients: object) -> None:
        return None


def _events(n: int) -> list[AlertEvent]:
    t0 = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
    out = []
    for i in range(n):
        alert = Alert(
            alert_id=f"P-{i}-breach-1",
            probe=f"P-{i}",
            site="Site",
            municipality="Leipzig",
            kind=AlertKind.BREACH,
            severity=Severity.CRITICAL,
            state=AlertState.OPEN,
            opened_at=t0,
            updated_at=t0,
            value=54.2,
            threshold=50.0,
            unit="mg/L",
            message="m",
        )
        out.append(AlertEvent(f"{alert.alert_id}:opened", AlertEventType.OPENED, alert))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    events = _events(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "plain"
        base.mkdir()
        started = time.perf_counter()
        for event in events:
            record = {"event_id": event.event_id, "alert": alert_to_json(event.alert)}
            (base / f"{event.event_id}.json").write_text(json.dumps(record))
        baseline = len(events) / (time.perf_counter() - started)

        settings = MailSettings(
            enabled=True,
            outbox_dir=Path(tmp) / "outbox",
            operators=["ops@example.org"],
            maintenance=["maint@example.org"],
            routes={"Leipzig": {"stabsstelle": "S", "recipients": ["s@example.org"]}},  # type: ignore[dict-item]
            reminder_interval_s=0,
        )
        service = MailService(
            settings,
            Registry(probes={}),
            book=_NoAck(),
            transport=_NoTransport(),
            chart_source=None,
            token_secret=b"k",
        )
        started = time.perf_counter()
        for event in events:
            service.alert_event(event)
        durable = len(events) / (time.perf_counter() - started)
        files = len(list((Path(tmp) / "outbox" / "events").glob("*.json")))
    print(f"events: {len(events)} (each to 2 audiences: {files} outbox files)")
    print(f"baseline json write, no fsync: {baseline:10.0f} events/s")
    print(f"alert_event, atomic + fsync:   {durable:10.0f} events/s")
    print(f"ratio durable/baseline:        {durable / baseline:10.3f}")


if __name__ == "__main__":
    main()
