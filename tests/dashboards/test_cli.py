"""`gwmon dashboards build|push` and `gwmon report` through register_cli."""

from __future__ import annotations

import argparse
import os
import shutil
import tomllib
from pathlib import Path

import pytest

from dashboards.dash_scenario import DEMO_REGISTRY
from dashboards.grafana_stub import grafana_stub
from gwmon.dashboards import EXAMPLE_TOML, DashboardsSettings, check_config
from gwmon.dashboards.cli import register_cli
from gwmon.ingest import load_config, load_registry
from gwmon.ingest.devservers import InfluxDatabase


def gwmon(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gwmon")
    config_parent = argparse.ArgumentParser(add_help=False)
    config_parent.add_argument("--config", type=Path, default=None)
    register_cli(parser.add_subparsers(dest="command", required=True), config_parent)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def write_config(tmp_path: Path, database: InfluxDatabase, extra: str = "") -> Path:
    shutil.copy(DEMO_REGISTRY, tmp_path / "registry.csv")
    path = tmp_path / "gwmon.toml"
    path.write_text(
        f'[influxdb]\nurl = "{database.url}"\ndatabase = "{database.name}"\n\n'
        f'[registry]\npath = "registry.csv"\n\n[dashboards]\n{extra}\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def _no_gwmon_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GWMON_") or name == "GRAFANA_TOKEN":
            monkeypatch.delenv(name)


def test_build_writes_dashboards_and_provisioning(
    tmp_path: Path, month_db: InfluxDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, month_db, 'language = "en"')
    out = tmp_path / "grafana"
    assert gwmon("dashboards", "build", "--config", str(config), "--out", str(out)) == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "json/gwmon-overview.json",
        "json/gwmon-probe.json",
        "json/gwmon-quality.json",
        "provisioning/dashboards/gwmon.yaml",
        "provisioning/datasources/gwmon.yaml",
    ]
    assert f'dbName: "{month_db.name}"' in (out / "provisioning/datasources/gwmon.yaml").read_text()
    provider = (out / "provisioning/dashboards/gwmon.yaml").read_text()
    assert f'path: "{(out / "json").resolve()}"' in provider
    assert '"title": "Groundwater – overview"' in (out / "json/gwmon-overview.json").read_text()
    assert "docs/grafana.md" in capsys.readouterr().out


def test_config_errors_exit_2(
    tmp_path: Path, month_db: InfluxDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, month_db, 'colour = "blue"')
    assert gwmon("dashboards", "build", "--config", str(config), "--out", str(tmp_path)) == 2
    assert "key 'dashboards.colour': unknown key" in capsys.readouterr().err
    config = write_config(tmp_path, month_db, 'language = "fr"')
    assert (
        gwmon("report", "--config", str(config), "--month", "2026-10", "--out", str(tmp_path)) == 2
    )
    assert "dashboards.language" in capsys.readouterr().err


def test_push_twice_through_the_cli(
    tmp_path: Path,
    month_db: InfluxDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, month_db)
    with grafana_stub() as (url, state):
        assert gwmon("dashboards", "push", "--config", str(config), "--grafana-url", url) == 2
        assert "GRAFANA_TOKEN is empty" in capsys.readouterr().err
        assert state.requests == []
        monkeypatch.setenv("GRAFANA_TOKEN", state.token)
        assert gwmon("dashboards", "push", "--config", str(config), "--grafana-url", url) == 0
        assert gwmon("dashboards", "push", "--config", str(config), "--grafana-url", url) == 0
        assert sorted(state.dashboards) == ["gwmon-overview", "gwmon-probe", "gwmon-quality"]
        assert len(state.folders) == 1 and len(state.datasources) == 1
    out = capsys.readouterr().out
    assert "folder gwmon: created" in out and "folder gwmon: unchanged" in out
    assert out.count("dashboard gwmon-probe: success") == 2
    assert state.token not in out


def test_report_through_the_cli(
    tmp_path: Path, month_db: InfluxDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, month_db)
    out = tmp_path / "reports"
    argv = ["report", "--config", str(config), "--month", "2026-10", "--out", str(out)]
    assert gwmon(*argv, "--municipality", "Wurzen", "--municipality", "Bennewitz") == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "gwmon-monatsbericht-2026-10-bennewitz.html",
        "gwmon-monatsbericht-2026-10-wurzen.html",
    ]
    assert gwmon("report", "--config", str(config), "--month", "10/2026", "--out", str(out)) == 2
    assert "is not YYYY-MM" in capsys.readouterr().err


def test_example_toml_is_valid_and_holds_the_defaults() -> None:
    section = tomllib.loads(EXAMPLE_TOML)["dashboards"]
    assert DashboardsSettings.model_validate(section) == DashboardsSettings()


def test_check_config_names_file_key_and_fix(tmp_path: Path, month_db: InfluxDatabase) -> None:
    good = load_config(write_config(tmp_path, month_db))
    assert check_config(good, load_registry(good.registry_path)) == []
    bad = load_config(write_config(tmp_path, month_db, 'folder_uid = "gwmon-influxdb"'))
    problems = check_config(bad, load_registry(bad.registry_path))
    assert problems == [
        f"{bad.source}: key 'dashboards.datasource_uid': equals folder_uid; "
        "give the data source its own uid (e.g. gwmon-influxdb)"
    ]
    wrong = load_config(write_config(tmp_path, month_db, "language = 3"))
    [problem] = check_config(wrong, load_registry(wrong.registry_path))
    assert "key 'dashboards.language'" in problem
