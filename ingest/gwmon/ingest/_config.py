"""The configuration: one TOML file, every key overridable by GWMON_<SECTION>__<KEY>.

The spine's sections ([mqtt], [influxdb], [registry], [ingest], [ops]) are validated by
`load_config`; every other table belongs to a stage that registered it
(`gwmon.config.ConfigSection`, entry points `gwmon.config_sections`) and is validated,
once, when that stage asks for it (`GwmonConfig.section`); `gwmon run` asks for all it
uses at start-up. An unknown table, key or value stops start-up with a message naming
the file (or environment variable), the key and the fix.
"""

from __future__ import annotations

import os
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from gwmon.config import (
    CONFIG_ENV_VAR,
    ConfigError,
    ConfigProblem,
    ConfigSection,
    Section,
    config_error,
    environment_overlay,
    merge_tables,
    read_secret_file,
    registered_section_names,
    validate_section,
)
from gwmon.config._sections import UNKNOWN_KEY
from gwmon.ingest._example import INGEST_EXAMPLE, MQTT_EXAMPLE, OPS_EXAMPLE, REGISTRY_EXAMPLE
from gwmon.ingest._registry import Registry, load_registry
from gwmon.storage import INFLUXDB_SECTION, InfluxSettings

SectionModel = TypeVar("SectionModel", bound=BaseModel)


def _read_secret_file(path: Path | None, key: str) -> SecretStr | None:
    return None if path is None else read_secret_file(path, key)


class MqttSettings(Section):
    """Broker connection and subscription of the ingest."""

    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    client_id: str = "gwmon-ingest"
    shared_group: str | None = None
    qos: Literal[0, 1] = 1
    session_expiry_s: Annotated[int, Field(ge=0, le=4_294_967_295)] = 7 * 24 * 3600
    keepalive_s: Annotated[int, Field(ge=5, le=65_535)] = 30
    receive_maximum: Annotated[int, Field(ge=1, le=65_535)] = 10_000
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    topic_prefix: str = ""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts"):
            msg = "must start with mqtt:// or mqtts:// (e.g. mqtts://broker.example:8883)"
            raise ValueError(msg)
        if not parts.hostname:
            msg = "has no host (e.g. mqtt://127.0.0.1:1883)"
            raise ValueError(msg)
        try:
            _ = parts.port
        except ValueError:
            msg = "has an invalid port (use a number 1-65535)"
            raise ValueError(msg) from None
        if parts.username or parts.password:
            msg = "must not carry credentials; use mqtt.username and mqtt.password(_file)"
            raise ValueError(msg)
        return value

    @field_validator("shared_group")
    @classmethod
    def _check_group(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "/+#")):
            msg = "must be a non-empty name without '/', '+' or '#'"
            raise ValueError(msg)
        return value or None

    @field_validator("client_id")
    @classmethod
    def _check_client_id(cls, value: str) -> str:
        if not value or len(value) > 128:
            msg = "must be 1-128 characters; it names the persistent session on the broker"
            raise ValueError(msg)
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if value and (value.endswith("/") or any(c in value for c in "+#")):
            msg = "must not end with '/' or contain '+' or '#' (e.g. 'utility-a')"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _check_secrets(self) -> MqttSettings:
        if self.password is not None and self.password_file is not None:
            msg = "set either password or password_file, not both"
            raise ValueError(msg)
        if (self.cert_file is None) != (self.key_file is None):
            msg = "cert_file and key_file go together (client certificate authentication)"
            raise ValueError(msg)
        return self

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)

    def resolved_password(self) -> SecretStr | None:
        return self.password or _read_secret_file(self.password_file, "mqtt.password_file")

    def tls_context(self) -> ssl.SSLContext:
        """The TLS context of a connection to this broker: certificates verified against
        `ca_file` (or the system's), the client certificate when one is configured."""
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file and self.key_file:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


class RegistrySettings(Section):
    """Where the probe registry (master data CSV) and the well geometry file live."""

    path: Path = Path("registry.csv")
    geometry_path: Path | None = None


class IngestSettings(Section):
    """Validation limits of the ingest."""

    max_payload_bytes: Annotated[int, Field(ge=256, le=1_048_576)] = 65_536
    future_margin_s: Annotated[float, Field(ge=0, le=86_400)] = 300.0
    rejected_payload_max_chars: Annotated[int, Field(ge=64, le=65_536)] = 2_048
    stats_interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0


class OpsSettings(Section):
    """Where `gwmon run` serves /metrics and /healthz, and the broker queue it watches."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65_535)] = 9746
    broker_queue_limit: Annotated[int, Field(ge=0)] = 1_000_000
    queue_warning_fraction: Annotated[float, Field(gt=0, le=1)] = 0.8


MQTT_SECTION = ConfigSection("mqtt", MqttSettings, MQTT_EXAMPLE)
REGISTRY_SECTION = ConfigSection("registry", RegistrySettings, REGISTRY_EXAMPLE)
INGEST_SECTION = ConfigSection("ingest", IngestSettings, INGEST_EXAMPLE)
OPS_SECTION = ConfigSection("ops", OpsSettings, OPS_EXAMPLE)
SPINE_SECTIONS: tuple[ConfigSection[Any], ...] = (
    MQTT_SECTION,
    INFLUXDB_SECTION,
    REGISTRY_SECTION,
    INGEST_SECTION,
    OPS_SECTION,
)


@dataclass(frozen=True)
class GwmonConfig:
    """The validated spine sections, the stages' tables, and where they came from."""

    mqtt: MqttSettings
    influxdb: InfluxSettings
    registry: RegistrySettings
    ingest: IngestSettings
    ops: OpsSettings
    source: str
    base_dir: Path
    # Raw stage tables (file + environment); may hold secrets, so never in repr.
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    env_keys: frozenset[str] = field(default=frozenset(), repr=False)
    _validated: dict[str, BaseModel] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def registry_path(self) -> Path:
        return self.registry.path

    @property
    def geometry_path(self) -> Path | None:
        """The well geometry file (docs/registry.md), None when there is none."""
        return self.registry.geometry_path

    def has_section(self, name: str) -> bool:
        """Whether the file or the environment gives the table `name` at all."""
        return name in self.tables

    def section(self, spec: ConfigSection[SectionModel]) -> SectionModel:
        """A stage's section, validated on first use and kept (so validated once)."""
        known = self._validated.get(spec.name)
        if known is None:
            known = validate_section(
                spec, self.tables.get(spec.name, {}), source=self.source, env_keys=self.env_keys
            )
            self._validated[spec.name] = known
        if not isinstance(known, spec.model):
            msg = f"section [{spec.name}] was validated as {type(known).__name__}"
            raise TypeError(msg)
        return known


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        msg = f"{path}: config file not found; create one with `gwmon config example > {path}`"
        raise ConfigError(msg, source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise ConfigError(msg, source=str(path)) from None
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 (byte {exc.start}); save the file as UTF-8"
        raise ConfigError(msg, source=str(path)) from None
    except OSError as exc:
        msg = f"{path}: cannot read the config file: {exc.strerror}"
        raise ConfigError(msg, source=str(path)) from None


def load_config(path: Path | None = None) -> GwmonConfig:
    """Read, merge and validate the configuration.

    `path` defaults to $GWMON_CONFIG; without either, defaults plus environment apply.
    Relative paths inside the file are relative to the file's folder.
    """
    env = os.environ
    if path is None and env.get(CONFIG_ENV_VAR):
        path = Path(env[CONFIG_ENV_VAR])
    source = "defaults and environment (no config file)" if path is None else str(path)
    base_dir = Path.cwd() if path is None else path.resolve().parent
    overlay, env_keys = environment_overlay(env)
    data = merge_tables({} if path is None else _read_file(path), overlay)
    spine = {spec.name for spec in SPINE_SECTIONS}
    known = spine | registered_section_names()
    problems = [ConfigProblem(source, name, UNKNOWN_KEY) for name in sorted(set(data) - known)]
    problems += [
        ConfigProblem(source, name, "must be a table ([name] with keys under it)")
        for name in sorted(known & set(data))
        if not isinstance(data[name], dict)
    ]
    if problems:
        raise config_error(problems, source=source)
    validated: dict[str, Any] = {}
    for spec in SPINE_SECTIONS:
        try:
            validated[spec.name] = validate_section(
                spec, data.get(spec.name, {}), source=source, env_keys=env_keys
            )
        except ConfigError as exc:
            problems += [p for p in exc.problems if isinstance(p, ConfigProblem)]
    if problems:
        raise config_error(problems, source=source)
    registry: RegistrySettings = validated["registry"]
    geometry = registry.geometry_path
    registry = RegistrySettings(
        path=registry.path if registry.path.is_absolute() else base_dir / registry.path,
        geometry_path=None
        if geometry is None
        else geometry
        if geometry.is_absolute()
        else base_dir / geometry,
    )
    mqtt: MqttSettings = validated["mqtt"]
    influx: InfluxSettings = validated["influxdb"]
    try:
        # Read secret files now so a missing file stops start-up, not the first write.
        mqtt.resolved_password()
        influx.resolved_password()
        influx.resolved_token()
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}", source=source) from None
    return GwmonConfig(
        mqtt=mqtt,
        influxdb=influx,
        registry=registry,
        ingest=validated["ingest"],
        ops=validated["ops"],
        source=source,
        base_dir=base_dir,
        tables={name: data[name] for name in data if name not in spine},
        env_keys=frozenset(env_keys),
    )


def load_configured_registry(config: GwmonConfig) -> Registry:
    """The registry of `config` with its well geometry file, if one is configured."""
    return load_registry(config.registry_path, config.geometry_path)
