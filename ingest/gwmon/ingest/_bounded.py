"""Outside input, bounded: the JSON of every topic kind and its numbers, and the reasons
a message or record is refused (docs/wire-format.md, "Limits of outside input").

Outside input is bounded before gwmon works on it, so refusing a message costs time in
proportion to its (limited) size, whatever it holds: the payload size first, then every
number literal's length while parsing (`_parse_int`, `_parse_float`), nesting depth, and
the magnitude of every number before any exact (Decimal) arithmetic. A time of
`1e999990` is refused by a comparison, not by computing a million-digit integer.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from decimal import Decimal
from enum import StrEnum
from typing import Any

from gwmon.config import GwmonError

NUMBER_LIMIT = 10**10  # |bt|, |t|, |bv|, |v|, status t/battery: no time in UNIX seconds
# (10^10 s is the year 2286), no measurement in an accepted unit and no seq comes near it.
MAX_NUMBER_CHARS = 40  # a longer number literal is not converted at all
MAX_NESTING_DEPTH = 16  # arrays/objects inside each other; a pack needs 2, a status 1

_NS_PER_S = 10**9
_UTF8_BOM = b"\xef\xbb\xbf"
# A literal of at most 16 characters has at most 15 significant digits, which a 64-bit
# float keeps exactly: Decimal(repr(float(text))) == Decimal(text).
_FLOAT_EXACT_CHARS = 16


class Reason(StrEnum):
    """Why a message or record was refused. Stored as the `reason` tag of `rejected`."""

    BAD_TOPIC = "bad_topic"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    NOT_UTF8 = "not_utf8"
    INVALID_JSON = "invalid_json"
    NOT_SENML = "not_senml"
    EMPTY_PACK = "empty_pack"
    BASE_NAME_MISMATCH = "base_name_mismatch"
    UNKNOWN_PROBE = "unknown_probe"
    UNKNOWN_QUANTITY = "unknown_quantity"
    UNKNOWN_UNIT = "unknown_unit"
    MISSING_VALUE = "missing_value"
    NON_FINITE_VALUE = "non_finite_value"
    NUMBER_OUT_OF_RANGE = "number_out_of_range"
    BAD_CENSORED_VALUE = "bad_censored_value"
    MISSING_TIME = "missing_time"
    FUTURE_TIME = "future_time"
    BAD_SEQUENCE = "bad_sequence"
    BAD_STATUS = "bad_status"


class PayloadRejected(GwmonError):
    """A whole message is refused; `reason` is machine-readable, `detail` for people."""

    def __init__(self, reason: Reason, detail: str, *, probe: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.probe = probe


# -- bounded JSON (every topic kind) ---------------------------------------------------------
class OversizedNumber:
    """Stands in for a number literal gwmon does not compute with: longer than
    MAX_NUMBER_CHARS characters, or too large for a 64-bit float (`1e999990`). Only the
    record holding it is refused (`number_out_of_range`), the rest of the pack is kept."""

    __slots__ = ("chars", "head")

    def __init__(self, literal: str) -> None:
        self.chars = len(literal)
        self.head = literal[:24]

    def __str__(self) -> str:
        if self.chars <= len(self.head):
            return self.head
        return f"{self.head}…({self.chars} characters)"

    __repr__ = __str__

    @property
    def problem(self) -> str:
        if self.chars > MAX_NUMBER_CHARS:
            return f"a number of {self.chars} characters (limit {MAX_NUMBER_CHARS})"
        return f"{self.head} is beyond ±1e10"


class RepeatedNames(dict[str, Any]):
    """A JSON object that names a field more than once. RFC 8259 §4 leaves open which one
    counts (parsers differ), so gwmon uses none of them: the object is refused."""

    repeated: tuple[str, ...] = ()


def _parse_int(text: str) -> int | OversizedNumber:
    # Bounded before int(): Python refuses more than 4,300 digits with a ValueError that
    # would cost the whole document; this way it costs one record.
    return int(text) if len(text) <= MAX_NUMBER_CHARS else OversizedNumber(text)


def _parse_float(text: str) -> float | Decimal | OversizedNumber:
    if len(text) <= _FLOAT_EXACT_CHARS:
        number = float(text)  # exact for this many digits, and cheap
        return number if math.isfinite(number) else OversizedNumber(text)
    if len(text) > MAX_NUMBER_CHARS:
        return OversizedNumber(text)
    exact = Decimal(text)  # more digits than a float keeps, e.g. a time to the nanosecond
    if exact.is_zero() or exact.adjusted() < -20:
        return float(exact)
    return exact if exact.adjusted() <= 20 else OversizedNumber(text)


def _parse_constant(name: str) -> float:
    # NaN/Infinity are not JSON, but some firmware sends them; refuse per record.
    return float(name)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) == len(pairs):
        return document
    repeated = RepeatedNames(pairs)
    counts = Counter(name for name, _ in pairs)
    repeated.repeated = tuple(sorted(name for name, count in counts.items() if count > 1))
    return repeated


_DECODER = json.JSONDecoder(
    parse_float=_parse_float,
    parse_int=_parse_int,
    parse_constant=_parse_constant,
    object_pairs_hook=_json_object,
)


def load_json(payload: bytes, *, max_bytes: int, probe: str | None = None) -> object:
    """Parse one message's JSON within the bounds above (size, number literals; nesting is
    bounded by `deeper_than` on the parts a decoder keeps). One leading UTF-8 byte order
    mark is ignored, as RFC 8259 §8.1 allows."""
    if len(payload) > max_bytes:
        raise PayloadRejected(
            Reason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes > limit {max_bytes}", probe=probe
        )
    skipped = len(_UTF8_BOM) if payload.startswith(_UTF8_BOM) else 0
    try:
        text = (payload[skipped:] if skipped else payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"byte {exc.start + skipped} is not UTF-8"
        raise PayloadRejected(Reason.NOT_UTF8, detail) from None
    try:
        return _DECODER.decode(text)
    except RecursionError:
        detail = f"nested deeper than {MAX_NESTING_DEPTH} levels"
        raise PayloadRejected(Reason.INVALID_JSON, detail) from None
    except ValueError as exc:
        raise PayloadRejected(Reason.INVALID_JSON, str(exc)[:200]) from None


def deeper_than(value: list[Any] | dict[str, Any], limit: int) -> bool:
    """Whether arrays/objects nest more than `limit` levels deep in `value` (an array or
    object counts as level 1). Iterative, so no recursion limit is involved."""
    stack: list[tuple[list[Any] | dict[str, Any], int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, list | dict))
    return False


def too_deep() -> PayloadRejected:
    return PayloadRejected(Reason.INVALID_JSON, f"nested deeper than {MAX_NESTING_DEPTH} levels")


NUMBER_TYPES = frozenset({int, float, Decimal, OversizedNumber})
Number = int | float | Decimal
JsonNumber = Number | OversizedNumber  # what `load_json` makes of a JSON number


def is_number(value: object) -> bool:
    """A JSON number as `load_json` returns it (bounded or not); true/false are not."""
    return type(value) in NUMBER_TYPES


def number_problem(value: JsonNumber) -> tuple[Reason, str] | None:
    """None when `value` is finite and within ±NUMBER_LIMIT, i.e. safe for exact arithmetic;
    else why not. Constant time: the number itself is not converted."""
    if isinstance(value, OversizedNumber):
        return (Reason.NUMBER_OUT_OF_RANGE, value.problem)
    if -NUMBER_LIMIT <= value <= NUMBER_LIMIT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return (Reason.NON_FINITE_VALUE, "NaN or infinite")
    return (Reason.NUMBER_OUT_OF_RANGE, f"{value} is beyond ±1e10")


def to_decimal(value: int | float | Decimal) -> Decimal:
    """The exact decimal value of a bounded number as it was written."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def seconds_to_ns(value: int | float | Decimal) -> int:
    """UNIX seconds (bounded) to integer nanoseconds; digits below 1 ns are dropped."""
    if isinstance(value, int):
        return value * _NS_PER_S
    if isinstance(value, float) and value.is_integer():
        return int(value) * _NS_PER_S
    return int(to_decimal(value) * _NS_PER_S)
