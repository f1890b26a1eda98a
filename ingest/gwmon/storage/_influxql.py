"""A small InfluxQL builder: every statement gwmon sends is built here.

InfluxQL on the v1 HTTP API has no bound parameters that every server version serves
(InfluxDB 1.x has `params`; the v1 compatibility layers of 2.x and 3.x are not
consistent about it), so values are quoted here, once, by one set of rules taken from
the InfluxQL scanner: identifiers in double quotes, strings in single quotes, and in
both a backslash, the quote character and a newline escaped. Columns are checked
against the storage contract when a statement is built, so a renamed field breaks a
test, not a dashboard panel.

Grafana's template syntax is not InfluxQL; the few pieces dashboards need are explicit
objects (`TIME_FILTER`, `matches_variable`, `GRAFANA_INTERVAL`) with validated names,
never free text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal

from gwmon.storage._schema import ContractError, Measurement

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_DURATION = re.compile(r"[1-9][0-9]{0,8}(ns|u|µ|ms|s|m|h|d|w)")
_TIMEZONE = re.compile(r"[A-Za-z_]+(/[A-Za-z_+-]+){0,2}")
_FUNCTIONS = frozenset(
    {"count", "distinct", "first", "last", "max", "mean", "median", "min", "spread", "sum"}
)
_FILL = re.compile(r"none|null|previous|linear|-?[0-9]+(\.[0-9]+)?")


def quote_identifier(name: str) -> str:
    """`name` as a double-quoted InfluxQL identifier."""
    return '"' + _escape(name, '"') + '"'


def quote_string(value: str) -> str:
    """`value` as a single-quoted InfluxQL string literal."""
    return "'" + _escape(value, "'") + "'"


def _escape(text: str, quote: str) -> str:
    return text.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n")


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        msg = "a boolean is not a number"
        raise ContractError(msg)
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"InfluxQL has no literal for {value!r}"
        raise ContractError(msg)
    if not isinstance(value, float):
        return str(int(value))
    text = repr(value)
    if "e" in text:  # InfluxQL has no exponent notation: 1e-06 would parse as a duration
        text = format(Decimal(text), "f")
    return text


# -- expressions in the SELECT list ----------------------------------------------------------
class Expr:
    """Something that renders to InfluxQL given the columns its statement may use."""

    def render(self, scope: Scope) -> str:
        raise NotImplementedError

    def as_(self, alias: str) -> Aliased:
        return Aliased(self, alias)

    def __mul__(self, other: Expr | float | int) -> Expr:
        return _Arithmetic(self, "*", other)

    def __add__(self, other: Expr | float | int) -> Expr:
        return _Arithmetic(self, "+", other)

    def __sub__(self, other: Expr | float | int) -> Expr:
        return _Arithmetic(self, "-", other)


@dataclass(frozen=True, eq=False)
class Col(Expr):
    """A column (tag or field) of the statement's source."""

    name: str

    def render(self, scope: Scope) -> str:
        return quote_identifier(scope.check(self.name))


@dataclass(frozen=True, eq=False)
class _Call(Expr):
    function: str
    argument: Expr
    parameters: tuple[str, ...] = ()  # validated literals: numbers, durations

    def render(self, scope: Scope) -> str:
        arguments = ", ".join((self.argument.render(scope), *self.parameters))
        return f"{self.function}({arguments})"


@dataclass(frozen=True, eq=False)
class _Arithmetic(Expr):
    left: Expr
    operator: Literal["*", "+", "-"]
    right: Expr | float | int

    def render(self, scope: Scope) -> str:
        left = self.left.render(scope)
        if self.operator == "*" and _is_sum(self.left):
            left = f"({left})"
        if isinstance(self.right, Expr):
            right = self.right.render(scope)
            # Left-associative as written: a - (b + c) keeps its parentheses.
            if isinstance(self.right, _Arithmetic):
                right = f"({right})"
        else:
            right = _number(self.right)
        return f"{left} {self.operator} {right}"


def _is_sum(expr: Expr) -> bool:
    return isinstance(expr, _Arithmetic) and expr.operator in ("+", "-")


@dataclass(frozen=True, eq=False)
class Aliased:
    expr: Expr
    alias: str

    def render(self, scope: Scope) -> str:
        return f"{self.expr.render(scope)} AS {quote_identifier(self.alias)}"


class _Star(Expr):
    def render(self, scope: Scope) -> str:
        return "*"


STAR = _Star()


def call(function: str, column: str) -> Expr:
    """An aggregate or selector such as `last("value")`."""
    if function not in _FUNCTIONS:
        msg = f"InfluxQL function {function!r} is not one gwmon uses ({sorted(_FUNCTIONS)})"
        raise ContractError(msg)
    return _Call(function, Col(column))


def last(column: str) -> Expr:
    return call("last", column)


def first(column: str) -> Expr:
    return call("first", column)


def count(column: str) -> Expr:
    return call("count", column)


def mean(column: str) -> Expr:
    return call("mean", column)


def maximum(column: str) -> Expr:
    return call("max", column)


def minimum(column: str) -> Expr:
    return call("min", column)


def median(column: str) -> Expr:
    return call("median", column)


def percentile(column: str, rank: float | int) -> Expr:
    """`percentile("column", rank)`, rank between 0 and 100."""
    if isinstance(rank, bool) or not 0 <= rank <= 100:
        msg = f"percentile rank {rank!r} must be a number from 0 to 100"
        raise ContractError(msg)
    return _Call("percentile", Col(column), (_number(rank),))


def non_negative_derivative(expr: Expr, unit: str = "1s") -> Expr:
    """`non_negative_derivative(expr, unit)`: the rate of a counter per `unit` (e.g. 1m)."""
    if not _DURATION.fullmatch(unit):
        msg = f"non_negative_derivative unit {unit!r} needs a duration such as 1m"
        raise ContractError(msg)
    return _Call("non_negative_derivative", expr, (unit,))


# -- conditions in WHERE ---------------------------------------------------------------------
class Condition:
    def render(self, scope: Scope) -> str:
        raise NotImplementedError


Literal_ = str | float | int | bool
_OPERATORS = frozenset({"=", "<>", "<", "<=", ">", ">="})


@dataclass(frozen=True)
class _Compare(Condition):
    column: str
    operator: str
    value: Literal_

    def render(self, scope: Scope) -> str:
        name = quote_identifier(scope.check(self.column))
        if isinstance(self.value, bool):
            literal = "true" if self.value else "false"
        elif isinstance(self.value, str):
            literal = quote_string(self.value)
        else:
            literal = _number(self.value)
        return f"{name} {self.operator} {literal}"


def compare(column: str, operator: str, value: Literal_) -> Condition:
    if operator not in _OPERATORS:
        msg = f"operator {operator!r} is not one of {sorted(_OPERATORS)}"
        raise ContractError(msg)
    return _Compare(column, operator, value)


def eq(column: str, value: Literal_) -> Condition:
    return _Compare(column, "=", value)


def ne(column: str, value: Literal_) -> Condition:
    return _Compare(column, "<>", value)


def gt(column: str, value: float | int) -> Condition:
    return _Compare(column, ">", value)


@dataclass(frozen=True)
class _Time(Condition):
    operator: str
    time_ns: int

    def render(self, scope: Scope) -> str:
        return f"time {self.operator} {int(self.time_ns)}"


def time_ge(time_ns: int) -> Condition:
    return _Time(">=", time_ns)


def time_gt(time_ns: int) -> Condition:
    return _Time(">", time_ns)


def time_le(time_ns: int) -> Condition:
    return _Time("<=", time_ns)


def time_lt(time_ns: int) -> Condition:
    return _Time("<", time_ns)


@dataclass(frozen=True)
class _Macro(Condition):
    text: str

    def render(self, scope: Scope) -> str:
        return self.text


TIME_FILTER: Condition = _Macro("$timeFilter")
"""Grafana's time-range macro (`time >= <from>ms and time <= <to>ms`)."""


@dataclass(frozen=True)
class _VariableMatch(Condition):
    column: str
    variable: str

    def render(self, scope: Scope) -> str:
        return f"{quote_identifier(scope.check(self.column))} =~ /^${self.variable}$/"


def matches_variable(column: str, variable: str) -> Condition:
    """`"column" =~ /^$variable$/`: a tag against a (multi-value) Grafana variable."""
    if not _VARIABLE_NAME.fullmatch(variable):
        msg = f"Grafana variable name {variable!r} must match {_VARIABLE_NAME.pattern}"
        raise ContractError(msg)
    return _VariableMatch(column, variable)


@dataclass(frozen=True)
class _Junction(Condition):
    operator: Literal["AND", "OR"]
    parts: tuple[Condition, ...]

    def render(self, scope: Scope) -> str:
        rendered = [part.render(scope) for part in self.parts]
        if len(rendered) == 1:
            return rendered[0]
        return "(" + f" {self.operator} ".join(rendered) + ")"


def any_of(*conditions: Condition) -> Condition:
    if not conditions:
        msg = "any_of() needs at least one condition"
        raise ContractError(msg)
    return _Junction("OR", conditions)


def all_of(*conditions: Condition) -> Condition:
    if not conditions:
        msg = "all_of() needs at least one condition"
        raise ContractError(msg)
    return _Junction("AND", conditions)


# -- statements ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """The columns a statement may name: a measurement's, or a subquery's outputs."""

    source: str
    columns: frozenset[str]

    def check(self, name: str) -> str:
        if name not in self.columns:
            msg = f"{self.source} has no column {name!r} (known: {sorted(self.columns)})"
            raise ContractError(msg)
        return name


def _scope_of(source: Measurement | Select) -> Scope:
    if isinstance(source, Measurement):
        return Scope(source.name, source.tag_names | source.field_names)
    return Scope("subquery", source.output_columns())


class Statement:
    """An InfluxQL statement; `text` is what goes to /query."""

    @property
    def text(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text


GRAFANA_INTERVAL = "$__interval"


@dataclass(frozen=True)
class Select(Statement):
    """`SELECT ... FROM <measurement | (subquery)> [WHERE] [GROUP BY] [fill] [ORDER BY] ...`.

    Immutable: every method returns a new statement.
    """

    source: Measurement | Select
    columns: tuple[Expr | Aliased, ...]
    conditions: tuple[Condition, ...] = ()
    group_tags: tuple[str, ...] = ()
    group_interval: str | None = None
    fill_option: str | None = None
    descending: bool = False
    limit_rows: int | None = None
    timezone: str | None = None
    _scope: Scope = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.columns:
            msg = "a SELECT needs at least one column"
            raise ContractError(msg)
        object.__setattr__(self, "_scope", _scope_of(self.source))
        # Render once now so that a wrong column fails where the statement is built.
        _ = self.text

    def _with(self, **changes: object) -> Select:
        return replace(self, **changes)  # type: ignore[arg-type]

    def where(self, *conditions: Condition) -> Select:
        """Add conditions, joined with AND to those already there."""
        return self._with(conditions=self.conditions + conditions)

    def group_by(self, *tags: str, interval: str | None = None) -> Select:
        if (
            interval is not None
            and interval != GRAFANA_INTERVAL
            and not _DURATION.fullmatch(interval)
        ):
            msg = f"GROUP BY time({interval!r}) needs a duration such as 1h, or $__interval"
            raise ContractError(msg)
        return self._with(group_tags=self.group_tags + tags, group_interval=interval)

    def fill(self, option: str) -> Select:
        if not _FILL.fullmatch(option):
            msg = f"fill({option!r}) is not none, null, previous, linear or a number"
            raise ContractError(msg)
        return self._with(fill_option=option)

    def newest_first(self) -> Select:
        return self._with(descending=True)

    def limit(self, rows: int) -> Select:
        if rows < 1:
            msg = "LIMIT needs a positive number of rows"
            raise ContractError(msg)
        return self._with(limit_rows=int(rows))

    def in_timezone(self, name: str) -> Select:
        if not _TIMEZONE.fullmatch(name):
            msg = f"time zone {name!r} is not an IANA name such as Europe/Berlin"
            raise ContractError(msg)
        return self._with(timezone=name)

    def output_columns(self) -> frozenset[str]:
        """What an outer query may name: aliases, plain columns and grouped tags."""
        names: set[str] = set(self.group_tags)
        for column in self.columns:
            if isinstance(column, Aliased):
                names.add(column.alias)
            elif isinstance(column, Col):
                names.add(column.name)
            elif isinstance(column, _Call):
                names.add(column.function)
        return frozenset(names)

    @property
    def text(self) -> str:
        scope = self._scope
        columns = ", ".join(column.render(scope) for column in self.columns)
        if isinstance(self.source, Measurement):
            source = quote_identifier(self.source.name)
        else:
            source = f"({self.source.text})"
        parts = [f"SELECT {columns} FROM {source}"]
        if self.conditions:
            parts.append("WHERE " + " AND ".join(c.render(scope) for c in self.conditions))
        groups = [quote_identifier(scope.check(tag)) for tag in self.group_tags]
        if self.group_interval is not None:
            groups.insert(0, f"time({self.group_interval})")
        if groups:
            parts.append("GROUP BY " + ", ".join(groups))
        if self.fill_option is not None:
            parts.append(f"fill({self.fill_option})")
        if self.descending:
            parts.append("ORDER BY time DESC")
        if self.limit_rows is not None:
            parts.append(f"LIMIT {self.limit_rows}")
        if self.timezone is not None:
            parts.append(f"tz({quote_string(self.timezone)})")
        return " ".join(parts)


def select(source: Measurement | Select, *columns: Expr | Aliased | str) -> Select:
    """`SELECT columns FROM source`; a string column is a plain column reference."""
    return Select(source, tuple(Col(c) if isinstance(c, str) else c for c in columns))


@dataclass(frozen=True)
class ShowTagValues(Statement):
    measurement: Measurement
    key: str
    conditions: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        if self.key not in self.measurement.tag_names:
            msg = f"measurement {self.measurement.name} has no tag {self.key!r}"
            raise ContractError(msg)
        _ = self.text

    def where(self, *conditions: Condition) -> ShowTagValues:
        return ShowTagValues(self.measurement, self.key, self.conditions + conditions)

    @property
    def text(self) -> str:
        scope = _scope_of(self.measurement)
        text = (
            f"SHOW TAG VALUES FROM {quote_identifier(self.measurement.name)} "
            f"WITH KEY = {quote_identifier(self.key)}"
        )
        if self.conditions:
            text += " WHERE " + " AND ".join(c.render(scope) for c in self.conditions)
        return text


def show_tag_values(measurement: Measurement, key: str) -> ShowTagValues:
    return ShowTagValues(measurement, key)


@dataclass(frozen=True)
class ShowSeries(Statement):
    measurement: Measurement

    @property
    def text(self) -> str:
        return f"SHOW SERIES FROM {quote_identifier(self.measurement.name)}"


@dataclass(frozen=True)
class Delete(Statement):
    """`DELETE FROM m WHERE ...` (InfluxDB 1.x; 3.x has no point-level delete)."""

    measurement: Measurement
    conditions: tuple[Condition, ...]

    def __post_init__(self) -> None:
        if not self.conditions:
            msg = "refusing to build a DELETE without WHERE"
            raise ContractError(msg)
        _ = self.text

    @property
    def text(self) -> str:
        scope = Scope(self.measurement.name, self.measurement.tag_names)
        where = " AND ".join(c.render(scope) for c in self.conditions)
        return f"DELETE FROM {quote_identifier(self.measurement.name)} WHERE {where}"


@dataclass(frozen=True)
class _Plain(Statement):
    body: str

    @property
    def text(self) -> str:
        return self.body


SHOW_DATABASES: Statement = _Plain("SHOW DATABASES")


def create_database(name: str) -> Statement:
    return _Plain(f"CREATE DATABASE {quote_identifier(name)}")


def statements(parts: Iterable[Statement]) -> str:
    """Several statements as one query text (Grafana sends a panel target like this)."""
    texts: Sequence[str] = [part.text for part in parts]
    if not texts:
        msg = "no statements"
        raise ContractError(msg)
    return ";\n".join(texts)
