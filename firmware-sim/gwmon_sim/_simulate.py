"""The probe models of a scenario, and sampling a whole scenario without any network."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from gwmon_sim._errors import ScenarioError
from gwmon_sim._model import Cycle, ProbeModel
from gwmon_sim._params import resolve_params
from gwmon_sim._physics import Weather
from gwmon_sim._registry import read_sites
from gwmon_sim._scenario import Scenario

DEFAULT_INTERVAL_S: Final = 3600


def build_models(
    scenario: Scenario,
    registry_path: Path,
    *,
    seed: int,
    start_s: int,
    probes: Sequence[str] | None = None,
) -> list[ProbeModel]:
    """The probe models of `scenario` (physics, sensors, faults; no network)."""
    sites = read_sites(registry_path)
    wanted = list(probes or scenario.probes or sites)
    named = [*wanted, *scenario.overrides, *(e.probe for e in scenario.events)]
    unknown = sorted({p for p in named if p not in sites})
    if unknown:
        msg = (
            f"{scenario.source}: probes {unknown} are not in the registry {registry_path}; "
            "add them to the registry or remove them from the scenario"
        )
        raise ScenarioError(msg)
    weather = Weather(seed, start_s)
    models: list[ProbeModel] = []
    for probe_id in wanted:
        site = sites[probe_id]
        params = resolve_params(
            site,
            scenario.probe_settings(probe_id),
            seed=seed,
            interval_s=scenario.interval_s or site.expected_interval_s or DEFAULT_INTERVAL_S,
        )
        events = [e for e in scenario.events if e.probe == probe_id]
        models.append(ProbeModel(params, weather, start_s=start_s, seed=seed, events=events))
    return models


def simulate(
    scenario: Scenario,
    registry_path: Path,
    *,
    seed: int | None = None,
    start_s: int | None = None,
    probes: Sequence[str] | None = None,
) -> list[Cycle]:
    """Sample the whole scenario without any network (time order per probe).

    Gives the same cycles (values, seq, faults) a `Fleet` with the same seed and start
    would sample; transport faults (offline, duplicate, malformed) are not applied.
    """
    the_seed = scenario.seed if seed is None else seed
    start = start_s if start_s is not None else scenario.resolve_start(time.time())
    end = start + round(scenario.days * 86_400)
    cycles: list[Cycle] = []
    for model in build_models(scenario, registry_path, seed=the_seed, start_s=start, probes=probes):
        t = start
        while t < end:
            cycle = model.sample(t)
            if cycle is None:
                break
            cycles.append(cycle)
            t += model.params.interval_s
    return cycles
