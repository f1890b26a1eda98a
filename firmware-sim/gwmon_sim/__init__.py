"""gwmon_sim: simulated groundwater probes ("someone else's firmware") for gwmon.

Each probe samples physics-based values (level/depth, nitrate, temperature,
conductivity, battery), applies scheduled faults, buffers, and publishes SenML packs
over MQTT exactly as docs/wire-format.md says. It never imports gwmon.

    scenario = gwmon_sim.load_scenario("wertvoll-demo")
    fleet = gwmon_sim.Fleet(scenario, registry_path, "mqtt://127.0.0.1:1883", seed=1)
    summary = fleet.run()            # or fleet.start(); ...; fleet.stop()
    fleet.write_truth(Path("truth.csv"))
"""

from gwmon_sim._credentials import demo_credentials, load_credentials, write_credentials
from gwmon_sim._errors import CredentialsError, RegistryReadError, ScenarioError, SimError
from gwmon_sim._fleet import Fleet
from gwmon_sim._model import NO3_PER_NO3_N, UNITS, Cycle, ProbeModel, Sample
from gwmon_sim._params import NUMERIC_PARAMS, QUANTITIES, ParamSpec, ProbeParams, resolve_params
from gwmon_sim._physics import Weather
from gwmon_sim._registry import SiteInfo, read_sites
from gwmon_sim._scenario import (
    EVENT_KINDS,
    MALFORMED_VARIANTS,
    Event,
    NetworkSettings,
    Scenario,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)
from gwmon_sim._senml import encode_pack, malformed_pack, split_into_packs
from gwmon_sim._settings import EXAMPLE_TOML, SimSettings, check_settings
from gwmon_sim._simulate import build_models, simulate
from gwmon_sim._summary import RunSummary
from gwmon_sim._truth import TRUTH_COLUMNS, TruthRow, read_truth_csv, write_truth_csv

__all__ = [
    "EVENT_KINDS",
    "EXAMPLE_TOML",
    "MALFORMED_VARIANTS",
    "NO3_PER_NO3_N",
    "NUMERIC_PARAMS",
    "QUANTITIES",
    "TRUTH_COLUMNS",
    "UNITS",
    "CredentialsError",
    "Cycle",
    "Event",
    "Fleet",
    "NetworkSettings",
    "ParamSpec",
    "ProbeModel",
    "ProbeParams",
    "RegistryReadError",
    "RunSummary",
    "Sample",
    "Scenario",
    "ScenarioError",
    "SimError",
    "SimSettings",
    "SiteInfo",
    "TruthRow",
    "Weather",
    "build_models",
    "builtin_scenarios",
    "check_settings",
    "demo_credentials",
    "encode_pack",
    "load_credentials",
    "load_scenario",
    "malformed_pack",
    "parse_scenario",
    "read_sites",
    "read_truth_csv",
    "resolve_params",
    "simulate",
    "split_into_packs",
    "write_credentials",
    "write_truth_csv",
]
