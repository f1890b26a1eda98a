"""Configuration sections that stages own, and the one way their problems are told.

A stage declares its TOML table as a `ConfigSection` (name, pydantic model, commented
example) and registers it in pyproject.toml under the entry-point group
`gwmon.config_sections`; the loader learns the names from there, so it names no stage
itself. A section is validated by `validate_section`, which turns every pydantic error
into a `ConfigProblem` that says where (file or environment variable), which key, and
what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from gwmon.config._errors import ConfigError

ENTRY_POINT_GROUP = "gwmon.config_sections"
ENV_PREFIX = "GWMON_"
CONFIG_ENV_VAR = "GWMON_CONFIG"
UNKNOWN_KEY = "unknown key; check the spelling against `gwmon config example`"

ModelT = TypeVar("ModelT", bound=BaseModel)


class Section(BaseModel):
    """Base of every section model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ConfigSection(Generic[ModelT]):
    """One TOML table (`[name]`) owned by a stage."""

    name: str
    model: type[ModelT]
    example: str  # commented TOML for `gwmon config example`, starting with [name]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the configuration: where, which key, what to do."""

    where: str
    key: str | None
    message: str

    def __str__(self) -> str:
        if self.key is None:
            return f"{self.where}: {self.message}"
        return f"{self.where}: key '{self.key}': {self.message}"


def config_error(problems: Iterable[ConfigProblem], *, source: str) -> ConfigError:
    """The one ConfigError for a list of problems, formatted the one way."""
    listed = list(problems)
    message = "invalid configuration:\n  " + "\n  ".join(str(problem) for problem in listed)
    key = listed[0].key if len(listed) == 1 else None
    return ConfigError(message, source=source, key=key, problems=tuple(listed))


def env_name(path: Iterable[str]) -> str:
    """The environment variable that overrides a key: GWMON_<SECTION>__<KEY>__..."""
    return ENV_PREFIX + "__".join(part.upper() for part in path)


def environment_overlay(environ: Mapping[str, str]) -> tuple[dict[str, Any], set[str]]:
    """GWMON_<SECTION>__<KEY> variables as nested tables, and the dotted keys they set.

    Values stay strings for the section model to parse (numbers, booleans, paths); a
    value written as a JSON array or object (`["a@x.org"]`) is parsed as JSON so lists
    can be overridden too. GWMON_<SECTION>__<TABLE>__<KEY> reaches nested tables.
    """
    tables: dict[str, Any] = {}
    keys: set[str] = set()
    for variable, value in environ.items():
        if not variable.startswith(ENV_PREFIX) or variable == CONFIG_ENV_VAR:
            continue
        path = [part.lower() for part in variable.removeprefix(ENV_PREFIX).split("__")]
        if len(path) < 2 or not all(path):
            continue
        node = tables
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[path[-1]] = _env_value(value)
            keys.add(".".join(path))
    return tables, keys


def _env_value(value: str) -> Any:  # noqa: ANN401 - a string, or what its JSON holds
    if value.lstrip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def merge_tables(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overlay` laid over it, table by table."""
    merged = dict(base)
    for key, value in overlay.items():
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = merge_tables(current, value)
        else:
            merged[key] = value
    return merged


def validate_section(
    spec: ConfigSection[ModelT],
    raw: Mapping[str, Any],
    *,
    source: str,
    env_keys: AbstractSet[str] = frozenset(),
) -> ModelT:
    """The section's model, or a ConfigError listing every problem with where and fix."""
    try:
        return spec.model.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem(spec.name, error, source, env_keys) for error in exc.errors()]
        raise config_error(problems, source=source) from None


def _problem(
    section: str, error: Mapping[str, Any], source: str, env_keys: AbstractSet[str]
) -> ConfigProblem:
    location = [section, *(str(part) for part in error.get("loc", ()) if part != "function-after")]
    key = ".".join(location)
    where = f"environment variable {env_name(location)}" if key in env_keys else source
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = UNKNOWN_KEY
    return ConfigProblem(where, key, message)


def registered_section_names() -> frozenset[str]:
    """The names of the sections stages registered (without importing the stages)."""
    return frozenset(point.name for point in entry_points(group=ENTRY_POINT_GROUP))


def registered_sections() -> dict[str, ConfigSection[Any]]:
    """Every registered section, imported; for `gwmon config example` and checks."""
    sections: dict[str, ConfigSection[Any]] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        spec = point.load()
        if not isinstance(spec, ConfigSection) or spec.name != point.name:
            msg = f"entry point {point.name} = {point.value} is not ConfigSection {point.name!r}"
            raise TypeError(msg)
        sections[point.name] = spec
    return sections
