"""examples/docker-compose.yml, parsed (PyYAML) and checked against what it mounts and
configures. It cannot be started here (no Docker engine); its header says so. Also:
docs/deployment.md names the shipped broker settings fault 2 depends on."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gwmon.analytics.mail._settings import MailSettings
from gwmon.cli import example_toml
from gwmon.dashboards import DashboardsSettings
from gwmon.dashboards._build import DEFAULT_PROVIDER_PATH, build_files, write_files
from gwmon.ingest import load_config, load_registry
from gwmon.ingest._config import OpsSettings

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
COMPOSE_TEXT = (EXAMPLES / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
MOSQUITTO_CONF = (EXAMPLES / "mosquitto.conf").read_text(encoding="utf-8")
MOSQUITTO_ACL = (EXAMPLES / "mosquitto.acl").read_text(encoding="utf-8")
# Made by the header's steps, not in the repository (secrets, certificates, the user's
# config and registry, the output of `gwmon dashboards build --out grafana`).
MADE_BY_THE_STEPS = {
    "secrets/gwmon.passwd": "mosquitto_passwd -b -c /s/gwmon.passwd",
    "certs": "certs/broker.pem",
    "gwmon": "gwmon config example > gwmon/gwmon.toml",
    "grafana/provisioning/datasources": "--out grafana",
    "grafana/provisioning/dashboards": "--out grafana",
    "grafana/json": "--out grafana",
}


def bind_mounts(service: str) -> dict[str, str]:
    """container path -> host path (relative to examples/) of the service's bind mounts."""
    mounts = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            mounts[target] = source
    return mounts


def named_volumes(service: str) -> dict[str, str]:
    return {
        volume.split(":")[1]: volume.split(":")[0]
        for volume in SERVICES[service].get("volumes", [])
        if not volume.startswith(".")
    }


def relative(source: str) -> str:
    return str((EXAMPLES / source).resolve().relative_to(EXAMPLES.resolve().parent))


def test_the_header_says_it_cannot_be_run_here() -> None:
    assert "NOT RUN BY gwmon's TESTS" in COMPOSE_TEXT.splitlines()[2]
    assert "no Docker\n# engine" in COMPOSE_TEXT
    assert set(SERVICES) == {"mosquitto", "influxdb", "grafana", "gwmon"}


def test_every_mounted_file_is_in_the_repository_or_made_by_a_step_of_the_header() -> None:
    made = set()
    for service in SERVICES:
        for source in bind_mounts(service).values():
            if (EXAMPLES / source).exists():
                continue
            key = source.removeprefix("./")
            assert key in MADE_BY_THE_STEPS, f"{service} mounts {source}: not in the repository"
            assert MADE_BY_THE_STEPS[key] in COMPOSE_TEXT, f"no step of the header makes {key}"
            made.add(key)
    assert made == set(MADE_BY_THE_STEPS)
    # What must come from the repository does: the broker's files and gwmon's source.
    assert relative(bind_mounts("mosquitto")["/etc/mosquitto/mosquitto.conf"]) == (
        "examples/mosquitto.conf"
    )
    assert relative(bind_mounts("mosquitto")["/etc/mosquitto/gwmon.acl"]) == (
        "examples/mosquitto.acl"
    )
    assert (EXAMPLES / bind_mounts("gwmon")["/src"] / "pyproject.toml").is_file()


def test_the_broker_gets_every_path_its_config_names() -> None:
    mounted = [*bind_mounts("mosquitto"), *named_volumes("mosquitto")]
    for key in ("password_file", "acl_file", "certfile", "keyfile", "persistence_location"):
        (path,) = re.findall(rf"^{key} (\S+)", MOSQUITTO_CONF, re.MULTILINE)
        assert any(path.startswith(target) for target in mounted), f"{key} {path} not mounted"
    assert named_volumes("mosquitto")["/var/lib/mosquitto"] in COMPOSE["volumes"]
    assert SERVICES["mosquitto"]["command"][-1] == "/etc/mosquitto/mosquitto.conf"


def published(service: str) -> list[str]:
    return [str(port) for port in SERVICES[service].get("ports", [])]


def test_only_the_tls_listener_is_published_to_all_and_gwmons_ports_are_its_defaults() -> None:
    everything = [port for service in SERVICES for port in published(service)]
    assert [port for port in everything if not port.startswith("127.0.0.1:")] == ["8883:8883"]
    assert re.search(r"^listener 8883$", MOSQUITTO_CONF, re.MULTILINE)
    ops, ack = OpsSettings().port, MailSettings().ack_bind_port
    # gwmon lives in the broker's network namespace: its ports are published there.
    assert SERVICES["gwmon"]["network_mode"] == "service:mosquitto"
    assert f"127.0.0.1:{ops}:{ops}" in published("mosquitto")
    assert f"127.0.0.1:{ack}:{ack}" in published("mosquitto")


@pytest.fixture
def gwmon_in_the_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, dict[str, str]]:
    """`gwmon config example` as gwmon/gwmon.toml, loaded with the compose file's
    environment (paths inside the container moved under tmp_path)."""
    config_file = tmp_path / "gwmon.toml"
    config_file.write_text(example_toml(), encoding="utf-8")
    environment = {key: str(value) for key, value in SERVICES["gwmon"]["environment"].items()}
    shutil.copy(EXAMPLES / "registry-wertvoll.csv", tmp_path / "registry.csv")
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    for key, value in environment.items():
        here = value
        if key == "GWMON_REGISTRY__PATH":
            here = str(tmp_path / "registry.csv")
        elif value.startswith("/run/secrets/"):  # where compose puts the service's secrets
            here = str(secrets / value.removeprefix("/run/secrets/"))
            Path(here).write_text("not-a-real-secret\n", encoding="utf-8")
        if key != "GWMON_CONFIG":
            monkeypatch.setenv(key, here)
    return load_config(config_file), environment


def test_gwmons_settings_load_and_match_the_broker_influxdb_and_the_secrets(
    gwmon_in_the_container: tuple[Any, dict[str, str]],
) -> None:
    config, environment = gwmon_in_the_container
    gwmon = SERVICES["gwmon"]
    # The broker: its loopback listener, the ingest's read-only user.
    assert (config.mqtt.host, config.mqtt.port) == ("127.0.0.1", 1883)
    assert re.search(r"^listener 1883 127\.0\.0\.1$", MOSQUITTO_CONF, re.MULTILINE)
    assert f"user {config.mqtt.username}\ntopic read gw/v1/#" in MOSQUITTO_ACL
    assert 'gwmon-ingest "$(cat secrets/mqtt-password)"' in COMPOSE_TEXT
    # InfluxDB: the service's address, database and user.
    influx_env = SERVICES["influxdb"]["environment"]
    url = urlsplit(config.influxdb.url)
    assert url.hostname in SERVICES and url.hostname == "influxdb"
    assert f"127.0.0.1:{url.port}:{url.port}" in published("influxdb")
    assert config.influxdb.database == influx_env["INFLUXDB_DB"]
    assert config.influxdb.username == influx_env["INFLUXDB_USER"]
    # Secrets: every *_FILE setting is a declared secret the service gets.
    files = {key: value for key, value in environment.items() if key.endswith("_FILE")}
    assert len(files) == 3
    for value in files.values():
        name = value.removeprefix("/run/secrets/")
        assert name in gwmon["secrets"] and name in COMPOSE["secrets"], value
        assert COMPOSE["secrets"][name]["file"] == f"./secrets/{name}"
    # State lives on the gwmon-state volume; the config file on the ./gwmon mount.
    (state_target,) = [t for t, v in named_volumes("gwmon").items() if v == "gwmon-state"]
    assert environment["GWMON_ANALYTICS__STATE_DIR"].startswith(state_target + "/")
    assert environment["GWMON_MAIL__OUTBOX_DIR"].startswith(state_target + "/")
    assert Path(environment["GWMON_CONFIG"]).parent == Path(gwmon["working_dir"])
    assert bind_mounts("gwmon")[gwmon["working_dir"]] == "./gwmon"
    assert config.ops.port == OpsSettings().port


def test_grafana_gets_the_files_of_dashboards_build_and_the_variables_they_need(
    tmp_path: Path, gwmon_in_the_container: tuple[Any, dict[str, str]]
) -> None:
    config, environment = gwmon_in_the_container
    settings = DashboardsSettings(influxdb_url=environment["GWMON_DASHBOARDS__INFLUXDB_URL"])
    registry = load_registry(EXAMPLES / "registry-wertvoll.csv")
    out = tmp_path / "examples" / "grafana"  # `--out grafana` in examples/
    write_files(out, build_files(settings, registry, config.influxdb))
    grafana = bind_mounts("grafana")
    assert grafana[DEFAULT_PROVIDER_PATH] == "./grafana/json"
    for target, source in grafana.items():
        built = tmp_path / "examples" / source
        assert built.is_dir() and any(built.iterdir()), f"{source} ({target}) is not built"
    assert grafana["/etc/grafana/provisioning/dashboards"] == "./grafana/provisioning/dashboards"
    datasource = (out / "provisioning" / "datasources" / "gwmon.yaml").read_text()
    assert yaml.safe_load(datasource)["datasources"][0]["url"] == "http://influxdb:8086"
    # The password comes from the env_file step 1 writes, the username from the file.
    assert SERVICES["grafana"]["env_file"] == "./secrets/grafana.env"
    assert "printf 'GWMON_INFLUXDB__PASSWORD=%s\\n' \"$pw\" > secrets/grafana.env" in COMPOSE_TEXT
    given = set(SERVICES["grafana"]["environment"]) | {"GWMON_INFLUXDB__PASSWORD"}
    assert set(re.findall(r"\$\{(GWMON_[A-Z_]+)\}", datasource)) == given


def test_deployment_md_names_the_broker_settings_of_fault_2_as_shipped() -> None:
    # docs/reliability.md, fault 2: these make a broker restart lose nothing.
    deployment = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    for key in ("persistence", "autosave_interval", "max_queued_messages", "max_inflight_messages"):
        (value,) = re.findall(rf"^{key} (\S+)$", MOSQUITTO_CONF, re.MULTILINE)
        assert f"`{key} {value}`" in deployment, f"docs/deployment.md must name {key} {value}"
