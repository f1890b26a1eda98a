"""The [influxdb] section: how gwmon reaches InfluxDB's v1-compatible HTTP API."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from gwmon.config import ConfigSection, Section, read_secret_file


def _read_secret_file(path: Path | None, key: str) -> SecretStr | None:
    return None if path is None else read_secret_file(path, key)


class InfluxSettings(Section):
    """InfluxDB, reached through its v1-compatible HTTP API (/write, /query)."""

    url: str = "http://127.0.0.1:8086"
    database: str = "gwmon"
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    token: SecretStr | None = None
    token_file: Path | None = None
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 5_000
    flush_interval_s: Annotated[float, Field(gt=0, le=60)] = 0.2
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    gzip: bool | Literal["auto"] = "auto"
    max_retry_interval_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    ca_file: Path | None = None
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = "must be http(s)://host:port (e.g. http://127.0.0.1:8086)"
            raise ValueError(msg)
        return value.rstrip("/")

    @field_validator("database")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if not value or '"' in value or "\n" in value:
            msg = "must be a non-empty name without quotes (e.g. gwmon)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _check_secrets(self) -> InfluxSettings:
        given = [
            name
            for name in ("password", "password_file", "token", "token_file")
            if getattr(self, name) is not None
        ]
        if len(given) > 1:
            msg = f"set only one of password, password_file, token, token_file (got {given})"
            raise ValueError(msg)
        return self

    @property
    def compress(self) -> bool:
        """Whether writes are gzip-compressed: `gzip`, or with "auto" unless InfluxDB is
        on this machine (a loopback address), where compressing costs more CPU than
        sending the bytes (docs/performance.md)."""
        if self.gzip != "auto":
            return self.gzip
        host = urlsplit(self.url).hostname or ""
        if host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True  # a host name: assume it is elsewhere

    def resolved_password(self) -> SecretStr | None:
        return self.password or _read_secret_file(self.password_file, "influxdb.password_file")

    def resolved_token(self) -> SecretStr | None:
        return self.token or _read_secret_file(self.token_file, "influxdb.token_file")


INFLUXDB_EXAMPLE = """\
[influxdb]
# InfluxDB v1-compatible HTTP API (InfluxDB 1.x, 2.x with DBRP mapping, 3.x).
url = "http://127.0.0.1:8086"
database = "gwmon"
# retention_policy = "autogen"
# username = "gwmon"                        # InfluxDB 1.x authentication
# password_file = "/etc/gwmon/influx-password"
# token_file = "/etc/gwmon/influx-token"   # InfluxDB 2.x/3.x (or GWMON_INFLUXDB__TOKEN)
# Lines per write; a batch is also written once its oldest line waited
# flush_interval_s (the longest a reading waits to be written: latency), or
# once no message came for a tenth of it (the end of a burst).
batch_size = 5000
flush_interval_s = 0.2
timeout_s = 10.0
# Compress writes: true, false, or "auto" (compress unless InfluxDB is on this machine).
gzip = "auto"
# Longest wait between retries while InfluxDB is down (messages stay at the broker).
max_retry_interval_s = 30.0
# ca_file = "/etc/gwmon/influx-ca.pem"
verify_tls = true
"""

INFLUXDB_SECTION = ConfigSection("influxdb", InfluxSettings, INFLUXDB_EXAMPLE)
