"""The `[mail]` section: transport, SMTP, content, acknowledgement endpoint, outbox, routing.

Validated at start-up (`build_mail_service`) and by `gwmon config check` (`check_config`),
so a missing route is found before the first alert, not at 3 a.m.
"""

from __future__ import annotations

import email.utils
import re
from email.errors import HeaderParseError
from email.headerregistry import Address
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from gwmon.analytics import AlertKind
from gwmon.config import ConfigError, ConfigProblem, ConfigSection, read_secret_file
from gwmon.ingest import GwmonConfig, Registry

SECTION = "mail"
TOKEN_KEY_FILE = "ack-token.key"  # noqa: S105 - a file name, not a secret


def check_address(value: str) -> str:
    """Return the address if it is a plain RFC 5322 addr-spec (local@domain), else raise."""
    try:
        address = Address(addr_spec=value.strip())
    except (HeaderParseError, ValueError, IndexError) as exc:
        msg = f"{value!r} is not an e-mail address ({exc}); write it as name@domain"
        raise ValueError(msg) from None
    if not address.username or "." not in address.domain:
        msg = f"{value!r} is not an e-mail address; write it as name@domain.tld"
        raise ValueError(msg)
    return address.addr_spec


class Route(BaseModel):
    """Where a municipality's water-quality alerts go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stabsstelle: Annotated[str, Field(min_length=1, max_length=200)]
    recipients: Annotated[list[str], Field(min_length=1)]

    @field_validator("recipients")
    @classmethod
    def _check_recipients(cls, value: list[str]) -> list[str]:
        return [check_address(item) for item in value]


class MailSettings(BaseModel):
    """The `[mail]` section. See EXAMPLE_TOML and docs/alerts-mail.md for every key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    transport: Literal["smtp", "maildir"] = "smtp"
    maildir: Path = Path("mail/maildir")
    from_address: str = "gwmon <gwmon@localhost.invalid>"
    language: Literal["de", "en"] = "de"

    smtp_host: str = "127.0.0.1"
    smtp_port: Annotated[int, Field(ge=1, le=65_535)] | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_password_file: Path | None = None
    smtp_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    smtp_ca_file: Path | None = None

    ack_bind_host: str = "127.0.0.1"
    ack_bind_port: Annotated[int, Field(ge=0, le=65_535)] = 8089
    ack_public_url: str | None = None
    token_secret: SecretStr | None = None
    token_secret_file: Path | None = None
    token_lifetime_s: Annotated[int, Field(ge=300, le=90 * 86_400)] = 14 * 86_400

    outbox_dir: Path = Path("mail/outbox")
    retry_initial_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    retry_max_s: Annotated[float, Field(gt=0, le=86_400)] = 600.0
    reminder_interval_s: Annotated[float, Field(ge=0, le=30 * 86_400)] = 86_400.0
    reminder_kinds: list[AlertKind] = Field(default_factory=lambda: [AlertKind.BREACH])
    digest_window_s: Annotated[float, Field(ge=0, le=86_400)] = 300.0
    rate_limit_per_hour: Annotated[int, Field(ge=1, le=1000)] = 12
    chart_days: Annotated[int, Field(ge=1, le=365)] = 14
    late_after_s: Annotated[float, Field(ge=0)] = 900.0
    keep_sent_days: Annotated[int, Field(ge=1, le=3650)] = 90

    operators: list[str] = Field(default_factory=list)
    maintenance: list[str] = Field(default_factory=list)
    routes: dict[str, Route] = Field(default_factory=dict)

    @field_validator("operators", "maintenance")
    @classmethod
    def _check_list(cls, value: list[str]) -> list[str]:
        return [check_address(item) for item in value]

    @field_validator("from_address")
    @classmethod
    def _check_from(cls, value: str) -> str:
        _, addr = email.utils.parseaddr(value)
        check_address(addr)
        return value

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: object) -> object:
        if isinstance(data, dict) and "grafana_url" in data:
            msg = (
                "grafana_url moved to [dashboards] grafana_url: one Grafana address for the "
                "dashboards and the links in alert mails; move the line there"
            )
            raise ValueError(msg)
        return data

    @field_validator("ack_public_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            msg = "must be an http(s):// URL (e.g. https://grafana.example.org)"
            raise ValueError(msg)
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_combinations(self) -> MailSettings:
        if self.smtp_password is not None and self.smtp_password_file is not None:
            msg = "set either smtp_password or smtp_password_file, not both"
            raise ValueError(msg)
        if self.token_secret is not None and self.token_secret_file is not None:
            msg = "set either token_secret or token_secret_file, not both"
            raise ValueError(msg)
        has_password = self.smtp_password is not None or self.smtp_password_file is not None
        if has_password and not self.smtp_username:
            msg = "smtp_password(_file) needs smtp_username"
            raise ValueError(msg)
        if has_password and self.smtp_security == "none":
            msg = (
                "refusing to send the SMTP password unencrypted: use smtp_security starttls or tls"
            )
            raise ValueError(msg)
        if self.retry_max_s < self.retry_initial_s:
            msg = "retry_max_s must be >= retry_initial_s"
            raise ValueError(msg)
        return self

    @property
    def from_addr_spec(self) -> str:
        return email.utils.parseaddr(self.from_address)[1]

    @property
    def port(self) -> int:
        if self.smtp_port is not None:
            return self.smtp_port
        return {"starttls": 587, "tls": 465, "none": 25}[self.smtp_security]

    def resolved_password(self) -> SecretStr | None:
        if self.smtp_password_file is not None:
            return read_secret_file(self.smtp_password_file, "mail.smtp_password_file")
        return self.smtp_password

    def with_base_dir(self, base_dir: Path) -> MailSettings:
        """Relative paths in the file are relative to the config file's folder."""

        def fix(path: Path | None) -> Path | None:
            if path is None or path.is_absolute():
                return path
            return base_dir / path

        return self.model_copy(
            update={
                "maildir": fix(self.maildir),
                "outbox_dir": fix(self.outbox_dir),
                "smtp_password_file": fix(self.smtp_password_file),
                "smtp_ca_file": fix(self.smtp_ca_file),
                "token_secret_file": fix(self.token_secret_file),
            }
        )


def load_settings(config: GwmonConfig) -> MailSettings:
    """The validated [mail] section with paths resolved. Raises ConfigError."""
    settings = config.section(CONFIG_SECTION)
    return settings.with_base_dir(config.base_dir)


def check_config(config: GwmonConfig, registry: Registry) -> list[str]:
    """Problems of [mail] relative to the registry; each names file, key and fix."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        return [str(exc)]
    if not settings.enabled:
        return []
    problems = _route_problems(settings, registry)
    if not settings.operators:
        problems.append(
            (
                "mail.operators",
                "empty; water-quality alerts must also reach the "
                "waterworks operators: add their address(es)",
            )
        )
    if not settings.maintenance:
        problems.append(
            (
                "mail.maintenance",
                "empty; sensor faults and stale probes go only "
                "there: add the maintenance address(es)",
            )
        )
    for key, path in (
        ("smtp_password_file", settings.smtp_password_file),
        ("token_secret_file", settings.token_secret_file),
        ("smtp_ca_file", settings.smtp_ca_file),
    ):
        if path is not None and not path.is_file():
            problems.append((f"mail.{key}", f"{path} is not a readable file"))
    local = settings.smtp_host in ("127.0.0.1", "::1", "localhost")
    if settings.transport == "smtp" and settings.smtp_security == "none" and not local:
        problems.append(
            (
                "mail.smtp_security",
                "'none' sends alert mails unencrypted; "
                "use starttls or tls (none is accepted only for a relay on this host)",
            )
        )
    return [str(ConfigProblem(config.source, key, text)) for key, text in problems]


def _route_problems(settings: MailSettings, registry: Registry) -> list[tuple[str, str]]:
    """(key, problem) for municipalities without a route and routes without a municipality."""
    problems: list[tuple[str, str]] = []
    municipalities = sorted({probe.municipality for probe in registry})
    for name in municipalities:
        if name not in settings.routes:
            problems.append(
                (
                    "mail.routes",
                    f"no route for municipality '{name}' of the registry "
                    f"{registry.path}; add a [mail.routes.{_toml_key(name)}] table with "
                    "stabsstelle and recipients",
                )
            )
    for name in sorted(settings.routes):
        if name not in municipalities:
            problems.append(
                (
                    f"mail.routes.{_toml_key(name)}",
                    f"unknown municipality '{name}' "
                    f"(the registry {registry.path} has {', '.join(municipalities)}); fix the "
                    "spelling or remove the table",
                )
            )
    return problems


def _toml_key(name: str) -> str:
    """A TOML key as written in a table header: bare if it may be, else quoted."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


EXAMPLE_TOML = """\
# Alert e-mail to the Stabsstellen (see docs/alerts-mail.md).
[mail]
enabled = false                 # true: `gwmon run` mails alerts
transport = "smtp"              # "smtp", or "maildir" (writes messages to a local maildir)
maildir = "mail/maildir"        # transport = "maildir": where messages go (relative to this file)
from_address = "gwmon Grundwasser <gwmon@wasserwerke.example.org>"
language = "de"                 # "de" or "en"
# Links to the probe dashboard go to [dashboards] grafana_url.

# SMTP submission. Certificates and host names are always verified.
smtp_host = "127.0.0.1"
# smtp_port = 587               # default: 587 starttls, 465 tls, 25 none
smtp_security = "starttls"      # "starttls", "tls" (implicit, port 465), "none" (local relay)
# smtp_username = "gwmon"
# smtp_password_file = "/etc/gwmon/smtp-password"
# (or smtp_password, e.g. from the environment: GWMON_MAIL__SMTP_PASSWORD)
smtp_timeout_s = 30.0
# smtp_ca_file = "/etc/gwmon/mail-ca.pem"           # default: the system's CA certificates

# Acknowledgement links: a small HTTP endpoint inside `gwmon run`.
ack_bind_host = "127.0.0.1"
ack_bind_port = 8089            # 0: any free port
# ack_public_url = "https://gwmon.example.org"      # how recipients reach it (a reverse proxy);
                                                    # default http://<ack_bind_host>:<port>
# token_secret_file = "/etc/gwmon/ack-token.key"    # or token_secret; default: a random key
                                                    # kept in <outbox_dir>/ack-token.key
token_lifetime_s = 1209600      # links expire after 14 days

# Durable outbox: every mail stays here until the SMTP server accepted it.
outbox_dir = "mail/outbox"
retry_initial_s = 10.0          # backoff while SMTP is down: 10 s, 20 s, ... up to retry_max_s
retry_max_s = 600.0
reminder_interval_s = 86400.0   # remind while an open breach is unacknowledged; 0: never
reminder_kinds = ["breach"]
digest_window_s = 300.0         # more alerts for one Stabsstelle within this: one digest mail
rate_limit_per_hour = 12        # mails per recipient and hour; more wait and go out as a digest
chart_days = 14                 # days of data in the chart
late_after_s = 900.0            # show the arrival time when data arrived later than this
keep_sent_days = 90             # how long the outbox remembers sent mails (idempotency)

# Water-quality alerts (breach, warning, trend, level) go to the municipality's Stabsstelle
# and to the operators; sensor faults and stale probes only to maintenance.
operators = ["leitwarte@wasserwerke.example.org"]
maintenance = ["messnetz-instandhaltung@wasserwerke.example.org"]

[mail.routes.Leipzig]
stabsstelle = "Stabsstelle Umwelt und Wasser, Stadt Leipzig"
recipients = ["stabsstelle.umwelt@leipzig.example.org"]

[mail.routes.Wurzen]
stabsstelle = "Stabsstelle Wurzener Land (Wurzen)"
recipients = ["stabsstelle@wurzen.example.org"]

[mail.routes.Bennewitz]
stabsstelle = "Stabsstelle Wurzener Land (Bennewitz)"
recipients = ["ordnungsamt@bennewitz.example.invalid"]

[mail.routes.Thallwitz]
stabsstelle = "Stabsstelle Wurzener Land (Thallwitz)"
recipients = ["gemeinde@thallwitz.example.invalid"]

[mail.routes.Lossatal]
stabsstelle = "Stabsstelle Wurzener Land (Lossatal)"
recipients = ["gemeinde@lossatal.example.invalid"]
"""


CONFIG_SECTION = ConfigSection(SECTION, MailSettings, EXAMPLE_TOML)
