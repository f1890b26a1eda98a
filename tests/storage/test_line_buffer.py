"""`LineBuffer`: a batch's lines kept partly as blocks of encoded text are the same
lines, one by one, in every slice and in the body of a write, as the plain list of
them (the write path before the blocks)."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from gwmon.storage import LineBuffer, body_of

# Lines of any text but a newline (no line of the contract holds one) that UTF-8 can
# hold (no lone surrogate).
line_text = st.text(st.characters(codec="utf-8", blacklist_characters="\n\r"), max_size=12)
# A part: one line (`append`) or a block of lines (`add_block`).
part = st.one_of(line_text, st.lists(line_text, min_size=1, max_size=6))


def _buffer(parts: list[str | list[str]]) -> tuple[LineBuffer, list[str]]:
    buffer, lines = LineBuffer(), []
    for item in parts:
        if isinstance(item, str):
            buffer.append(item)
            lines.append(item)
        else:
            buffer.add_block("".join(f"{line}\n" for line in item).encode(), len(item))
            lines += item
    return buffer, lines


def _body(lines: list[str]) -> bytes:
    return "\n".join([*lines, ""]).encode()


@given(parts=st.lists(part, max_size=12), cuts=st.lists(st.integers(-3, 45), max_size=6))
def test_slices_and_bodies_are_those_of_the_lines_one_by_one(
    parts: list[str | list[str]], cuts: list[int]
) -> None:
    buffer, lines = _buffer(parts)
    assert len(buffer) == len(lines)
    # Slices and bodies before anything splits the blocks (the write path).
    bounds = sorted(max(0, min(cut, len(lines))) for cut in [0, *cuts, len(lines)])
    pieces = [buffer[low:high] for low, high in pairwise(bounds)]
    assert [body_of(piece) for piece in pieces] == [
        _body(lines[low:high]) for low, high in pairwise(bounds)
    ]
    assert body_of(LineBuffer.concat(pieces)) == _body(lines)
    # Every other range in one walk (a writer's part of a batch), then the others.
    ranges = list(pairwise(bounds))
    for chosen in (ranges[::2], ranges[1::2]):
        taken = buffer.take(chosen)
        wanted = [line for low, high in chosen for line in lines[low:high]]
        assert len(taken) == len(wanted)
        assert body_of(taken) == _body(wanted)
    assert body_of(LineBuffer.concat(reversed(pieces))) == _body(
        [line for low, high in reversed(list(pairwise(bounds))) for line in lines[low:high]]
    )
    for low in range(-2, len(lines) + 2):
        for high in (low, low + 1, low + 7, len(lines) + 3):
            assert body_of(buffer[low:high]) == _body(lines[low:high])
    assert body_of(buffer) == _body(lines)
    # One by one (the refusal search, the tests' fakes).
    assert list(buffer) == lines
    assert [buffer[index] for index in range(len(lines))] == lines
    assert buffer == lines
    assert body_of(buffer) == _body(lines)


@given(
    parts=st.lists(part, min_size=1, max_size=8),
    later=st.lists(part, max_size=4),
    index=st.integers(0, 40),
    replacement=line_text,
)
def test_a_changed_line_and_lines_added_after_are_written(
    parts: list[str | list[str]],
    later: list[str | list[str]],
    index: int,
    replacement: str,
) -> None:
    buffer, lines = _buffer(parts)
    index %= len(lines)
    buffer[index] = replacement
    lines[index] = replacement
    _, more_lines = _buffer(later)
    for item in later:
        if isinstance(item, str):
            buffer.append(item)
        else:
            buffer.add_block("".join(f"{line}\n" for line in item).encode(), len(item))
    lines += more_lines
    assert len(buffer) == len(lines)
    assert list(buffer) == lines
    assert body_of(buffer) == _body(lines)
    assert body_of(buffer[1:]) == _body(lines[1:])


@given(parts=st.lists(part, max_size=8), later=st.lists(part, max_size=4))
def test_lines_added_after_the_blocks_were_split_are_kept_both_ways(
    parts: list[str | list[str]], later: list[str | list[str]]
) -> None:
    buffer, lines = _buffer(parts)
    assert list(buffer) == lines  # split once
    for item in later:
        if isinstance(item, str):
            buffer.append(item)
            lines.append(item)
        else:
            buffer.add_block("".join(f"{line}\n" for line in item).encode(), len(item))
            lines += item
    assert list(buffer) == lines
    assert body_of(buffer) == _body(lines)
    assert body_of(buffer[2:5]) == _body(lines[2:5])


def test_a_plain_list_gives_the_same_body() -> None:
    assert body_of(["a b=1 1", "ü c=2 2"]) == "a b=1 1\nü c=2 2\n".encode()
    assert body_of(LineBuffer(["a b=1 1", "ü c=2 2"])) == "a b=1 1\nü c=2 2\n".encode()
    assert body_of(LineBuffer()) == b""
