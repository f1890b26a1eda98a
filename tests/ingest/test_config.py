"""Configuration: one model, validated at start, errors naming file, key and fix."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gwmon.cli import STAGE_SECTIONS, example_toml
from gwmon.config import ConfigError, registered_sections
from gwmon.ingest import load_config
from gwmon.ingest._config import IngestSettings, MqttSettings, OpsSettings
from gwmon.storage import InfluxSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


def gwmon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gwmon.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_example_is_valid_toml_and_its_values_are_the_real_defaults() -> None:
    example = tomllib.loads(example_toml())
    for name, model in (
        ("mqtt", MqttSettings),
        ("influxdb", InfluxSettings),
        ("ingest", IngestSettings),
        ("ops", OpsSettings),
    ):
        defaults = model().model_dump()
        for key, value in example[name].items():
            assert defaults[key] == value, (
                f"[{name}] {key}: example {value!r} != default {defaults[key]!r}"
            )


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "gwmon.toml"
    path.write_text('[mqtt]\nurl = "mqtt://10.0.0.1:1883"\n[influxdb]\nbatch_size = 100\n')
    monkeypatch.setenv("GWMON_MQTT__URL", "mqtts://broker.example:8884")
    monkeypatch.setenv("GWMON_INFLUXDB__DATABASE", "wells")
    config = load_config(path)
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.tls) == ("broker.example", 8884, True)
    assert (config.influxdb.database, config.influxdb.batch_size) == ("wells", 100)
    assert config.registry_path == tmp_path / "registry.csv"


def test_config_path_from_gwmon_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.toml"
    path.write_text('[influxdb]\ndatabase = "fromfile"\n')
    monkeypatch.setenv("GWMON_CONFIG", str(path))
    assert load_config().influxdb.database == "fromfile"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[mqtt]\nqos = 2\n", "key 'mqtt.qos'"),
        ('[mqtt]\nurl = "http://x"\n', "must start with mqtt:// or mqtts://"),
        ('[mqtt]\nurl = "mqtt://user:pw@host:1883"\n', "must not carry credentials"),
        ('[mqtt]\nshared_group = "a/b"\n', "key 'mqtt.shared_group'"),
        ("[influxdb]\nbatchsize = 5\n", "key 'influxdb.batchsize': unknown key"),
        ("[influxdb]\nflush_interval_s = 0\n", "key 'influxdb.flush_interval_s'"),
        ('[influxdb]\npassword = "a"\ntoken = "b"\n', "set only one of password"),
        ("[mqtt\n", "not valid TOML"),
        ("[nonsense]\nx = 1\n", "key 'nonsense': unknown key"),
    ],
)
def test_invalid_config_names_file_key_and_fix(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_secrets_come_from_files_and_never_appear_in_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("s3cret-value\n")
    path = tmp_path / "gwmon.toml"
    path.write_text(f'[mqtt]\nusername = "ingest"\npassword_file = "{secret_file}"\n')
    config = load_config(path)
    password = config.mqtt.resolved_password()
    assert password is not None and password.get_secret_value() == "s3cret-value"
    assert "s3cret" not in repr(config) and "s3cret" not in str(config)
    monkeypatch.setenv("GWMON_MQTT__PASSWORD", "other-secret")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "either password or password_file" in str(caught.value)
    assert "other-secret" not in str(caught.value)


def test_missing_secret_file_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "gwmon.toml"
    path.write_text(f'[influxdb]\ntoken_file = "{tmp_path / "nope"}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "influxdb.token_file" in str(caught.value)


def test_cli_config_check_and_example(tmp_path: Path) -> None:
    example = gwmon("config", "example")
    assert example.returncode == 0
    config = tmp_path / "gwmon.toml"
    config.write_text(example.stdout)
    (tmp_path / "registry.csv").write_bytes(
        (REPO_ROOT / "examples" / "registry-wertvoll.csv").read_bytes()
    )
    ok = gwmon("config", "check", "--config", str(config))
    assert ok.returncode == 0, ok.stderr
    assert "24 probes in 5 municipalities" in ok.stdout
    (tmp_path / "registry.csv").write_text("probe_id,site\nLE-01,x\n")
    bad = gwmon("config", "check", "--config", str(config))
    assert bad.returncode == 2
    assert "registry.csv" in bad.stderr and "municipality" in bad.stderr
    missing = gwmon("config", "check", "--config", str(tmp_path / "absent.toml"))
    assert missing.returncode == 2
    assert "gwmon config example >" in missing.stderr


def test_every_registered_section_is_in_the_example_and_no_stage_is_named_by_the_loader() -> None:
    registered = registered_sections()
    assert sorted(registered) == sorted(spec.name for spec in STAGE_SECTIONS)
    example = tomllib.loads(example_toml())
    assert set(registered) <= set(example)
    loader = (REPO_ROOT / "ingest" / "gwmon" / "ingest" / "_config.py").read_text()
    for name in registered:
        assert f'"{name}"' not in loader, f"the spine's loader names the stage section {name}"
