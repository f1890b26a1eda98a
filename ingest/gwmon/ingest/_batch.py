"""The batch: lines waiting for one write, the readings among them, and the messages to
acknowledge once the write is done."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gwmon.ingest._senml import Reading
from gwmon.ingest._source import InboundMessage


@dataclass
class Batch:
    lines: list[str] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    reading_lines: list[int] = field(default_factory=list)  # index in `lines` per reading
    messages: list[InboundMessage] = field(default_factory=list)
    first_at: float | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def add_reading(self, line: str, reading: Reading) -> None:
        self.reading_lines.append(len(self.lines))
        self.lines.append(line)
        self.readings.append(reading)

    def add_message(self, message: InboundMessage) -> None:
        if self.first_at is None:
            self.first_at = message.received_at
        if message.qos > 0:
            self.messages.append(message)

    def stored_readings(self, refused: Mapping[int, str]) -> list[Reading]:
        """The readings whose lines InfluxDB did not refuse."""
        if not refused:
            return self.readings
        return [
            reading
            for reading, line in zip(self.readings, self.reading_lines, strict=True)
            if line not in refused
        ]


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    """When a batch is written: full, as many unacknowledged messages as the broker
    sends before it waits (MQTT 5 Receive Maximum), or old enough."""

    max_lines: int
    max_messages: int
    max_age_s: float

    def due(self, batch: Batch, now: float) -> bool:
        if not batch.lines and not batch.messages:
            return False
        if len(batch.lines) >= self.max_lines or len(batch.messages) >= self.max_messages:
            return True
        return batch.first_at is not None and now - batch.first_at >= self.max_age_s
