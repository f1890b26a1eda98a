"""A batch's lines of line protocol, kept partly as blocks of encoded text.

The ingest makes a message's reading lines as one block of UTF-8 text (one line per
reading, each ending in a newline): a write's body is then the blocks joined as they
are, without a `str` per line, a join of a batch's lines and the encoding of all of
them. Only when someone looks at single lines (the search for lines InfluxDB refused,
a fake store in a test) are the blocks split into lines, once. Line i of a
`LineBuffer` is the same text either way (tests/storage/test_line_buffer.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import overload


class _Block:
    """`count` lines as UTF-8 text, each ending in b"\\n"."""

    __slots__ = ("count", "text")

    def __init__(self, text: bytes, count: int) -> None:
        self.text = text
        self.count = count


# A part of a buffer: a run of single lines (a list, extended in place), or a block.
_Part = list[str] | _Block


def _size(part: _Part) -> int:
    return len(part) if isinstance(part, list) else part.count


class LineBuffer(Sequence[str]):
    """Lines in write order: single lines (`append`, `extend`) and blocks of `count`
    lines (`add_block`). Indexing an item splits the blocks (once); `take`, slices,
    `concat` and `body()` do not."""

    __slots__ = ("_count", "_lines", "_parts")

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self._parts: list[_Part] | None = []  # None: changed line by line, see _lines
        self._count = 0
        self._lines: list[str] | None = None  # the lines one by one, once asked for
        self.extend(lines)

    def __len__(self) -> int:
        return self._count

    def append(self, line: str) -> None:
        self.extend([line])

    def extend(self, lines: Iterable[str]) -> None:
        if not isinstance(lines, list):
            lines = list(lines)
        if self._lines is not None:
            self._lines += lines
        parts = self._parts
        if parts is not None:
            if parts and isinstance(parts[-1], list):
                parts[-1] += lines
            else:
                parts.append(list(lines))
        self._count += len(lines)

    def add_block(self, block: bytes, count: int) -> None:
        """`count` lines as UTF-8 text, each ending in a newline (none may hold one)."""
        if not count:
            return
        if self._parts is None or self._lines is not None:
            self._lines_one_by_one().extend(block.decode().split("\n")[:-1])
        if self._parts is not None:
            self._parts.append(_Block(block, count))
        self._count += count

    def _lines_one_by_one(self) -> list[str]:
        lines = self._lines
        if lines is None:
            lines = []
            for part in self._parts or ():
                if isinstance(part, list):
                    lines += part
                else:
                    lines += part.text.decode().split("\n")[:-1]
            self._lines = lines
        return lines

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice) and index.step in (None, 1) and self._lines is None:
            start, stop, _ = index.indices(self._count)
            return self.take([(start, max(start, stop))])
        return self._lines_one_by_one()[index]

    def __setitem__(self, index: int, line: str) -> None:
        self._lines_one_by_one()[index] = line
        self._parts = None  # the parts no longer hold these lines

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines_one_by_one())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LineBuffer | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    def __hash__(self) -> int:  # mutable, like a list
        raise TypeError("unhashable type: 'LineBuffer'")

    def __repr__(self) -> str:
        return f"LineBuffer({self._lines_one_by_one()!r})"

    def take(self, ranges: Iterable[tuple[int, int]]) -> LineBuffer:
        """Lines start..end of every range (ascending, not overlapping) as a new
        buffer, in order: one walk over the parts, cutting only the parts at a range's
        ends (a batch's part for one writer; a request of `batch_size` lines)."""
        out = LineBuffer()
        parts = self._parts
        if parts is None or (len(parts) == 1 and isinstance(parts[0], list)):
            lines = self._lines_one_by_one() if parts is None else parts[0]
            assert isinstance(lines, list)
            out.extend(list(chain.from_iterable(lines[start:end] for start, end in ranges)))
            return out
        number = position = 0  # position: the index of part `number`'s first line
        for start, end in ranges:
            if start >= end:
                continue
            if start < position:  # not ascending: walk from the first part
                number = position = 0
            while number < len(parts) and position + _size(parts[number]) <= start:
                position += _size(parts[number])
                number += 1
            while number < len(parts) and position < end:
                part = parts[number]
                size = _size(part)
                low, high = max(start - position, 0), min(end - position, size)
                if isinstance(part, list):
                    out.extend(part[low:high])
                elif low or high < size:
                    out.add_block(_cut(part.text, low, high), high - low)
                else:
                    out.add_block(part.text, size)
                if position + size > end:
                    break  # the rest of this part may belong to the next range
                position += size
                number += 1
        return out

    @classmethod
    def concat(cls, buffers: Iterable[Sequence[str]]) -> LineBuffer:
        """The lines of every buffer (or list of lines), in order, blocks kept."""
        out = cls()
        for buffer in buffers:
            if isinstance(buffer, LineBuffer) and buffer._parts is not None:
                for part in buffer._parts:
                    if isinstance(part, list):
                        out.extend(part)
                    else:
                        out.add_block(part.text, part.count)
            else:
                out.extend(buffer)
        return out

    def body(self) -> bytes:
        """Every line and its newline, UTF-8: the body of a write request."""
        if self._parts is None:
            return "\n".join([*self._lines_one_by_one(), ""]).encode()
        return b"".join(
            [
                "\n".join([*part, ""]).encode() if isinstance(part, list) else part.text
                for part in self._parts
            ]
        )


def _cut(block: bytes, low: int, high: int) -> bytes:
    """Lines low..high of a block (each line ends in a newline)."""
    start = _line_start(block, low)
    return block[start : _line_start(block, high, start, low)]


def _line_start(block: bytes, line: int, start: int = 0, start_line: int = 0) -> int:
    position = start
    for _ in range(line - start_line):
        position = block.index(b"\n", position) + 1
    return position


def body_of(lines: Sequence[str]) -> bytes:
    """The body of a write request of `lines` (a `LineBuffer` without splitting)."""
    if isinstance(lines, LineBuffer):
        return lines.body()
    return "\n".join([*lines, ""]).encode()
