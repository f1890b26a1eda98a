"""The `[sim]` section of gwmon's config file, as the simulator understands it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from gwmon_sim._credentials import load_credentials
from gwmon_sim._errors import SimError
from gwmon_sim._registry import read_sites
from gwmon_sim._scenario import load_scenario

EXAMPLE_TOML: Final = """\
[sim]
# Scenario: a shipped name (wertvoll-demo, smoke, outage, faults) or a TOML file path.
scenario = "wertvoll-demo"
# Simulated seconds per wall-clock second (1 = real time), or "max": as fast as the
# broker acknowledges (the 30-day demo then takes a few seconds).
speed = "max"
# Seed of physics, noise and faults; leave out to use the scenario's own seed.
# seed = 42
# Simulated start: "auto" (the scenario's; for the demo: the last sample is at the
# current full hour, the first 30 days earlier),
# "now", or an ISO time such as "2026-10-01T00:00:00Z".
# start = "auto"
# CSV with a header 'probe_id,password': one MQTT account per probe, username =
# probe_id. Leave out to log every probe in with [mqtt] username/password (or none).
# credentials_file = "sim-credentials.csv"
# Write the ground truth (what every probe sampled, sent, got acknowledged) here.
# truth_file = "sim-truth.csv"
"""


class SimSettings(BaseModel):
    """`[sim]` keys (see EXAMPLE_TOML)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: str = "wertvoll-demo"
    speed: Annotated[float, Field(ge=0)] | Literal["max"] = "max"
    seed: int | None = None
    start: str = "auto"
    credentials_file: Path | None = None
    truth_file: Path | None = None

    @property
    def speed_value(self) -> float:
        return math.inf if self.speed == "max" else float(self.speed)


def check_settings(settings: SimSettings, registry_path: Path) -> list[str]:
    """Problems of `[sim]` relative to the registry (empty list = fine)."""
    problems: list[str] = []
    try:
        scenario = load_scenario(settings.scenario)
        sites = read_sites(registry_path)
    except SimError as exc:
        return [f"[sim] scenario: {exc}"]
    wanted = list(scenario.probes or sites)
    named = {*wanted, *scenario.overrides, *(e.probe for e in scenario.events)}
    missing = sorted(p for p in named if p not in sites)
    if missing:
        problems.append(
            f"[sim] scenario {settings.scenario!r} names probes {missing} that are not in "
            f"the registry {registry_path}; add them there or edit the scenario"
        )
    if settings.credentials_file is not None:
        try:
            credentials = load_credentials(settings.credentials_file)
        except SimError as exc:
            problems.append(f"[sim] credentials_file: {exc}")
        else:
            lacking = sorted(p for p in wanted if p in sites and p not in credentials)
            if lacking:
                problems.append(
                    f"[sim] credentials_file {settings.credentials_file}: no password for "
                    f"{lacking}; add a 'probe_id,password' row for each"
                )
    return problems
