"""The wire contract's decoder: SenML JSON packs (RFC 8428) from gw/v1/<probe_id>/data.

`decode_carefully` never raises anything but `PayloadRejected`: a pack that is broken as a
whole is rejected whole; a pack with some bad records yields its good readings plus one
`RecordRejection` per bad record, so one unknown quantity never costs the nitrate value
sent beside it. See docs/wire-format.md for the contract itself.

Outside input is bounded before gwmon works on it (`_bounded.py`): refusing a message
costs time in proportion to its limited size, whatever it holds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NoReturn

from gwmon.ingest._bounded import (
    MAX_NESTING_DEPTH,
    NUMBER_TYPES,
    JsonNumber,
    Number,
    OversizedNumber,
    PayloadRejected,
    Reason,
    RepeatedNames,
    deeper_than,
    load_json,
    number_problem,
    seconds_to_ns,
    to_decimal,
    too_deep,
)

NITRATE_PER_NITRATE_N = Decimal("4.427")  # molar mass NO3 / N = 62.004 / 14.007
SENML_VERSION = 10
ABSOLUTE_TIME_MIN_S = 2**28  # RFC 8428 §4.5.3: smaller times are relative to "now"
SEQUENCE_RECORD = "seq"
SEQUENCE_MODULUS = 2**32

CENSORED_MAX_CHARS = 24  # "vs": "<0.5"
CENSORED_RECORDS = frozenset({"nitrate", "nitrate_n"})  # record names that take "vs"

_NS_PER_S = 10**9
_ABSOLUTE_TIME_MIN_NS = ABSOLUTE_TIME_MIN_S * _NS_PER_S
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9:./_-]*")
_CENSORED_PATTERN = re.compile(r"< *([0-9]+(?:\.[0-9]+)?)")
_VALUE_FIELDS = ("v", "vs", "vb", "vd", "s")


# -- records and units -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Unit:
    """How a sent unit maps to the canonical one: canonical = value * scale + offset.

    Computed in decimal and rounded to float once, so 10 mg/L NO3-N is stored as 44.27.
    """

    scale: Decimal
    offset: Decimal = Decimal(0)
    identity: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "identity", self.scale == 1 and self.offset == 0)

    def apply(self, value: Decimal) -> float:
        return float(value * self.scale + self.offset)

    def convert(self, value: int | float | Decimal, base: Decimal | None = None) -> float:
        """`base` + `value` (both bounded) in canonical units, exact until one rounding."""
        if base is None:
            if self.identity:
                return float(value)  # a float literal as sent, an int or Decimal rounded once
            return self.apply(to_decimal(value))
        return self.apply(base + to_decimal(value))


@dataclass(frozen=True, slots=True)
class QuantitySpec:
    quantity: str  # canonical quantity stored in InfluxDB
    canonical_unit: str
    units: dict[str, Unit]


_ONE = Unit(Decimal(1))

# Record name -> canonical quantity and the accepted units. Units registered with IANA's
# SenML registry first; `mg/L` and `uS/cm` because probes and labs use them.
RECORDS: dict[str, QuantitySpec] = {
    "nitrate": QuantitySpec("nitrate", "mg/L", {"mg/L": _ONE, "kg/m3": Unit(Decimal(1000))}),
    "nitrate_n": QuantitySpec(
        "nitrate",
        "mg/L",
        {
            "mg/L": Unit(NITRATE_PER_NITRATE_N),
            "kg/m3": Unit(NITRATE_PER_NITRATE_N * 1000),
        },
    ),
    "level": QuantitySpec("level", "m", {"m": _ONE}),
    "depth": QuantitySpec("depth", "m", {"m": _ONE}),
    "temperature": QuantitySpec(
        "temperature", "Cel", {"Cel": _ONE, "K": Unit(Decimal(1), Decimal("-273.15"))}
    ),
    "conductivity": QuantitySpec(
        "conductivity", "uS/cm", {"uS/cm": _ONE, "S/m": Unit(Decimal(10_000))}
    ),
    "battery": QuantitySpec("battery", "%EL", {"%EL": _ONE}),
}
CANONICAL_QUANTITIES = ("nitrate", "level", "depth", "temperature", "conductivity", "battery")


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured value in canonical units, as it goes to storage."""

    probe: str
    quantity: str
    time_ns: int
    value: float
    record_name: str  # as sent, e.g. nitrate_n
    arrival_ns: int  # when gwmon received the message (wall clock)
    # Below the limit of quantification: `value` is then the LOQ in canonical units
    # (a laboratory's "<0.5"), not a measured value (GrwV Anlage 6: counts as LOQ/2).
    censored: bool = False


@dataclass(frozen=True, slots=True)
class SequenceMark:
    """A probe's sample counter for one measurement time (for gap accounting)."""

    probe: str
    time_ns: int
    seq: int
    arrival_ns: int


@dataclass(frozen=True, slots=True)
class RecordRejection:
    """One record of an otherwise valid pack was refused."""

    reason: Reason
    detail: str
    index: int
    record: str  # the record as JSON text, for inspection


@dataclass(frozen=True, slots=True)
class DecodedPack:
    readings: list[Reading]
    sequence: list[SequenceMark]
    rejections: list[RecordRejection]


class _RecordRefused(Exception):
    """One record is refused; the pack goes on (internal to decode_carefully)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _refuse(problem: tuple[Reason, str]) -> NoReturn:
    raise _RecordRefused(*problem)


def _bounded(value: JsonNumber, what: str) -> Number:
    problem = number_problem(value)
    if problem is not None or isinstance(value, OversizedNumber):
        reason, detail = problem or (Reason.NUMBER_OUT_OF_RANGE, "")
        _refuse((reason, f"{what}: {detail}"))
    return value


_STRING, _NUMBER, _BOOLEAN, _VERSION = range(4)
_FIELD_KINDS = {
    "bn": _STRING,
    "n": _STRING,
    "bu": _STRING,
    "u": _STRING,
    "vs": _STRING,
    "vd": _STRING,
    "bt": _NUMBER,
    "t": _NUMBER,
    "bv": _NUMBER,
    "v": _NUMBER,
    "bs": _NUMBER,
    "s": _NUMBER,
    "ut": _NUMBER,
    "vb": _BOOLEAN,
    "bver": _VERSION,
}


def _check_record_shape(index: int, record: object) -> dict[str, Any]:
    if not isinstance(record, dict):
        if isinstance(record, list) and deeper_than(record, MAX_NESTING_DEPTH - 1):
            raise too_deep()
        raise PayloadRejected(Reason.NOT_SENML, f"record {index} is not a JSON object")
    for key, value in record.items():
        kind = _FIELD_KINDS.get(key)
        if kind is None:
            # RFC 8428 §4.4: fields ending in '_' must be understood; we understand none.
            if key.endswith("_"):
                raise PayloadRejected(
                    Reason.NOT_SENML,
                    f"record {index}: must-understand field {key[:80]!r} not supported",
                )
            # Other unknown fields are ignored, but not unboundedly deep.
            if isinstance(value, list | dict) and deeper_than(value, MAX_NESTING_DEPTH - 2):
                raise too_deep()
        elif kind == _NUMBER:
            if type(value) not in NUMBER_TYPES:
                raise PayloadRejected(Reason.NOT_SENML, f"record {index}: '{key}' must be a number")
        elif kind == _STRING:
            if type(value) is not str:
                raise PayloadRejected(Reason.NOT_SENML, f"record {index}: '{key}' must be a string")
        elif kind == _BOOLEAN:
            if type(value) is not bool:
                raise PayloadRejected(
                    Reason.NOT_SENML, f"record {index}: 'vb' must be true or false"
                )
        elif type(value) is not int or value > SENML_VERSION:
            raise PayloadRejected(
                Reason.NOT_SENML, f"record {index}: unsupported SenML version {value!r}"
            )
    return record


def _record_text(record: dict[str, Any]) -> str:
    return json.dumps(record, default=str, ensure_ascii=False, sort_keys=True)[:500]


def decode_carefully(
    probe_id: str,
    payload: bytes,
    *,
    now_s: float,
    future_margin_s: float = 300.0,
    max_bytes: int = 65_536,
) -> DecodedPack:
    """Decode one data message of `probe_id` (taken from the topic, which is authoritative)
    record by record, with every check and reason. `gwmon.ingest.decode_pack` comes here
    for every pack that is not plain (`_pack.py`).

    Raises `PayloadRejected` when the message as a whole is unusable.
    """
    document = load_json(payload, max_bytes=max_bytes, probe=probe_id)
    if not isinstance(document, list):
        if isinstance(document, dict) and deeper_than(document, MAX_NESTING_DEPTH):
            raise too_deep()
        raise PayloadRejected(Reason.NOT_SENML, "a SenML pack is a JSON array of records")
    if not document:
        raise PayloadRejected(Reason.EMPTY_PACK, "the pack has no records")
    expected_base_name = f"{probe_id}:"
    arrival_ns = int(now_s * _NS_PER_S)
    latest_allowed_ns = int((Decimal(repr(now_s)) + Decimal(repr(future_margin_s))) * _NS_PER_S)

    readings: list[Reading] = []
    marks: list[SequenceMark] = []
    rejections: list[RecordRejection] = []
    base = _BaseFields()
    for index, item in enumerate(document):
        record = _check_record_shape(index, item)
        if "bn" in record and record["bn"] != expected_base_name:
            raise PayloadRejected(
                Reason.BASE_NAME_MISMATCH,
                f"record {index}: base name {record['bn'][:80]!r} is not {expected_base_name!r} "
                "(the topic names the probe)",
            )
        try:
            result = _decode_record(
                probe_id, index, record, base, latest_allowed_ns, future_margin_s, arrival_ns
            )
        except _RecordRefused as refused:
            rejections.append(
                RecordRejection(refused.reason, refused.detail, index, _record_text(record))
            )
            continue
        if isinstance(result, Reading):
            readings.append(result)
        elif result is not None:
            marks.append(result)
    return DecodedPack(readings, marks, rejections)


@dataclass(slots=True)
class _BaseFields:
    """SenML base fields apply to their record and all following ones (RFC 8428 §4.1).

    A base field that cannot be used (out of range, named twice) makes every following
    record that relies on it fail with the same reason, until a record sets it anew:
    those records must not silently take an older base time or value.
    """

    time_ns: int = 0
    value: Decimal | None = None  # None: no base value, `v` is used as sent
    unit: str | None = None
    time_problem: tuple[Reason, str] | None = None
    value_problem: tuple[Reason, str] | None = None
    unit_problem: tuple[Reason, str] | None = None

    def set_time(self, index: int, bt: JsonNumber) -> None:
        try:
            self.time_ns = seconds_to_ns(_bounded(bt, "'bt'"))
        except _RecordRefused as refused:
            self.time_problem = (refused.reason, f"base of record {index}: {refused.detail}")
            raise
        self.time_problem = None

    def set_value(self, index: int, bv: JsonNumber) -> None:
        try:
            value = _bounded(bv, "'bv'")
        except _RecordRefused as refused:
            self.value_problem = (refused.reason, f"base of record {index}: {refused.detail}")
            raise
        self.value = to_decimal(value) if value else None
        self.value_problem = None

    def forget(self, index: int, names: tuple[str, ...]) -> None:
        problem = (Reason.NOT_SENML, f"record {index} names its base field(s) more than once")
        if "bt" in names:
            self.time_problem = problem
        if "bv" in names:
            self.value_problem = problem
        if "bu" in names:
            self.unit_problem = problem


def _decode_record(  # noqa: PLR0917 - private helper of decode_carefully's loop
    probe_id: str,
    index: int,
    record: dict[str, Any],
    base: _BaseFields,
    latest_allowed_ns: int,
    future_margin_s: float,
    arrival_ns: int,
) -> Reading | SequenceMark | None:
    repeated = record.repeated if isinstance(record, RepeatedNames) else ()
    if "bt" in record and "bt" not in repeated:
        base.set_time(index, record["bt"])
    if "bv" in record and "bv" not in repeated:
        base.set_value(index, record["bv"])
    if "bu" in record and "bu" not in repeated:
        base.unit = record["bu"]
        base.unit_problem = None
    if repeated:
        base.forget(index, repeated)
        names = ", ".join(repr(name[:40]) for name in repeated[:5])
        _refuse((Reason.NOT_SENML, f"the record names {names} more than once"))
    name = record.get("n")
    if name is None:
        # A record holding only base fields carries no value and is fine.
        if not any(key in record for key in _VALUE_FIELDS):
            return None
        _refuse((Reason.UNKNOWN_QUANTITY, "record has a value but no name"))
    spec = RECORDS.get(name)
    if spec is None and name != SEQUENCE_RECORD:
        if not _NAME_PATTERN.fullmatch(name):
            _refuse((Reason.NOT_SENML, f"name {name[:80]!r} has characters SenML does not allow"))
        _refuse((Reason.UNKNOWN_QUANTITY, f"unknown record name {name[:80]!r}"))

    loq: Decimal | None = None
    raw: Any = None
    if "vs" in record:
        loq = _censored_limit(name, record)
    elif "v" not in record:
        _refuse((Reason.MISSING_VALUE, f"{name}: no numeric value 'v'"))
    else:
        raw = _bounded(record["v"], f"{name}: 'v'")
        if base.value_problem is not None:
            _refuse(base.value_problem)

    time_ns = _record_time_ns(name, record, base)
    if time_ns < _ABSOLUTE_TIME_MIN_NS:
        _refuse(
            (
                Reason.MISSING_TIME,
                f"{name}: no absolute time (bt/t must give UNIX seconds >= 2**28)",
            )
        )
    if time_ns > latest_allowed_ns:
        seconds = Decimal(time_ns).scaleb(-9)
        _refuse(
            (
                Reason.FUTURE_TIME,
                f"{name}: time {seconds} is more than {future_margin_s:g} s in the future",
            )
        )
    if spec is None:
        return SequenceMark(probe_id, time_ns, _sequence_number(raw, base.value), arrival_ns)
    if base.unit_problem is not None and "u" not in record:
        _refuse(base.unit_problem)
    unit_name = record.get("u", base.unit)
    unit = spec.units.get(unit_name) if unit_name is not None else None
    if unit is None:
        accepted = ", ".join(spec.units)
        shown = unit_name[:40] if isinstance(unit_name, str) else unit_name
        _refuse(
            (Reason.UNKNOWN_UNIT, f"{name}: unit {shown!r} not accepted (accepted: {accepted})")
        )
    if loq is not None:
        value = unit.apply(loq)  # the LOQ, in the record's unit like v; bv does not apply
        return Reading(probe_id, spec.quantity, time_ns, value, name, arrival_ns, censored=True)
    value = unit.convert(raw, base.value)
    return Reading(probe_id, spec.quantity, time_ns, value, name, arrival_ns)


def _record_time_ns(name: str, record: dict[str, Any], base: _BaseFields) -> int:
    if base.time_problem is not None:
        _refuse(base.time_problem)
    if "t" not in record:
        return base.time_ns
    return base.time_ns + seconds_to_ns(_bounded(record["t"], f"{name}: 't'"))


def _sequence_number(raw: int | float | Decimal, base: Decimal | None) -> int:
    value = raw if base is None else base + to_decimal(raw)
    if isinstance(value, int):
        if 0 <= value < SEQUENCE_MODULUS:
            return value
    elif isinstance(value, float):
        if value.is_integer() and 0 <= value < SEQUENCE_MODULUS:
            return int(value)
    elif value == value.to_integral_value() and 0 <= value < SEQUENCE_MODULUS:
        return int(value)
    _refuse((Reason.BAD_SEQUENCE, f"seq {value} is not an integer in 0..2**32-1"))


def _censored_limit(name: str, record: dict[str, Any]) -> Decimal:
    """The limit of quantification of a censored value `"vs": "<0.5"`, as sent."""
    if name not in CENSORED_RECORDS:
        takers = ", ".join(sorted(CENSORED_RECORDS))
        _refuse(
            (
                Reason.BAD_CENSORED_VALUE,
                f"{name}: only {takers} take a censored value 'vs'; send the number in 'v'",
            )
        )
    if "v" in record:
        _refuse((Reason.BAD_CENSORED_VALUE, f"{name}: has both 'v' and 'vs'; send one"))
    text = record["vs"]
    match = _CENSORED_PATTERN.fullmatch(text) if len(text) <= CENSORED_MAX_CHARS else None
    if match is None:
        _refuse(
            (
                Reason.BAD_CENSORED_VALUE,
                f"{name}: 'vs' {text[:40]!r} is not '<' and the limit of quantification, "
                "e.g. '<0.5'",
            )
        )
    loq = Decimal(match.group(1))  # at most 23 digits: cheap to convert
    if loq.is_zero():
        _refuse((Reason.BAD_CENSORED_VALUE, f"{name}: a limit of quantification must be > 0"))
    if number_problem(loq) is not None:
        _refuse(
            (Reason.BAD_CENSORED_VALUE, f"{name}: limit of quantification {loq} is beyond 1e10")
        )
    return loq
