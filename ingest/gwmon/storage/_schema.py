"""The types a measurement of the storage contract is made of.

A `Measurement` names its tags and fields once, with their types and meaning; writers
build points through it (names and types are checked) and readers refer to its columns
through it (a typo is an error at build time, not an empty panel at 3 a.m.).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gwmon.storage._line import FieldValue, Point

FieldType = Literal["float", "integer", "boolean", "string"]

_PYTHON_TYPE: dict[FieldType, tuple[type, ...]] = {
    "float": (float,),
    "integer": (int,),
    "boolean": (bool,),
    "string": (str,),
}


class ContractError(ValueError):
    """A point or a query does not match the storage contract (a programming error)."""


@dataclass(frozen=True, slots=True)
class Tag:
    """An indexed string column: part of a point's identity (measurement + tags + time)."""

    name: str
    doc: str


@dataclass(frozen=True, slots=True)
class Field:
    """A value column. `required` fields are in every point the contract writes."""

    name: str
    type: FieldType
    doc: str
    required: bool = False

    def accepts(self, value: FieldValue) -> bool:
        if isinstance(value, bool):
            return self.type == "boolean"
        if self.type == "float":
            return isinstance(value, float) and math.isfinite(value)
        return isinstance(value, _PYTHON_TYPE[self.type])


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measurement: its tags, fields, who writes it and what its time means."""

    name: str
    doc: str
    time: str
    written_by: str
    tags: tuple[Tag, ...]
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        names = [tag.name for tag in self.tags] + [field.name for field in self.fields]
        if len(names) != len(set(names)):
            msg = f"measurement {self.name}: a column name is used twice"
            raise ContractError(msg)

    @property
    def tag_names(self) -> frozenset[str]:
        return frozenset(tag.name for tag in self.tags)

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(field.name for field in self.fields)

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        msg = f"measurement {self.name} has no field {name!r}"
        raise ContractError(msg)

    def column(self, name: str) -> str:
        """`name` if it is a tag or field of this measurement, else ContractError."""
        if name in self.tag_names or name in self.field_names:
            return name
        msg = f"measurement {self.name} has no tag or field {name!r}"
        raise ContractError(msg)

    def point(
        self, tags: Mapping[str, str], fields: Mapping[str, FieldValue], time_ns: int
    ) -> Point:
        """A point of this measurement; names and types are checked against the contract.

        Empty tag values are allowed here and left out of the line (InfluxDB refuses
        them); a missing required field or a value of the wrong type is a ContractError.
        """
        unknown_tags = set(tags) - self.tag_names
        if unknown_tags:
            msg = f"measurement {self.name} has no tag(s) {sorted(unknown_tags)}"
            raise ContractError(msg)
        for name, value in fields.items():
            if not self.field(name).accepts(value):
                spec = self.field(name)
                msg = f"{self.name}.{name} must be a {spec.type}, got {value!r}"
                raise ContractError(msg)
        missing = [
            field.name for field in self.fields if field.required and field.name not in fields
        ]
        if missing:
            msg = f"point of {self.name} lacks required field(s) {missing}"
            raise ContractError(msg)
        return Point(self.name, tags, fields, time_ns)
