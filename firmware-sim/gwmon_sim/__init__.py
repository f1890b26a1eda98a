"""gwmon_sim: simulated groundwater probes ("someone else's firmware") for gwmon.

Each probe samples physics-based values (level/depth, nitrate, temperature,
conductivity, battery), applies scheduled faults, buffers, and publishes SenML packs
over MQTT exactly as docs/wire-format.md says. It never imports gwmon.

    scenario = gwmon_sim.load_scenario("wertvoll-demo")
    fleet = gwmon_sim.Fleet(scenario, registry_path, "mqtt://127.0.0.1:1883", seed=1)
    summary = fleet.run()            # or fleet.start(); ...; fleet.stop()
    fleet.write_truth(Path("truth.csv"))

`gwmon_sim.cli` holds the `gwmon sim` command (arguments and runner).
"""

from gwmon_sim._credentials import demo_credentials, load_credentials, write_credentials
from gwmon_sim._errors import ScenarioError, SimError
from gwmon_sim._fleet import Fleet
from gwmon_sim._model import NO3_PER_NO3_N, Cycle
from gwmon_sim._params import NUMERIC_PARAMS
from gwmon_sim._scenario import (
    EVENT_KINDS,
    MALFORMED_VARIANTS,
    NetworkSettings,
    Scenario,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)
from gwmon_sim._senml import encode_pack, malformed_pack
from gwmon_sim._settings import EXAMPLE_TOML, SimSettings, check_settings
from gwmon_sim._simulate import simulate
from gwmon_sim._summary import RunSummary
from gwmon_sim._truth import TRUTH_COLUMNS, TruthRow, read_truth_csv

__all__ = [
    "EVENT_KINDS",
    "EXAMPLE_TOML",
    "MALFORMED_VARIANTS",
    "NO3_PER_NO3_N",
    "NUMERIC_PARAMS",
    "TRUTH_COLUMNS",
    "Cycle",
    "Fleet",
    "NetworkSettings",
    "RunSummary",
    "Scenario",
    "ScenarioError",
    "SimError",
    "SimSettings",
    "TruthRow",
    "builtin_scenarios",
    "check_settings",
    "demo_credentials",
    "encode_pack",
    "load_credentials",
    "load_scenario",
    "malformed_pack",
    "parse_scenario",
    "read_truth_csv",
    "simulate",
    "write_credentials",
]
