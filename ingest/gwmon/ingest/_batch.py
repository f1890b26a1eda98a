"""The batch: lines waiting for one write, the readings among them, and the messages to
acknowledge once the write is done."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

from gwmon.ingest._pack import PackColumns
from gwmon.ingest._senml import Reading
from gwmon.ingest._source import InboundMessage
from gwmon.storage import LineBuffer


class Batch:
    """Lines in write order (a `LineBuffer`: a message's reading lines are one block of
    text). The readings stay in their messages' columns (`packs`: the index in `lines`
    of each message's first reading line, then one line per reading); `Reading` objects
    are made only for the observers that ask for them."""

    __slots__ = ("first_at", "last_at", "lines", "messages", "packs", "reading_count")

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self.lines = LineBuffer(lines)
        self.packs: list[tuple[int, PackColumns]] = []
        self.reading_count = 0
        self.messages: list[InboundMessage] = []
        self.first_at: float | None = None
        self.last_at: float | None = None  # when the latest message arrived

    def __len__(self) -> int:
        return len(self.lines)

    def add_readings(self, columns: PackColumns, lines: list[str] | bytes) -> None:
        """`lines[i]` is the line of reading i of `columns`; or `lines` is a block of
        text of those lines (`SeriesLines.reading_block`)."""
        buffer = self.lines
        self.packs.append((len(buffer), columns))
        if isinstance(lines, bytes):
            count = len(columns.times_ns)
            buffer.add_block(lines, count)
        else:
            count = len(lines)
            buffer.extend(lines)
        self.reading_count += count

    def add_message(self, message: InboundMessage) -> None:
        if self.first_at is None:
            self.first_at = message.received_at
        self.last_at = message.received_at
        if message.qos > 0:
            self.messages.append(message)

    def _refused_readings(self, refused: Mapping[int, str]) -> list[tuple[int, int]]:
        """(pack number, reading index) of every reading whose line was refused."""
        found = []
        for number, (first, columns) in enumerate(self.packs):
            found += [(number, index) for index in range(len(columns)) if first + index in refused]
        return found

    def stored_reading_count(self, refused: Mapping[int, str]) -> int:
        """How many readings InfluxDB stored (their lines were not refused)."""
        if not refused:
            return self.reading_count
        return self.reading_count - len(self._refused_readings(refused))

    def stored_readings(self, refused: Mapping[int, str]) -> list[Reading]:
        """The readings whose lines InfluxDB did not refuse, in arrival order."""
        readings: list[Reading] = []
        for first, columns in self.packs:
            if not refused:
                readings += columns.readings()
                continue
            readings += [
                columns.reading(index)
                for index in range(len(columns))
                if first + index not in refused
            ]
        return readings


class StoredReadings(Sequence[Reading]):
    """The stored readings of a written batch for the observers, as `Reading` objects
    made on first use: an observer that does not look (analytics switched off) costs
    nothing."""

    def __init__(self, batch: Batch, refused: Mapping[int, str]) -> None:
        self._batch = batch
        self._refused = refused
        self._count = batch.stored_reading_count(refused)
        self._readings: list[Reading] | None = None

    def _all(self) -> list[Reading]:
        if self._readings is None:
            self._readings = self._batch.stored_readings(self._refused)
        return self._readings

    def columns(self) -> list[PackColumns]:
        """The same readings, in the same order, as their messages' columns
        (`ColumnarReadings`); a message with refused lines as a copy without them."""
        refused = self._refused
        out: list[PackColumns] = []
        for first, pack in self._batch.packs:
            stored = pack
            if refused:
                kept = [i for i in range(len(pack)) if first + i not in refused]
                if len(kept) < len(pack):
                    stored = pack.subset(kept)
            if len(stored):
                out.append(stored)
        return out

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Reading: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Reading]: ...

    def __getitem__(self, index: int | slice) -> Reading | Sequence[Reading]:
        return self._all()[index]

    def __iter__(self) -> Iterator[Reading]:
        return iter(self._all())


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    """When a batch is written: full, as many unacknowledged messages as the broker
    sends before it waits (MQTT 5 Receive Maximum), old enough, or the stream has gone
    quiet: no message for `quiet_s` (0: never), so the last batch of a burst does not
    wait out `max_age_s` for messages that are not coming. Under a steady stream the
    gaps are shorter and batches fill as before."""

    max_lines: int
    max_messages: int
    max_age_s: float
    quiet_s: float = 0.0

    def full(self, batch: Batch) -> bool:
        return len(batch.lines) >= self.max_lines or len(batch.messages) >= self.max_messages

    def due(self, batch: Batch, now: float) -> bool:
        if not batch.lines and not batch.messages:
            return False
        if self.full(batch):
            return True
        if self.quiet_s and batch.last_at is not None and now - batch.last_at >= self.quiet_s:
            return True
        return batch.first_at is not None and now - batch.first_at >= self.max_age_s
