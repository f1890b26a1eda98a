"""`gwmon config check` with the geometry file and the [records] section."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwmon.cli import main
from records.records_helpers import GEOMETRY, REGISTRY


def write(tmp_path: Path, records: str = "", geometry: str = GEOMETRY) -> Path:
    (tmp_path / "registry.csv").write_text(REGISTRY, encoding="utf-8")
    (tmp_path / "geometry.csv").write_text(geometry, encoding="utf-8")
    path = tmp_path / "gwmon.toml"
    path.write_text(
        '[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n'
        '[registry]\npath = "registry.csv"\ngeometry_path = "geometry.csv"\n'
        f"[mail]\nmaintenance = ['m@example.org']\noperators = ['o@example.org']\n"
        "[mail.routes.Thallwitz]\nstabsstelle = 'T'\nrecipients = ['t@example.org']\n"
        "[mail.routes.Wurzen]\nstabsstelle = 'W'\nrecipients = ['w@example.org']\n"
        "[mail.routes.Lossatal]\nstabsstelle = 'L'\nrecipients = ['l@example.org']\n"
        f"[records]\n{records}\n",
        encoding="utf-8",
    )
    return path


def test_config_check_reads_the_geometry_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path)
    assert main(["config", "check", "--config", str(config)]) == 0, capsys.readouterr().err
    bad = GEOMETRY + "P-1,2026-02-01T00:00:00Z,,113.40,abc,\n"
    config = write(tmp_path, geometry=bad)
    assert main(["config", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'geometry.csv'}: well geometry file has errors" in err
    assert "line 3: column ground_level_m_nhn: 'abc' is not a number" in err


def test_config_check_names_a_bad_records_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, records="dip_match_tolerance_s = 0")
    assert main(["config", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "records.dip_match_tolerance_s" in err
    assert str(config) in err


def test_commands_say_so_when_influxdb_is_away(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(text + '[influxdb]\nurl = "http://127.0.0.1:9"\n', encoding="utf-8")
    assert main(["corrections", "list", "--config", str(config)]) == 1
    assert "gwmon: InfluxDB:" in capsys.readouterr().err
