"""A data message decoded into columns: the plain pack in a few passes, every other one
by the careful decoder (`_senml.decode_carefully`).

Nearly every pack a probe sends is plain: flat records of known fields, names and units,
short numbers, no escapes, nothing refused. A typed parser (msgspec) reads such a pack
straight into records of the known fields, and refuses (so the careful decoder decides,
with every reason and detail of docs/wire-format.md) anything else: another field, a
value of another JSON type (a bool, null, a string for a number), a number beyond the
bounds of outside numbers. Then:

- `_by_columns`, the common layout (base fields on the first record only, every record
  a name and a value in a unit that needs no conversion or a sequence number, integer
  time offsets), is checked and turned into columns a whole column at a time, at C
  speed;
- `_by_records`, any other plain pack, record by record without an object per record;

either gives up (None) at the first thing that is not plain. Because the plain paths
refuse nothing and give up on anything the careful decoder would refuse or treat
specially, whatever they return is what the careful decoder returns for the same
payload (tests/ingest/test_pack_columns.py holds them against each other with
Hypothesis, and tests/ingest/test_intake_fast_path.py the stored lines and rejections).

Why each condition of "plain" makes the fast parser safe here, where it alone would
break the bounds of outside input (`_bounded.py`):
- every number literal has at most 16 characters (no run of 17 characters that can make
  up a number): so the parser's correctly rounded float is `float(literal)`, its int is
  `int(literal)`, both exactly what the careful parser makes of them;
- no backslash: every string is its literal text, so the colons in the text are the
  colons between keys and values plus those inside strings; with only known strings
  (their colons counted) a record naming a field twice, which the parser silently
  collapses (the last one wins), shows up as a colon too many, as does a base field
  after the first record on the column path;
- no byte order mark, no NaN/Infinity (the parser refuses them: the careful path decides);
- records are flat (no nesting to bound) and hold only the fields of `_PlainRecord`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from itertools import compress
from operator import not_
from typing import Annotated, cast

import msgspec
from msgspec import UNSET, UnsetType

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
# Bytes that can be part of a JSON number become "#", all others " ": a run of 17 "#"
# marks a literal too long for the one-pass path (or a long run inside a string, which
# merely sends the pack down the careful path).
_NUMBER_BYTES = bytes(
    ord("#") if chr(byte) in "0123456789+-.eE" else ord(" ") for byte in range(256)
)
_LONG_NUMBER = b"#" * 17
_FEW_RECORDS = 8  # below this many, a pass per record costs less than sharing its parts

# A number of a plain pack: an int or a float literal, within the bounds of outside
# numbers (`NUMBER_LIMIT`); the parser refuses anything else (a bool, null, a string).
_PlainNumber = (
    Annotated[int, msgspec.Meta(ge=-NUMBER_LIMIT, le=NUMBER_LIMIT)]
    | Annotated[float, msgspec.Meta(ge=-NUMBER_LIMIT, le=NUMBER_LIMIT)]
)


class _PlainRecord(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A record of a plain pack: only these fields (any other one: not plain), each of
    its JSON type; UNSET where the record does not have it (a null is not plain)."""

    bn: str | UnsetType = UNSET
    bt: _PlainNumber | UnsetType = UNSET
    bu: str | UnsetType = UNSET
    n: str | UnsetType = UNSET
    u: str | UnsetType = UNSET
    v: _PlainNumber | UnsetType = UNSET
    t: _PlainNumber | UnsetType = UNSET


_PLAIN_PACK = msgspec.json.Decoder(list[_PlainRecord])
_NUMBER_TYPES: frozenset[type] = frozenset({int, float})
_INT_OR_UNSET: frozenset[type] = frozenset({int, UnsetType})
# The names the column pass takes, each with the unit in which its value is stored as
# sent (another unit goes record by record); not nitrate_n (always converted). seq is
# taken too: its records become sequence marks.
_AS_SENT_UNIT = {
    name: next(unit for unit, conversion in spec.units.items() if conversion.identity)
    for name, spec in RECORDS.items()
    if any(conversion.identity for conversion in spec.units.values())
}
_COLUMN_NAMES = frozenset(_AS_SENT_UNIT)
_QUANTITY = {name: spec.quantity for name, spec in RECORDS.items()}
_SELF_NAMED = frozenset(name for name, quantity in _QUANTITY.items() if name == quantity)


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

    def subset(self, indices: list[int]) -> PackColumns:
        """The readings at `indices` (no sequence marks or rejections)."""
        return PackColumns(
            self.probe,
            self.arrival_ns,
            [self.quantities[i] for i in indices],
            [self.times_ns[i] for i in indices],
            [self.values[i] for i in indices],
            [self.record_names[i] for i in indices],
            [self.censored[i] for i in indices],
        )

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


def _parse_plain(payload: bytes) -> list[_PlainRecord] | None:
    if b"\\" in payload or payload.startswith(_UTF8_BOM):
        return None
    if _LONG_NUMBER in payload.translate(_NUMBER_BYTES):
        return None
    try:
        records = _PLAIN_PACK.decode(payload)
    except msgspec.DecodeError:  # also its ValidationError: not plain
        return None
    return records or None


def _plain_ns(seconds: int | float) -> int:
    """UNIX seconds of a plain (bounded) number as ns (as `seconds_to_ns`)."""
    if type(seconds) is int:
        return seconds * _NS_PER_S
    return seconds_to_ns(seconds)


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
    records = _parse_plain(payload)
    if records is None:
        return None
    columns = _by_columns(probe_id, payload, arrival_ns, records)
    if columns is not None:
        return columns
    return _by_records(probe_id, payload, arrival_ns, records)


def _by_columns(
    probe_id: str, payload: bytes, arrival_ns: int, records: list[_PlainRecord]
) -> PackColumns | None:
    """The columns of the most common plain pack in a few passes at C speed, else None:
    base fields on the first record only, then records of a name, a value in the unit
    stored as sent (or a sequence number) and an integer time offset (or none)."""
    sent_names = [record.n for record in records]
    known = set(sent_names)
    has_marks = SEQUENCE_RECORD in known
    known.discard(SEQUENCE_RECORD)
    if not known <= _COLUMN_NAMES:
        return None  # unknown or missing (UNSET): record by record
    names = cast("list[str]", sent_names)
    first = records[0]
    base_name, base_time, base_unit = first.bn, first.bt, first.bu
    expected_colons = 2 * len(records)  # n and v in every record (checked below)
    if base_name is not UNSET:
        if base_name != f"{probe_id}:":
            return None
        expected_colons += 1 + base_name.count(":")
    if base_unit is not UNSET:
        expected_colons += 1 + base_unit.count(":")
    if base_time is UNSET:
        return None
    expected_colons += 1
    units = [record.u for record in records]
    sent_values = [record.v for record in records]
    value_types = set(map(type, sent_values))
    if not value_types <= _NUMBER_TYPES:
        return None  # a record without a value
    values = cast("list[float]", sent_values)
    sent_offsets = [record.t for record in records]
    if not set(map(type, sent_offsets)) <= _INT_OR_UNSET:
        return None
    offsets = cast("list[int | UnsetType]", sent_offsets)
    base_ns = _plain_ns(base_time)
    if len(offsets) < _FEW_RECORDS:
        times = [base_ns if t is UNSET else base_ns + t * _NS_PER_S for t in offsets]
        earliest = min(times)
    else:
        # A pack's records share a few offsets (a cycle's): each time computed once.
        time_at = {t: base_ns if t is UNSET else base_ns + t * _NS_PER_S for t in set(offsets)}
        times = list(map(time_at.__getitem__, offsets))
        earliest = min(time_at.values())
    if earliest < _ABSOLUTE_TIME_MIN_NS:
        return None
    # Every key in the text adds one colon; a field named twice (which the parser
    # collapses) or a base field after the first record adds more (module docstring).
    expected_colons += 2 * len(records) - units.count(UNSET) - offsets.count(UNSET)
    if payload.count(b":") != expected_colons:
        return None
    marks: list[SequenceMark] = []
    if has_marks:
        split = _marks_apart(probe_id, arrival_ns, names, units, values, times)
        if split is None:
            return None
        marks, names, units, values, times = split
        value_types = set(map(type, values))
    if UNSET not in units:
        # Every reading names its unit: the whole column against the expected one.
        if units != list(map(_AS_SENT_UNIT.__getitem__, names)):
            return None
    else:
        for name, sent_unit in set(zip(names, units, strict=True)):
            unit = base_unit if sent_unit is UNSET else sent_unit
            if unit != _AS_SENT_UNIT[name]:
                return None
    if value_types != {float}:
        values = list(map(float, values))  # ints, rounded once as the careful path does
    quantities = list(names) if known <= _SELF_NAMED else [_QUANTITY[n] for n in names]
    return PackColumns(
        probe_id,
        arrival_ns,
        quantities=quantities,
        times_ns=times,
        values=values,
        record_names=names,
        censored=[False] * len(names),
        sequence=marks,
    )


def _marks_apart(  # noqa: PLR0917 - the columns of _by_columns, as they are there
    probe_id: str,
    arrival_ns: int,
    names: list[str],
    units: list[str | UnsetType],
    values: list[float],
    times: list[int],
) -> tuple[list[SequenceMark], list[str], list[str | UnsetType], list[float], list[int]] | None:
    """The sequence marks of the seq records (their unit, if any, is not looked at) and
    the columns of the other records, the readings; None for a bad sequence number."""
    is_reading = [name != SEQUENCE_RECORD for name in names]
    is_mark = list(map(not_, is_reading))
    numbers = list(compress(values, is_mark))
    if not all(map(_plain_sequence, numbers)):
        return None
    marks = [
        SequenceMark(probe_id, time_ns, int(number), arrival_ns)
        for time_ns, number in zip(compress(times, is_mark), numbers, strict=True)
    ]
    return (
        marks,
        list(compress(names, is_reading)),
        list(compress(units, is_reading)),
        list(compress(values, is_reading)),
        list(compress(times, is_reading)),
    )


def _by_records(
    probe_id: str, payload: bytes, arrival_ns: int, records: list[_PlainRecord]
) -> PackColumns | None:
    """The columns of any plain pack, record by record, else None."""
    expected_base_name = f"{probe_id}:"
    columns = PackColumns(probe_id, arrival_ns)
    # Bound methods of the columns: one call each per reading, no method of our own.
    add_quantity, add_time = columns.quantities.append, columns.times_ns.append
    add_value, add_name = columns.values.append, columns.record_names.append
    colons = 0  # the colons the text must hold: one per key, those inside strings
    base_ns = 0
    base_unit: str | None = None
    for record in records:
        if record.bn is not UNSET:
            if record.bn != expected_base_name:
                return None
            colons += 1 + record.bn.count(":")
        if record.bt is not UNSET:
            base_ns = _plain_ns(record.bt)
            colons += 1
        if record.bu is not UNSET:
            base_unit = record.bu
            colons += 1 + base_unit.count(":")
        name, raw, offset = record.n, record.v, record.t
        unit_name = base_unit
        if record.u is not UNSET:
            unit_name = record.u
            colons += 1 + unit_name.count(":")
        time_ns = base_ns
        if offset is not UNSET:
            time_ns += _plain_ns(offset)
            colons += 1
        if name is UNSET:
            if raw is not UNSET:
                return None
            continue  # base fields (and a time) only
        colons += 2 + name.count(":")
        if raw is UNSET or time_ns < _ABSOLUTE_TIME_MIN_NS:
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
    # A field named twice collapses into one field of the parsed record: the text then
    # holds more colons than counted (see module docstring).
    if payload.count(b":") != colons:
        return None
    columns.censored = [False] * len(columns.times_ns)
    return columns


def _plain_sequence(raw: int | float) -> bool:
    if isinstance(raw, int):  # not a bool: checked before
        return 0 <= raw < SEQUENCE_MODULUS
    return raw.is_integer() and 0 <= raw < SEQUENCE_MODULUS


__all__ = ["PackColumns", "PayloadRejected", "decode_columns", "decode_pack"]
