"""gwmon's one configuration model: a TOML file, overridable by GWMON_<SECTION>__<KEY>.

Everything is validated at start-up (`load_config`), so a typo stops the service with a
message naming the file, the key and the fix instead of failing at 3 a.m. on first use.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gwmon.config import ConfigError, read_secret_file
from gwmon.storage import InfluxSettings

ENV_PREFIX = "GWMON_"
SectionModel = TypeVar("SectionModel", bound=BaseModel)
CONFIG_ENV_VAR = "GWMON_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _read_secret_file(path: Path | None, key: str) -> SecretStr | None:
    return None if path is None else read_secret_file(path, key)


class MqttSettings(_Section):
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


class RegistrySettings(_Section):
    """Where the probe registry (master data CSV) lives."""

    path: Path = Path("registry.csv")


class IngestSettings(_Section):
    """Validation limits of the ingest."""

    max_payload_bytes: Annotated[int, Field(ge=256, le=1_048_576)] = 65_536
    future_margin_s: Annotated[float, Field(ge=0, le=86_400)] = 300.0
    rejected_payload_max_chars: Annotated[int, Field(ge=64, le=65_536)] = 2_048
    stats_interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0


class _SettingsModel(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    mqtt: MqttSettings = MqttSettings()
    influxdb: InfluxSettings = InfluxSettings()
    registry: RegistrySettings = RegistrySettings()
    ingest: IngestSettings = IngestSettings()
    # Sections owned by later stages; each stage validates its own through `section()`.
    analytics: dict[str, Any] = Field(default_factory=dict)
    mail: dict[str, Any] = Field(default_factory=dict)
    dashboards: dict[str, Any] = Field(default_factory=dict)
    sim: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file: the file is passed as init data.
        return (env_settings, init_settings)


class GwmonConfig(BaseModel):
    """The validated configuration plus where it came from."""

    model_config = ConfigDict(frozen=True)

    mqtt: MqttSettings
    influxdb: InfluxSettings
    registry: RegistrySettings
    ingest: IngestSettings
    source: str
    base_dir: Path
    extra_sections: Mapping[str, Any] = Field(default_factory=dict)

    @property
    def registry_path(self) -> Path:
        return self.registry.path


def _describe_error(err: Mapping[str, Any], source: str, environ: Mapping[str, str]) -> str:
    loc = [str(part) for part in err.get("loc", ()) if part not in ("function-after",)]
    key = ".".join(loc) if loc else "(top level)"
    env_name = ENV_PREFIX + "__".join(part.upper() for part in loc)
    where = f"environment variable {env_name}" if env_name in environ else source
    reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        reason = "unknown key; check the spelling against `gwmon config example`"
    return f"{where}: key '{key}': {reason}"


def load_config(path: Path | None = None) -> GwmonConfig:
    """Read, merge and validate the configuration.

    `path` defaults to $GWMON_CONFIG; without either, defaults plus environment apply.
    Relative paths inside the file are relative to the file's folder.
    """
    env = os.environ
    if path is None and env.get(CONFIG_ENV_VAR):
        path = Path(env[CONFIG_ENV_VAR])
    data: dict[str, Any] = {}
    source = "defaults and environment (no config file)"
    base_dir = Path.cwd()
    if path is not None:
        source = str(path)
        base_dir = path.resolve().parent
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            msg = f"{path}: config file not found; create one with `gwmon config example > {path}`"
            raise ConfigError(msg, source=source) from None
        except tomllib.TOMLDecodeError as exc:
            msg = f"{path}: not valid TOML: {exc}"
            raise ConfigError(msg, source=source) from None
    try:
        settings = _SettingsModel(**data)
    except ValidationError as exc:
        lines = [_describe_error(err, source, env) for err in exc.errors()]
        raise ConfigError(
            "invalid configuration:\n  " + "\n  ".join(lines), source=source
        ) from None
    registry = settings.registry
    if not registry.path.is_absolute():
        registry = RegistrySettings(path=base_dir / registry.path)
    mqtt = settings.mqtt
    influx = settings.influxdb
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
        ingest=settings.ingest,
        source=source,
        base_dir=base_dir,
        extra_sections={
            "analytics": settings.analytics,
            "mail": settings.mail,
            "dashboards": settings.dashboards,
            "sim": settings.sim,
        },
    )


def section(config: GwmonConfig, name: str, model: type[SectionModel]) -> SectionModel:
    """Validate a stage-owned section (e.g. [mail]) with that stage's model."""
    raw = config.extra_sections.get(name, {})
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in (name, *err["loc"]))
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                reason = "unknown key; check the spelling against `gwmon config example`"
            lines.append(f"{config.source}: key '{loc}': {reason}")
        raise ConfigError(
            "invalid configuration:\n  " + "\n  ".join(lines), source=config.source, key=name
        ) from None
