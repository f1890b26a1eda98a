"""The wire contract's decoder: SenML JSON packs (RFC 8428) from gw/v1/<probe_id>/data.

`decode_pack` never raises anything but `PayloadRejected`: a pack that is broken as a
whole is rejected whole; a pack with some bad records yields its good readings plus one
`RecordRejection` per bad record, so one unknown quantity never costs the nitrate value
sent beside it. See docs/wire-format.md for the contract itself.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

NITRATE_PER_NITRATE_N = Decimal("4.427")  # molar mass NO3 / N = 62.004 / 14.007
SENML_VERSION = 10
ABSOLUTE_TIME_MIN_S = 2**28  # RFC 8428 §4.5.3: smaller times are relative to "now"
SEQUENCE_RECORD = "seq"
SEQUENCE_MODULUS = 2**32
_NS_PER_S = 10**9
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9:./_-]*")
_STRING_FIELDS = ("bn", "n", "bu", "u", "vs", "vd")
_NUMBER_FIELDS = ("bt", "t", "bv", "v", "bs", "s", "ut")


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
    MISSING_TIME = "missing_time"
    FUTURE_TIME = "future_time"
    BAD_SEQUENCE = "bad_sequence"
    BAD_STATUS = "bad_status"


class PayloadRejected(Exception):
    """A whole message is refused; `reason` is machine-readable, `detail` for people."""

    def __init__(self, reason: Reason, detail: str, *, probe: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.probe = probe


@dataclass(frozen=True, slots=True)
class Unit:
    """How a sent unit maps to the canonical one: canonical = value * scale + offset.

    Computed in decimal and rounded to float once, so 10 mg/L NO3-N is stored as 44.27.
    """

    scale: Decimal
    offset: Decimal = Decimal(0)

    def apply(self, value: Decimal) -> float:
        return float(value * self.scale + self.offset)


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


def _parse_constant(name: str) -> float:
    # NaN/Infinity are not JSON, but some firmware sends them; refuse per record.
    return float(name)


def _load_json(payload: bytes) -> object:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadRejected(Reason.NOT_UTF8, f"byte {exc.start} is not UTF-8") from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_parse_constant)
    except (ValueError, RecursionError) as exc:
        raise PayloadRejected(Reason.INVALID_JSON, str(exc)[:200]) from None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _check_record_shape(index: int, record: object) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise PayloadRejected(Reason.NOT_SENML, f"record {index} is not a JSON object")
    for key in _STRING_FIELDS:
        if key in record and not isinstance(record[key], str):
            raise PayloadRejected(Reason.NOT_SENML, f"record {index}: '{key}' must be a string")
    for key in _NUMBER_FIELDS:
        if key in record and not _is_number(record[key]):
            raise PayloadRejected(Reason.NOT_SENML, f"record {index}: '{key}' must be a number")
    if "vb" in record and not isinstance(record["vb"], bool):
        raise PayloadRejected(Reason.NOT_SENML, f"record {index}: 'vb' must be true or false")
    if "bver" in record and (
        not isinstance(record["bver"], int)
        or isinstance(record["bver"], bool)
        or record["bver"] > SENML_VERSION
    ):
        raise PayloadRejected(
            Reason.NOT_SENML, f"record {index}: unsupported SenML version {record['bver']!r}"
        )
    for key in record:
        # RFC 8428 §4.4: fields ending in '_' must be understood; we understand none.
        if key.endswith("_"):
            raise PayloadRejected(
                Reason.NOT_SENML, f"record {index}: must-understand field '{key}' not supported"
            )
    return record


def _to_decimal(value: int | float | Decimal) -> Decimal:
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def _record_text(record: dict[str, Any]) -> str:
    return json.dumps(record, default=str, ensure_ascii=False, sort_keys=True)[:500]


def decode_pack(
    probe_id: str,
    payload: bytes,
    *,
    now_s: float,
    future_margin_s: float = 300.0,
    max_bytes: int = 65_536,
) -> DecodedPack:
    """Decode one data message of `probe_id` (taken from the topic, which is authoritative).

    Raises `PayloadRejected` when the message as a whole is unusable.
    """
    if len(payload) > max_bytes:
        raise PayloadRejected(
            Reason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes > limit {max_bytes}", probe=probe_id
        )
    document = _load_json(payload)
    if not isinstance(document, list):
        raise PayloadRejected(Reason.NOT_SENML, "a SenML pack is a JSON array of records")
    if not document:
        raise PayloadRejected(Reason.EMPTY_PACK, "the pack has no records")
    records = [_check_record_shape(index, record) for index, record in enumerate(document)]
    expected_base_name = f"{probe_id}:"
    arrival_ns = int(now_s * _NS_PER_S)
    latest_allowed_ns = int((Decimal(repr(now_s)) + Decimal(repr(future_margin_s))) * _NS_PER_S)

    readings: list[Reading] = []
    marks: list[SequenceMark] = []
    rejections: list[RecordRejection] = []
    context = _BaseFields()
    for index, record in enumerate(records):
        if "bn" in record and record["bn"] != expected_base_name:
            raise PayloadRejected(
                Reason.BASE_NAME_MISMATCH,
                f"record {index}: base name {record['bn'][:80]!r} is not {expected_base_name!r} "
                "(the topic names the probe)",
            )
        try:
            result = _decode_record(
                probe_id, record, context, latest_allowed_ns, future_margin_s, arrival_ns
            )
        except ArithmeticError:
            result = (Reason.NOT_SENML, "a number is out of the representable range")
        if result is None:
            continue
        if isinstance(result, Reading):
            readings.append(result)
        elif isinstance(result, SequenceMark):
            marks.append(result)
        else:
            reason, detail = result
            rejections.append(RecordRejection(reason, detail, index, _record_text(record)))
    return DecodedPack(readings, marks, rejections)


@dataclass(slots=True)
class _BaseFields:
    """SenML base fields apply to their record and all following ones (RFC 8428 §4.1)."""

    time: Decimal = Decimal(0)
    value: Decimal = Decimal(0)
    unit: str | None = None


def _decode_record(  # noqa: PLR0917 - private helper of decode_pack's loop
    probe_id: str,
    record: dict[str, Any],
    base: _BaseFields,
    latest_allowed_ns: int,
    future_margin_s: float,
    arrival_ns: int,
) -> Reading | SequenceMark | tuple[Reason, str] | None:
    if "bt" in record:
        base.time = _to_decimal(record["bt"])
    if "bv" in record:
        base.value = _to_decimal(record["bv"])
    if "bu" in record:
        base.unit = record["bu"]
    name = record.get("n")
    if name is None:
        # A record holding only base fields carries no value and is fine.
        if not any(key in record for key in ("v", "vs", "vb", "vd", "s")):
            return None
        return (Reason.UNKNOWN_QUANTITY, "record has a value but no name")
    if not _NAME_PATTERN.fullmatch(name):
        return (Reason.NOT_SENML, f"name {name[:80]!r} has characters SenML does not allow")
    if name != SEQUENCE_RECORD and name not in RECORDS:
        return (Reason.UNKNOWN_QUANTITY, f"unknown record name {name[:80]!r}")
    if "v" not in record:
        return (Reason.MISSING_VALUE, f"{name}: no numeric value 'v'")
    raw_value = _to_decimal(record["v"])
    if not raw_value.is_finite() or not base.value.is_finite():
        return (Reason.NON_FINITE_VALUE, f"{name}: value is NaN or infinite")
    time = base.time + _to_decimal(record.get("t", 0))
    if not time.is_finite() or time < ABSOLUTE_TIME_MIN_S:
        return (
            Reason.MISSING_TIME,
            f"{name}: no absolute time (bt/t must give UNIX seconds >= 2**28)",
        )
    time_ns = int(time * _NS_PER_S)
    if time_ns > latest_allowed_ns:
        return (
            Reason.FUTURE_TIME,
            f"{name}: time {time} is more than {future_margin_s:g} s in the future",
        )
    value = base.value + raw_value
    if name == SEQUENCE_RECORD:
        if value != value.to_integral_value() or not 0 <= value < SEQUENCE_MODULUS:
            return (Reason.BAD_SEQUENCE, f"seq {value} is not an integer in 0..2**32-1")
        return SequenceMark(probe_id, time_ns, int(value), arrival_ns)
    spec = RECORDS[name]
    unit_name = record.get("u", base.unit)
    unit = spec.units.get(unit_name) if unit_name is not None else None
    if unit is None:
        accepted = ", ".join(spec.units)
        return (
            Reason.UNKNOWN_UNIT,
            f"{name}: unit {unit_name!r} not accepted (accepted: {accepted})",
        )
    canonical = unit.apply(value)
    if not math.isfinite(canonical):
        return (Reason.NON_FINITE_VALUE, f"{name}: value overflows after unit conversion")
    return Reading(probe_id, spec.quantity, time_ns, canonical, name, arrival_ns)
