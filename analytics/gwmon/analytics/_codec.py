"""The one alert codec, derived from the `Alert` dataclass and the storage contract.

Nothing here names an alert field: every form is computed from `dataclasses.fields(Alert)`
and the field types, so a field added to `Alert` is in every form at once (and a field
the contract's `ALERT` measurement lacks stops the import with a ContractError).

Three forms, each exactly as gwmon has always written it (old files and points load):

- JSON (`alert_to_json`/`alert_from_json`): `gwmon alerts list --format json` and the
  mail outbox. Times are ISO 8601 strings.
- state (`alert_to_state`/`alert_from_state`): the SQLite analytics state and its
  outbox. Times are integer UNIX nanoseconds.
- a point of `gwmon.storage.ALERT` (`alert_point`/`alert_from_row`). By rule: an
  attribute named like a tag of ALERT is that tag; a time attribute `x_at` is the float
  field `x_at_s` (UNIX seconds); `updated_at` is the point's time (when the alert last
  changed); every other attribute is the field of the same name. Absent optional values
  (and non-finite floats) are left out of the point.

Types: an enum is stored as its value, a datetime (timezone-aware UTC) as above, and
`X | None` may be null or absent. A record lacking a key takes the field's default,
None for an optional field, and is refused (KeyError/ValueError) otherwise.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Literal

from gwmon.analytics._model import Alert, AlertEvent, AlertEventType
from gwmon.storage import ALERT, ContractError, FieldValue, Point

_NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_POINT_TIME = "updated_at"  # the attribute that is the time of an `alert` point
_SECONDS_SUFFIX = "_s"


def to_datetime(time_ns: int) -> datetime:
    """UTC datetime of a UNIX time in ns (exact to the microsecond, integer arithmetic)."""
    return _EPOCH + timedelta(microseconds=time_ns // 1000)


def to_ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        msg = "times must be timezone-aware (UTC)"
        raise ValueError(msg)
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000


def _from_seconds(seconds: float) -> datetime:
    # Alert times have microsecond resolution; rounding to whole microseconds reads
    # back exactly the time written (via ns, float error could lose a microsecond).
    return _EPOCH + timedelta(microseconds=round(seconds * 1_000_000))


@dataclasses.dataclass(frozen=True, slots=True)
class _Spec:
    """One attribute of `Alert`: its type without `| None`, and how absence reads."""

    name: str
    base: type
    optional: bool
    default: object

    def absent(self, record: str) -> object:
        """The value of a missing key, or an error if the field must be present."""
        if self.default is not dataclasses.MISSING:
            return self.default
        if self.optional:
            return None
        msg = f"{record} without {self.name!r}"
        raise KeyError(msg)


def _specs() -> tuple[_Spec, ...]:
    hints = typing.get_type_hints(Alert)
    specs = []
    for item in dataclasses.fields(Alert):
        hint = hints[item.name]
        args = typing.get_args(hint)
        optional = isinstance(hint, types.UnionType) and type(None) in args
        base = next(arg for arg in args if arg is not type(None)) if optional else hint
        if not (base in (str, float, bool, datetime) or issubclass(base, Enum)):
            msg = f"Alert.{item.name}: the codec has no rule for type {hint}"
            raise TypeError(msg)
        specs.append(_Spec(item.name, base, optional, item.default))
    return tuple(specs)


_SPECS = _specs()


# -- JSON and state: one key per attribute ----------------------------------------------------
def _encode(alert: Alert, encode_time: Callable[[datetime], object]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for spec in _SPECS:
        value = getattr(alert, spec.name)
        if value is None:
            record[spec.name] = None
        elif spec.base is datetime:
            record[spec.name] = encode_time(value)
        elif isinstance(value, Enum):
            record[spec.name] = value.value
        else:
            record[spec.name] = value
    return record


def _decode(data: Mapping[str, Any], decode_time: Callable[[Any], datetime], record: str) -> Alert:
    values: dict[str, object] = {}
    for spec in _SPECS:
        if spec.name not in data:
            values[spec.name] = spec.absent(record)
            continue
        raw = data[spec.name]
        if raw is None:
            if not spec.optional:
                msg = f"{record}: {spec.name!r} must not be null"
                raise ValueError(msg)
            values[spec.name] = None
        elif spec.base is datetime:
            values[spec.name] = decode_time(raw)
        elif spec.base is float:
            values[spec.name] = float(raw)
        elif spec.base is bool:
            values[spec.name] = bool(raw)
        else:  # str or an enum of strings
            values[spec.name] = spec.base(raw)
    return Alert(**values)  # type: ignore[arg-type]


def _parse_iso(value: object) -> datetime:
    if not isinstance(value, str):
        msg = f"not an ISO 8601 time: {value!r}"
        raise ValueError(msg)
    return datetime.fromisoformat(value)


def alert_to_json(alert: Alert) -> dict[str, Any]:
    """Every field of `alert`, times as ISO 8601 (for the CLI's JSON and the mail outbox)."""
    return _encode(alert, datetime.isoformat)


def alert_from_json(data: Mapping[str, Any]) -> Alert:
    """The inverse of `alert_to_json`; raises ValueError/KeyError on a broken record."""
    return _decode(data, _parse_iso, "alert record")


def alert_to_state(alert: Alert) -> dict[str, Any]:
    """Every field of `alert`, times as integer ns (the analytics state file)."""
    return _encode(alert, to_ns)


def alert_from_state(data: Mapping[str, Any]) -> Alert:
    """The inverse of `alert_to_state`; raises ValueError/KeyError on a broken record."""
    return _decode(data, lambda raw: to_datetime(int(raw)), "alert state record")


def event_to_state(event: AlertEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "type": event.type.value,
        "alert": alert_to_state(event.alert),
    }


def event_from_state(data: Mapping[str, Any]) -> AlertEvent:
    return AlertEvent(
        event_id=str(data["event_id"]),
        type=AlertEventType(data["type"]),
        alert=alert_from_state(data["alert"]),
    )


# -- InfluxDB: attributes mapped onto the ALERT measurement --------------------------------
Place = Literal["tag", "field", "time"]
_FIELD_TYPE = {str: "string", float: "float", bool: "boolean", datetime: "float"}


def _place(spec: _Spec) -> tuple[Place, str]:
    if spec.name == _POINT_TIME:
        return "time", "time"
    if spec.name in ALERT.tag_names:
        return "tag", spec.name
    column = spec.name + _SECONDS_SUFFIX if spec.base is datetime else spec.name
    expected = "string" if issubclass(spec.base, Enum) else _FIELD_TYPE[spec.base]
    actual = ALERT.field(column).type
    if actual != expected:
        msg = f"Alert.{spec.name} needs a {expected} field {column!r}; the contract has a {actual}"
        raise ContractError(msg)
    return "field", column


def _columns() -> tuple[tuple[_Spec, Place, str], ...]:
    columns = tuple((spec, *_place(spec)) for spec in _SPECS)
    mapped = {column for _, _, column in columns}
    unmapped = (ALERT.tag_names | ALERT.field_names) - mapped
    if unmapped:
        msg = f"ALERT columns {sorted(unmapped)} match no attribute of Alert"
        raise ContractError(msg)
    # Write fields in the contract's order (the order docs/storage.md lists them).
    order = {field.name: index for index, field in enumerate(ALERT.fields)}
    return tuple(sorted(columns, key=lambda item: (item[1] != "tag", order.get(item[2], -1))))


_COLUMNS = _columns()


def _stored(spec: _Spec, value: object) -> FieldValue | None:
    if isinstance(value, datetime):
        return to_ns(value) / _NS
    if isinstance(value, Enum):
        return str(value.value)
    if spec.base is float:
        number = float(value)  # type: ignore[arg-type]
        return number if math.isfinite(number) else None
    return value  # type: ignore[return-value]


def alert_point(alert: Alert, time_ns: int) -> Point:
    """The `alert` point of `alert`'s present state at `time_ns` (the point's time)."""
    tags: dict[str, str] = {}
    fields: dict[str, FieldValue] = {}
    for spec, place, column in _COLUMNS:
        value = getattr(alert, spec.name)
        if place == "time" or value is None:
            continue
        stored = _stored(spec, value)
        if stored is None:
            continue
        if place == "tag":
            tags[column] = str(stored)
        else:
            fields[column] = stored
    return ALERT.point(tags, fields, time_ns)


def _read(spec: _Spec, place: Place, raw: object) -> object:
    if place == "time":
        return to_datetime(int(raw))  # type: ignore[call-overload]
    if spec.base is datetime:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return _from_seconds(float(raw))
        return None
    if spec.base is float:
        return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
    if spec.base is bool:
        return bool(raw)
    if spec.base is str:
        return raw if isinstance(raw, str) else None
    return spec.base(raw)


def alert_from_row(row: Mapping[str, Any]) -> Alert:
    """An Alert from one `alert` point as InfluxQL `SELECT *` returns it (epoch ns).

    A string left out of the point reads as "" (InfluxDB leaves out empty tags); any
    other missing required field is a ValueError."""
    values: dict[str, object] = {}
    for spec, place, column in _COLUMNS:
        raw = row.get(column)
        value = None if raw is None else _read(spec, place, raw)
        if value is None:
            if spec.base is str and not spec.optional:
                value = ""
            else:
                try:
                    value = spec.absent("alert point")
                except KeyError:
                    msg = f"alert point without {column}: {row.get('alert_id')!r}"
                    raise ValueError(msg) from None
        values[spec.name] = value
    return Alert(**values)  # type: ignore[arg-type]
