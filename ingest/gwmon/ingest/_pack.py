"""A data message decoded into columns: the plain pack in one pass, every other one by
the careful decoder (`_senml.decode_carefully`).

Nearly every pack a probe sends is plain: flat records of known names and units, short
numbers, no escapes, nothing refused. `_decode_plain` handles exactly those, in one pass
over the parsed records without an object per record, and gives up (None) at the first
thing that is not plain; the careful decoder then decides, with every reason and detail
of docs/wire-format.md. Because the one-pass path refuses nothing and gives up on
anything the careful decoder would refuse or treat specially, whatever it returns is
what the careful decoder returns for the same payload (tests/ingest/test_pack_columns.py holds
the two against each other with Hypothesis).

Why each condition of "plain" makes the fast JSON parser (orjson) safe here, where it
alone would break the bounds of outside input (`_bounded.py`):
- every number literal has at most 16 characters (no run of 17 characters that can make
  up a number): so orjson's correctly rounded float is `float(literal)`, its int is
  `int(literal)`, both exactly what the careful parser makes of them;
- no backslash: every string is its literal text, so the colons in the text are the
  colons between keys and values plus those inside strings; with only known strings
  (their colons counted) a record naming a field twice, which orjson silently collapses,
  shows up as a colon too many;
- no byte order mark, no NaN/Infinity (orjson refuses them: the careful path decides);
- records are flat (no nesting to bound) and hold only the keys below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from gwmon.ingest._bounded import NUMBER_LIMIT, PayloadRejected, seconds_to_ns, to_decimal
from gwmon.ingest._senml import (
    ABSOLUTE_TIME_MIN_S,
    RECORDS,
    SEQUENCE_MODULUS,
    SEQUENCE_RECORD,
    DecodedPack,
    Reading,
    RecordRejection,
    SequenceMark,
    decode_carefully,
)

_NS_PER_S = 10**9
_ABSOLUTE_TIME_MIN_NS = ABSOLUTE_TIME_MIN_S * _NS_PER_S
_UTF8_BOM = b"\xef\xbb\xbf"
_PLAIN_KEYS = frozenset({"bn", "bt", "bu", "n", "u", "v", "t"})
# Bytes that can be part of a JSON number become "#", all others " ": a run of 17 "#"
# marks a literal too long for the one-pass path (or a long run inside a string, which
# merely sends the pack down the careful path).
_NUMBER_BYTES = bytes(
    ord("#") if chr(byte) in "0123456789+-.eE" else ord(" ") for byte in range(256)
)
_LONG_NUMBER = b"#" * 17


@dataclass(slots=True)
class PackColumns:
    """The readings of one message as parallel lists (reading i is `quantities[i]`,
    `times_ns[i]`, ...), with its sequence marks and refused records."""

    probe: str
    arrival_ns: int
    quantities: list[str] = field(default_factory=list)
    times_ns: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    record_names: list[str] = field(default_factory=list)
    censored: list[bool] = field(default_factory=list)
    sequence: list[SequenceMark] = field(default_factory=list)
    rejections: list[RecordRejection] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times_ns)

    def append(
        self, quantity: str, time_ns: int, value: float, record_name: str, censored: bool
    ) -> None:
        self.quantities.append(quantity)
        self.times_ns.append(time_ns)
        self.values.append(value)
        self.record_names.append(record_name)
        self.censored.append(censored)

    def reading(self, index: int) -> Reading:
        return Reading(
            self.probe,
            self.quantities[index],
            self.times_ns[index],
            self.values[index],
            self.record_names[index],
            self.arrival_ns,
            censored=self.censored[index],
        )

    def readings(self) -> list[Reading]:
        return [self.reading(index) for index in range(len(self.times_ns))]

    def as_pack(self) -> DecodedPack:
        return DecodedPack(self.readings(), list(self.sequence), list(self.rejections))

    @classmethod
    def of_pack(cls, probe: str, arrival_ns: int, pack: DecodedPack) -> PackColumns:
        columns = cls(probe, arrival_ns, sequence=pack.sequence, rejections=pack.rejections)
        for reading in pack.readings:
            columns.append(
                reading.quantity,
                reading.time_ns,
                reading.value,
                reading.record_name,
                reading.censored,
            )
        return columns


def decode_columns(
    probe_id: str,
    payload: bytes,
    *,
    now_s: float,
    future_margin_s: float = 300.0,
    max_bytes: int = 65_536,
) -> PackColumns:
    """Decode one data message of `probe_id` (the topic's, which is authoritative) into
    columns. Raises `PayloadRejected` when the message as a whole is unusable."""
    arrival_ns = int(now_s * _NS_PER_S)
    if len(payload) <= max_bytes:
        plain = _decode_plain(probe_id, payload, arrival_ns)
        if plain is not None and _not_in_the_future(plain, now_s, future_margin_s):
            return plain
    pack = decode_carefully(
        probe_id, payload, now_s=now_s, future_margin_s=future_margin_s, max_bytes=max_bytes
    )
    return PackColumns.of_pack(probe_id, arrival_ns, pack)


def decode_pack(
    probe_id: str,
    payload: bytes,
    *,
    now_s: float,
    future_margin_s: float = 300.0,
    max_bytes: int = 65_536,
) -> DecodedPack:
    """Decode one data message of `probe_id` (taken from the topic, which is authoritative):
    its readings, sequence marks and refused records (docs/wire-format.md).

    Raises `PayloadRejected` (and nothing else) when the message as a whole is unusable;
    a bad record costs only itself."""
    return decode_columns(
        probe_id, payload, now_s=now_s, future_margin_s=future_margin_s, max_bytes=max_bytes
    ).as_pack()


def _parse_plain(payload: bytes) -> list[Any] | None:
    if b"\\" in payload or payload.startswith(_UTF8_BOM):
        return None
    if _LONG_NUMBER in payload.translate(_NUMBER_BYTES):
        return None
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return document if type(document) is list and document else None


def _plain_ns(seconds: object) -> int | None:
    """UNIX seconds of a plain number within the bounds as ns (as `seconds_to_ns`)."""
    if type(seconds) is int:
        return seconds * _NS_PER_S if -NUMBER_LIMIT <= seconds <= NUMBER_LIMIT else None
    if type(seconds) is float and -NUMBER_LIMIT <= seconds <= NUMBER_LIMIT:
        return seconds_to_ns(seconds)
    return None


def _not_in_the_future(columns: PackColumns, now_s: float, future_margin_s: float) -> bool:
    """No time beyond now + the margin, computed as exactly as the careful decoder does,
    but only for a time within a millisecond of it (float error is below a microsecond)."""
    times = columns.times_ns + [mark.time_ns for mark in columns.sequence]
    latest = max(times, default=0)
    if latest <= int((now_s + future_margin_s) * _NS_PER_S) - 1_000_000:
        return True
    return latest <= int((Decimal(repr(now_s)) + Decimal(repr(future_margin_s))) * _NS_PER_S)


def _decode_plain(probe_id: str, payload: bytes, arrival_ns: int) -> PackColumns | None:
    """The columns of a plain pack (see the module docstring), else None. Times in the
    future are not looked at here: `decode_columns` does that for the whole pack."""
    document = _parse_plain(payload)
    if document is None:
        return None
    expected_base_name = f"{probe_id}:"
    columns = PackColumns(probe_id, arrival_ns)
    # Bound methods of the columns: one call each per reading, no method of our own.
    add_quantity, add_time = columns.quantities.append, columns.times_ns.append
    add_value, add_name = columns.values.append, columns.record_names.append
    pairs = base_names = 0
    base_ns = 0
    base_unit: object = None
    for record in document:
        if type(record) is not dict or not record.keys() <= _PLAIN_KEYS:
            return None
        pairs += len(record)
        if "bn" in record:
            if record["bn"] != expected_base_name:
                return None
            base_names += 1
        if "bt" in record:
            bt = _plain_ns(record["bt"])
            if bt is None:
                return None
            base_ns = bt
        if "bu" in record:
            base_unit = record["bu"]
            if type(base_unit) is not str:
                return None
        unit_name = record.get("u", base_unit)
        if "u" in record and type(unit_name) is not str:
            return None
        name = record.get("n")
        if type(name) is not str:
            if "n" in record or "v" in record or not _plain_number(record.get("t", 0)):
                return None
            continue  # base fields only
        raw = record.get("v")
        if (type(raw) is not int and type(raw) is not float) or not (
            -NUMBER_LIMIT <= raw <= NUMBER_LIMIT
        ):
            return None
        time_ns = base_ns
        if "t" in record:
            offset = record["t"]
            if type(offset) is int and -NUMBER_LIMIT <= offset <= NUMBER_LIMIT:
                time_ns += offset * _NS_PER_S  # the common case, without a call
            else:
                offset = _plain_ns(offset)
                if offset is None:
                    return None
                time_ns += offset
        if time_ns < _ABSOLUTE_TIME_MIN_NS:
            return None
        spec = RECORDS.get(name)
        if spec is None:
            if name != SEQUENCE_RECORD or not _plain_sequence(raw):
                return None
            columns.sequence.append(SequenceMark(probe_id, time_ns, int(raw), arrival_ns))
            continue
        unit = spec.units.get(unit_name) if unit_name is not None else None
        if unit is None:
            return None
        add_quantity(spec.quantity)
        add_time(time_ns)
        add_value(float(raw) if unit.identity else unit.apply(to_decimal(raw)))
        add_name(name)
    # A field named twice collapses into one key in the parsed record: one colon more
    # in the text than keys plus the one colon of each base name (see module docstring).
    if payload.count(b":") != pairs + base_names:
        return None
    columns.censored = [False] * len(columns.times_ns)
    return columns


def _plain_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def _plain_sequence(raw: int | float) -> bool:
    if isinstance(raw, int):  # not a bool: checked before
        return 0 <= raw < SEQUENCE_MODULUS
    return raw.is_integer() and 0 <= raw < SEQUENCE_MODULUS


__all__ = ["PackColumns", "PayloadRejected", "decode_columns", "decode_pack"]
