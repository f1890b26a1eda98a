"""[mail] settings, `check_config`, the example, the maildir demo path, ack tokens."""

from __future__ import annotations

import email
import email.policy
import mailbox
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwmon.analytics.mail import (
    EXAMPLE_TOML,
    MailSettings,
    build_mail_service,
    check_config,
    load_settings,
)
from gwmon.analytics.mail._token import AckClaims, TokenError, make_token, verify_token
from gwmon.config import ConfigError
from gwmon.dashboards import CONFIG_SECTION as DASHBOARDS_SECTION
from gwmon.ingest import load_config, load_registry
from gwmon.storage import InfluxClient
from mail.mail_helpers import MailRig, RigFactory, make_alert, opened


def write_config(tmp_path: Path, demo_registry: Path, mail: str) -> Path:
    path = tmp_path / "gwmon.toml"
    path.write_text(f'[registry]\npath = "{demo_registry}"\n\n{mail}', encoding="utf-8")
    return path


def test_example_is_valid_toml_and_routes_every_demo_municipality(
    tmp_path: Path, demo_registry: Path
) -> None:
    data = tomllib.loads(EXAMPLE_TOML)
    assert sorted(data["mail"]["routes"]) == [
        "Bennewitz",
        "Leipzig",
        "Lossatal",
        "Thallwitz",
        "Wurzen",
    ]
    settings = MailSettings.model_validate(data["mail"])
    assert settings.language == "de"
    assert settings.enabled is False
    # Every address is an obviously fake one.
    addresses = settings.operators + settings.maintenance
    addresses += [a for route in settings.routes.values() for a in route.recipients]
    assert all(a.endswith((".example.org", ".invalid")) for a in addresses), addresses
    enabled = EXAMPLE_TOML.replace("enabled = false", "enabled = true")
    config = load_config(write_config(tmp_path, demo_registry, enabled))
    assert check_config(config, load_registry(config.registry_path)) == []


def test_defaults_match_the_example() -> None:
    from_example = MailSettings.model_validate(tomllib.loads(EXAMPLE_TOML)["mail"])
    defaults = MailSettings()
    for key in (
        "transport",
        "language",
        "smtp_security",
        "smtp_timeout_s",
        "ack_bind_port",
        "token_lifetime_s",
        "retry_initial_s",
        "retry_max_s",
        "reminder_interval_s",
        "reminder_kinds",
        "digest_window_s",
        "rate_limit_per_hour",
        "chart_days",
        "late_after_s",
        "keep_sent_days",
        "outbox_dir",
        "maildir",
    ):
        assert getattr(from_example, key) == getattr(defaults, key), key


def test_missing_and_unknown_routes_are_named(tmp_path: Path, demo_registry: Path) -> None:
    text = EXAMPLE_TOML.replace("enabled = false", "enabled = true")
    text = text.replace("[mail.routes.Lossatal]", "[mail.routes.Lossatall]")
    path = write_config(tmp_path, demo_registry, text)
    config = load_config(path)
    registry = load_registry(config.registry_path)
    problems = check_config(config, registry)
    assert problems == [
        f"{path}: key 'mail.routes': no route for municipality 'Lossatal' of the registry "
        f"{demo_registry}; add a [mail.routes.Lossatal] table with stabsstelle and recipients",
        f"{path}: key 'mail.routes.Lossatall': unknown municipality 'Lossatall' (the registry "
        f"{demo_registry} has Bennewitz, Leipzig, Lossatal, Thallwitz, Wurzen); fix the spelling "
        "or remove the table",
    ]
    with pytest.raises(ConfigError, match="no route for municipality 'Lossatal'"):
        build_mail_service(config, registry, InfluxClient(config.influxdb), object())  # type: ignore[arg-type]


def test_disabled_mail_needs_no_routes(tmp_path: Path, demo_registry: Path) -> None:
    config = load_config(write_config(tmp_path, demo_registry, ""))
    assert check_config(config, load_registry(config.registry_path)) == []


@pytest.mark.parametrize(
    ("mail", "message"),
    [
        ('language = "fr"', "key 'mail.language': Input should be 'de' or 'en'"),
        ('operators = ["leitwarte"]', "key 'mail.operators': 'leitwarte' is not an e-mail address"),
        (
            'smtp_username = "u"\nsmtp_password = "p"\nsmtp_password_file = "f"',
            "either smtp_password or smtp_password_file",
        ),
        ('smtp_password = "p"', "smtp_password(_file) needs smtp_username"),
        (
            'smtp_username = "u"\nsmtp_password = "p"\nsmtp_security = "none"',
            "refusing to send the SMTP password unencrypted",
        ),
        ('grafana_url = "grafana:3000"', "grafana_url moved to [dashboards] grafana_url"),
        ("smtp_port = 0", "key 'mail.smtp_port'"),
        (
            'routes.Leipzig = { stabsstelle = "S", recipients = [] }',
            "key 'mail.routes.Leipzig.recipients'",
        ),
        ('reminder_kinds = ["nitrate"]', "key 'mail.reminder_kinds.0'"),
        ('colour = "red"', "key 'mail.colour': unknown key"),
    ],
)
def test_bad_settings_name_the_key(
    tmp_path: Path, demo_registry: Path, mail: str, message: str
) -> None:
    config = load_config(write_config(tmp_path, demo_registry, f"[mail]\n{mail}\n"))
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert message in str(info.value)
    assert '"p"' not in str(info.value)


def test_secret_never_in_repr(tmp_path: Path, demo_registry: Path) -> None:
    config = load_config(
        write_config(
            tmp_path,
            demo_registry,
            '[mail]\nsmtp_username = "u"\nsmtp_password = "hunter2-secret"\n',
        )
    )
    settings = load_settings(config)
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings.model_dump())


def test_maildir_transport_for_the_demo(mail_rig: RigFactory) -> None:
    rig: MailRig = mail_rig(transport="maildir")
    service = rig.build()
    service.alert_event(opened(make_alert(rig.registry)))
    service.run_once()
    box = mailbox.Maildir(rig.workdir / "maildir", create=False)
    assert sorted(str(message["To"]) for message in box) == [
        "leitwarte@wasserwerke.example.org",
        "stabsstelle@leipzig.example.org, bereitschaft@leipzig.example.org",
    ]
    new = sorted((rig.workdir / "maildir" / "new").iterdir())
    assert len(new) == 2
    for path in new:
        with path.open("rb") as handle:
            message = email.message_from_binary_file(handle, policy=email.policy.default)
        assert message["Subject"] == (
            "[gwmon] SCHWELLENWERT ÜBERSCHRITTEN Nitrat 54,2 mg/L – Messstelle LE-07 (Leipzig-Probstheida)"
        )


def test_generated_token_secret_is_kept_private(mail_rig: RigFactory) -> None:
    rig: MailRig = mail_rig(extra="")
    text = rig.config_file.read_text().replace('token_secret = "test-token-secret"\n', "")
    rig.config_file.write_text(text)
    rig.build()
    key = rig.workdir / "outbox" / "ack-token.key"
    assert key.stat().st_mode & 0o777 == 0o600
    first = key.read_text()
    rig.build()
    assert key.read_text() == first and len(first) == 64


SECRET = b"k" * 32


@given(
    alert_id=st.text(min_size=1, max_size=80),
    audience=st.text(max_size=80),
    expires=st.integers(0, 2**40),
)
def test_token_round_trip(alert_id: str, audience: str, expires: int) -> None:
    claims = AckClaims(alert_id, audience, expires)
    token = make_token(SECRET, claims)
    assert token.isascii() and " " not in token
    assert verify_token(SECRET, token, expires) == claims
    with pytest.raises(TokenError) as info:
        verify_token(SECRET, token, expires + 1)
    assert info.value.reason == "expired"
    with pytest.raises(TokenError) as info:
        verify_token(b"other" * 8, token, expires)
    assert info.value.reason == "invalid"


@given(st.text(max_size=200))
def test_any_garbage_token_is_invalid_not_a_crash(garbage: str) -> None:
    with pytest.raises(TokenError) as info:
        verify_token(SECRET, garbage, 0)
    assert info.value.reason == "invalid"


def test_password_from_environment_merges_with_the_file(
    tmp_path: Path, demo_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, demo_registry, '[mail]\nsmtp_username = "gwmon"\n')
    monkeypatch.setenv("GWMON_MAIL__SMTP_PASSWORD", "from-env-secret")
    settings = load_settings(load_config(path))
    assert settings.smtp_username == "gwmon"
    password = settings.resolved_password()
    assert password is not None and password.get_secret_value() == "from-env-secret"


def test_mail_links_use_the_one_grafana_address_of_the_dashboards_section(
    tmp_path: Path, demo_registry: Path
) -> None:
    text = '[dashboards]\ngrafana_url = "grafana:3000"\n'
    config = load_config(write_config(tmp_path, demo_registry, text))
    with pytest.raises(ConfigError, match=r"key 'dashboards\.grafana_url': must be an http"):
        config.section(DASHBOARDS_SECTION)
    text = '[dashboards]\ngrafana_url = "https://grafana.example.org/"\n'
    config = load_config(write_config(tmp_path, demo_registry, text))
    settings = config.section(DASHBOARDS_SECTION)
    assert settings.probe_dashboard_url("LE-07") == (
        "https://grafana.example.org/d/gwmon-probe?var-probe=LE-07"
    )
