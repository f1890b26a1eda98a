"""A batch's lines of line protocol, kept partly as blocks of encoded text.

The ingest makes a message's reading lines as one block of UTF-8 text (one line per
reading, each ending in a newline): a write's body is then the blocks joined as they
are, without a `str` per line, a join of a batch's lines and the encoding of all of
them. Only when someone looks at single lines (the search for lines InfluxDB refused,
a fake store in a test) are the blocks split into lines, once. Line i of a
`LineBuffer` is the same text either way (tests/storage/test_line_buffer.py).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from typing import overload


class LineBuffer(Sequence[str]):
    """Lines in write order: single lines (`append`) and blocks of `count` lines
    (`add_block`). Indexing an item splits the blocks (once); a slice of whole parts,
    `concat` and `body()` do not."""

    __slots__ = ("_count", "_lines", "_parts", "_sizes", "_starts")

    def __init__(self, lines: Iterable[str] = ()) -> None:
        # Parts: a str is one line (without its newline), bytes a block of lines each
        # ending in b"\n"; _starts[k] is the index of part k's first line.
        self._parts: list[str | bytes] | None = []
        self._starts: list[int] = []
        self._sizes: list[int] = []
        self._count = 0
        self._lines: list[str] | None = None  # the lines one by one, once asked for
        for line in lines:
            self.append(line)

    def __len__(self) -> int:
        return self._count

    def append(self, line: str) -> None:
        if self._lines is not None:
            self._lines.append(line)
        if self._parts is not None:
            self._parts.append(line)
            self._starts.append(self._count)
            self._sizes.append(1)
        self._count += 1

    def extend(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.append(line)

    def add_block(self, block: bytes, count: int) -> None:
        """`count` lines as UTF-8 text, each ending in a newline (none may hold one)."""
        if not count:
            return
        if self._parts is None:  # changed line by line already: stay a list
            self._lines_one_by_one().extend(block.decode().split("\n")[:-1])
        else:
            if self._lines is not None:
                self._lines.extend(block.decode().split("\n")[:-1])
            self._parts.append(block)
            self._starts.append(self._count)
            self._sizes.append(count)
        self._count += count

    def _lines_one_by_one(self) -> list[str]:
        lines = self._lines
        if lines is None:
            lines = []
            for part in self._parts or ():
                if isinstance(part, str):
                    lines.append(part)
                else:
                    lines += part.decode().split("\n")[:-1]
            self._lines = lines
        return lines

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice) and index.step in (None, 1) and self._lines is None:
            start, stop, _ = index.indices(self._count)
            return self._slice(start, max(start, stop))
        return self._lines_one_by_one()[index]

    def __setitem__(self, index: int, line: str) -> None:
        self._lines_one_by_one()[index] = line
        self._parts = None  # the blocks no longer hold these lines
        self._starts, self._sizes = [], []

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

    def _slice(self, start: int, stop: int) -> LineBuffer:
        """Lines start..stop as a new buffer, cutting at most the two blocks at its ends."""
        out = LineBuffer()
        if self._parts is None:
            out.extend(self._lines_one_by_one()[start:stop])
            return out
        first = bisect.bisect_right(self._starts, start) - 1
        position = start
        for number in range(max(first, 0), len(self._parts)):
            part_start = self._starts[number]
            if part_start >= stop:
                break
            part, size = self._parts[number], self._sizes[number]
            low, high = position - part_start, min(stop, part_start + size) - part_start
            if high <= low:
                break
            if isinstance(part, str):
                out.append(part)
            elif low == 0 and high == size:
                out.add_block(part, size)
            else:
                out.add_block(_cut(part, low, high), high - low)
            position = part_start + high
        return out

    @classmethod
    def concat(cls, buffers: Iterable[Sequence[str]]) -> LineBuffer:
        """The lines of every buffer (or list of lines), in order, blocks kept."""
        out = cls()
        for buffer in buffers:
            if isinstance(buffer, LineBuffer) and buffer._parts is not None:
                for part, size in zip(buffer._parts, buffer._sizes, strict=True):
                    if isinstance(part, str):
                        out.append(part)
                    else:
                        out.add_block(part, size)
            else:
                out.extend(buffer)
        return out

    def body(self) -> bytes:
        """Every line and its newline, UTF-8: the body of a write request."""
        if self._parts is None:
            return "\n".join([*self._lines_one_by_one(), ""]).encode()
        return b"".join(
            [part if isinstance(part, bytes) else f"{part}\n".encode() for part in self._parts]
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
