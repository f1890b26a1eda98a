"""[analytics] section: example, validation, check_config."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from analytics.analytics_helpers import probe, registry, write_config
from gwmon.analytics import (
    EXAMPLE_TOML,
    AnalyticsSettings,
    build_plan,
    check_config,
    default_detectors,
    load_settings,
)
from gwmon.config import ConfigError


def test_example_is_valid_toml_with_the_real_defaults() -> None:
    parsed = AnalyticsSettings.model_validate(tomllib.loads(EXAMPLE_TOML)["analytics"])
    defaults = AnalyticsSettings()
    assert parsed.model_dump(exclude={"alarms", "qc"}) == defaults.model_dump(
        exclude={"alarms", "qc"}
    )
    p = probe()
    from_example, _ = build_plan(parsed, default_detectors(), p)
    from_defaults, _ = build_plan(defaults, default_detectors(), p)
    assert from_example == from_defaults


def test_check_config_names_file_key_and_fix(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        analytics="[analytics.alarms.breech]\nmin_consecutive = 2\n[analytics.qc.nitrat.spike]\nwindow = 5\n",
    )
    problems = check_config(config, registry(probe(qc={"nitrate.spike.window": "1"})))
    source = str(tmp_path / "gwmon.toml")
    assert problems == [
        f"{source}: key 'analytics.alarms.breech': unknown alarm (known: breach, warning, "
        "level_low, level_high, sensor_fault, stale)",
        f"{source}: key 'analytics.qc.nitrat': unknown quantity (known: nitrate, level, depth, "
        "temperature, conductivity, battery, pressure_abs, air_pressure, water_column)",
        "registry: probe P-1, column qc: nitrate.spike: window='1' is outside 3..1000",
    ]


def test_check_config_reports_type_errors_and_shared_subscription(tmp_path: Path) -> None:
    config = write_config(tmp_path, analytics="reorder_horizon_s = 5\n")
    [problem] = check_config(config, registry())
    assert "analytics.reorder_horizon_s" in problem and "greater than or equal to 3600" in problem
    with pytest.raises(ConfigError, match=r"analytics\.reorder_horizon_s"):
        load_settings(config)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "gwmon.toml").write_text('[mqtt]\nshared_group = "ingest"\n', encoding="utf-8")
    from gwmon.ingest import load_config  # noqa: PLC0415

    [problem] = check_config(load_config(shared / "gwmon.toml"), registry())
    assert "mqtt.shared_group" in problem and "analytics.enabled = false" in problem


def test_environment_overrides_reach_detector_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GWMON_ANALYTICS__QC__NITRATE__SPIKE__MAX_JUMP", "7.5")
    config = write_config(tmp_path)
    plan, problems = build_plan(load_settings(config), default_detectors(), probe())
    assert problems == [] and plan is not None
    spike = next(item for item in plan.qc["nitrate"] if item.detector.name == "spike")
    assert spike.params["max_jump"] == 7.5
