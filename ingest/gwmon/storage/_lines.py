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
from typing import cast, overload


class LineBuffer(Sequence[str]):
    """Lines in write order: single lines (`append`) and blocks of `count` lines
    (`add_block`). Indexing an item splits the blocks (once); a slice of whole parts,
    `concat` and `body()` do not."""

    __slots__ = ("_blocks", "_count", "_lines", "_parts", "_sizes")

    def __init__(self, lines: Iterable[str] = ()) -> None:
        # Parts: a str is one line (without its newline), bytes a block of _sizes[k]
        # lines, each ending in b"\n".
        self._parts: list[str | bytes] | None = []
        self._sizes: list[int] = []
        self._count = 0
        self._blocks = False  # any part a block (else the parts are the lines)
        self._lines: list[str] | None = None  # the lines one by one, once asked for
        self.extend(lines)

    def __len__(self) -> int:
        return self._count

    def append(self, line: str) -> None:
        if self._lines is not None:
            self._lines.append(line)
        if self._parts is not None:
            self._parts.append(line)
            self._sizes.append(1)
        self._count += 1

    def extend(self, lines: Iterable[str]) -> None:
        if not isinstance(lines, list):
            lines = list(lines)
        if self._lines is not None:
            self._lines += lines
        if self._parts is not None:
            self._parts += lines
            self._sizes += [1] * len(lines)
        self._count += len(lines)

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
            self._sizes.append(count)
            self._blocks = True
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
        self._sizes = []

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
        return self.take([(start, stop)])

    def take(self, ranges: Iterable[tuple[int, int]]) -> LineBuffer:
        """Lines start..end of every range (ascending, not overlapping) as a new
        buffer, in order: one walk over the parts, cutting only the blocks at a range's
        ends (a batch's part for one writer; a request of `batch_size` lines)."""
        out = LineBuffer()
        if self._parts is None or not self._blocks:
            lines = self._lines_one_by_one() if self._parts is None else self._parts
            out.extend(
                chain.from_iterable(cast("list[str]", lines[start:end]) for start, end in ranges)
            )
            return out
        parts, sizes, total = self._parts, self._sizes, len(self._parts)
        out_parts, out_sizes = out._parts, out._sizes
        assert out_parts is not None  # a new buffer
        count = number = position = 0  # position: the index of part `number`'s first line
        for start, end in ranges:
            if start >= end:
                continue
            if start < position:  # not ascending: walk from the first part
                number = position = 0
            while number < total and position + sizes[number] <= start:
                position += sizes[number]
                number += 1
            while number < total and position < end:
                part, size = parts[number], sizes[number]
                if position < start or position + size > end:
                    # Only a block can be cut: a single line lies wholly in or out.
                    low = max(start - position, 0)
                    high = min(end - position, size)
                    part, size = _cut(part, low, high), high - low  # type: ignore[arg-type]
                out_parts.append(part)
                out_sizes.append(size)
                count += size
                if position + sizes[number] > end:
                    break  # the rest of this block may belong to the next range
                position += sizes[number]
                number += 1
        out._count = count
        out._blocks = self._blocks
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
        if self._parts is None or not self._blocks:
            lines = self._lines_one_by_one() if self._parts is None else self._parts
            return "\n".join([*cast("list[str]", lines), ""]).encode()  # no blocks: all str
        # Runs of single lines joined and encoded at once, blocks as they are.
        pieces: list[bytes] = []
        run: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                run.append(part)
                continue
            if run:
                pieces.append("\n".join([*run, ""]).encode())
                run = []
            pieces.append(part)
        if run:
            pieces.append("\n".join([*run, ""]).encode())
        return b"".join(pieces)


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
