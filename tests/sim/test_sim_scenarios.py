"""Scenario files: shipped scenarios load and tell the demo's story; bad files are refused
with a message naming the file, the key and the fix."""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from pathlib import Path

import pytest

import gwmon_sim
from gwmon.ingest import PayloadRejected, Reason, decode_pack
from gwmon.ingest.devservers import MosquittoServer
from gwmon_sim import ScenarioError, SimSettings, check_settings, parse_scenario
from gwmon_sim.cli import add_arguments, run_cli
from sim.simkit import REGISTRY

DEMO_START = 1788220800  # fixed for the test; the shipped demo starts "auto"


def test_shipped_scenarios_load() -> None:
    assert gwmon_sim.builtin_scenarios() == ["faults", "outage", "smoke", "wertvoll-demo"]
    for name in gwmon_sim.builtin_scenarios():
        scenario = gwmon_sim.load_scenario(name)
        assert scenario.name == name
        assert check_settings(SimSettings(scenario=name), REGISTRY) == []


def test_wertvoll_demo_tells_its_story() -> None:
    scenario = gwmon_sim.load_scenario("wertvoll-demo")
    assert scenario.days == 30 and scenario.interval_s == 3600 and scenario.start_s is None
    cycles = gwmon_sim.simulate(scenario, REGISTRY, start_s=DEMO_START)
    assert len({c.probe_id for c in cycles}) == 24
    assert len(cycles) == 24 * 720
    nitrate: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for cycle in cycles:
        for s in cycle.samples:
            if s.quantity == "nitrate" and s.sent_value is not None:
                factor = gwmon_sim.NO3_PER_NO3_N if s.record == "nitrate_n" else 1.0
                nitrate[cycle.probe_id].append(
                    (cycle.t, s.true_value * factor, s.sent_value * factor)
                )
    # Genuine breach: LE-07 above 50 mg/L (true value) for several days, around days 12-17.
    breach_hours = [t for t, true, _ in nitrate["LE-07"] if true > 50.0]
    assert 4 * 24 <= len(breach_hours) <= 7 * 24
    assert min(breach_hours) >= DEMO_START + 12 * 86_400
    # Warning band: BE-02 in 37.5-50 for days, never above 50.
    be02 = [true for _, true, _ in nitrate["BE-02"]]
    assert max(be02) < 50.0
    assert sum(37.5 <= v < 50.0 for v in be02) >= 4 * 24
    # The spike: a single TH-02 sample of 180 mg/L; the truth around it is unremarkable.
    th02 = nitrate["TH-02"]
    spikes = [(t, sent) for t, _, sent in th02 if sent > 50.0]
    assert spikes == [(DEMO_START + 8 * 86_400, 180.0)]
    assert max(true for _, true, _ in th02) < 37.5
    # Everyone else stays below the warning band.
    quiet = set(nitrate) - {"LE-07", "BE-02", "TH-02"}
    assert all(max(sent for _, _, sent in nitrate[p]) < 37.5 for p in quiet)
    offline = [e for e in scenario.events if e.kind == "offline"]
    assert [(e.probe, e.day, e.days) for e in offline] == [("WU-03", 3.0, 2.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[scenario]\nname='x'\ndays=1\ncolour='red'", "scenario.colour: unknown key"),
        ("[scenario]\nname='x'", "scenario.days: is required"),
        ("[scenario]\nname='x'\ndays=1\nstart='yesterday'", "scenario.start"),
        (
            "[scenario]\nname='x'\ndays=1\n[[events]]\nprobe='LE-01'\nkind='meltdown'",
            "events[0].kind: 'meltdown' is not one of",
        ),
        (
            "[scenario]\nname='x'\ndays=1\n[[events]]\nprobe='LE-01'\nkind='spike'",
            "a spike needs exactly one of value (absolute) or delta",
        ),
        (
            "[scenario]\nname='x'\ndays=1\n[[events]]\nprobe='LE-01'\nkind='drift'",
            "events[0].rate_per_day: is required for drift",
        ),
        (
            "[scenario]\nname='x'\ndays=1\n[[events]]\nprobe='LE-01'\nkind='malformed'\n"
            "variant='zip'",
            "events[0].variant: must be one of",
        ),
        (
            "[scenario]\nname='x'\ndays=1\n[probes.LE-01]\nnitrate_baseline_mg_l=900",
            "probes.LE-01.nitrate_baseline_mg_l: 900 is outside [0.5, 100.0] mg/L NO3",
        ),
        (
            "[scenario]\nname='x'\ndays=1\n[defaults]\nnitrate_bias=1",
            "defaults.nitrate_bias: unknown parameter",
        ),
        (
            "[scenario]\nname='x'\ndays=1\n[network]\nmax_pack_bytes=100000",
            "network.max_pack_bytes: must be in [512, 65536]",
        ),
        ("[scenario\n", "not valid TOML"),
    ],
)
def test_bad_scenarios_are_refused_with_the_key(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="bad.toml")
    assert str(info.value).startswith("bad.toml")
    assert message in str(info.value)


def test_unknown_probe_and_scenario_names(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[scenario]\nname='x'\ndays=1\nprobes=['XX-99']\n")
    with pytest.raises(ScenarioError, match=r"probes \['XX-99'\] are not in the registry"):
        gwmon_sim.Fleet(gwmon_sim.load_scenario(path), REGISTRY, "mqtt://127.0.0.1:1")
    with pytest.raises(ScenarioError, match="no shipped scenario named 'nope'"):
        gwmon_sim.load_scenario("nope")
    problems = check_settings(SimSettings(scenario=str(path)), REGISTRY)
    assert len(problems) == 1 and "XX-99" in problems[0]


def test_cli_runs_a_scenario_and_writes_the_truth(
    tmp_path: Path, mosquitto: MosquittoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    truth = tmp_path / "truth.csv"
    args = parser.parse_args(["--scenario", "smoke", "--seed", "3", "--truth", str(truth)])
    code = run_cli(
        args,
        broker_url=mosquitto.url,
        username=None,
        password=None,
        registry_path=REGISTRY,
        topic_prefix="",
        ca_file=None,
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "144 cycles, 144 packs (144 publishes, 144 acknowledged" in out
    with truth.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 144 * 6
    assert {r["delivery"] for r in rows} == {"acked"}


def test_cli_reports_bad_input_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--scenario", "nope"])
    code = run_cli(
        args,
        broker_url="mqtt://127.0.0.1:1",
        username=None,
        password=None,
        registry_path=REGISTRY,
        topic_prefix="",
        ca_file=None,
    )
    assert code == 2
    assert "no shipped scenario named 'nope'" in capsys.readouterr().err
    creds = tmp_path / "c.csv"
    creds.write_text("probe_id,password\nLE-01,\n")
    code = run_cli(
        parser.parse_args([]),
        broker_url="mqtt://127.0.0.1:1",
        username=None,
        password=None,
        registry_path=REGISTRY,
        topic_prefix="",
        ca_file=None,
        settings=SimSettings(scenario="smoke", credentials_file=creds),
    )
    assert code == 2
    assert "c.csv:2: empty password for LE-01" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variant", "whole_pack_reason", "record_reason"),
    [
        ("invalid_json", Reason.INVALID_JSON, None),
        ("not_senml", Reason.NOT_SENML, None),
        ("empty_pack", Reason.EMPTY_PACK, None),
        ("base_name_mismatch", Reason.BASE_NAME_MISMATCH, None),
        ("missing_time", None, Reason.MISSING_TIME),
        ("unknown_unit", None, Reason.UNKNOWN_UNIT),
        ("non_finite", None, Reason.NON_FINITE_VALUE),
    ],
)
def test_every_malformed_variant_is_refused_by_gwmon_for_its_reason(
    variant: str, whole_pack_reason: Reason | None, record_reason: Reason | None
) -> None:
    assert variant in gwmon_sim.MALFORMED_VARIANTS
    cycles = gwmon_sim.simulate(gwmon_sim.load_scenario("smoke"), REGISTRY, probes=["LE-01"])[:3]
    payload, broken = gwmon_sim.malformed_pack("LE-01", cycles, variant)
    assert gwmon_sim.encode_pack("LE-01", cycles) != payload
    if whole_pack_reason is not None:
        assert broken is None
        with pytest.raises(PayloadRejected) as info:
            decode_pack("LE-01", payload, now_s=time.time())
        assert info.value.reason == whole_pack_reason
        return
    decoded = decode_pack("LE-01", payload, now_s=time.time())
    reasons = {r.reason for r in decoded.rejections}
    assert reasons == {record_reason}
    if broken is None:  # missing_time: every record of the pack
        assert decoded.readings == []
    else:  # one record name in each of the 3 cycles; the rest is stored
        assert broken == "nitrate"
        assert len(decoded.rejections) == 3
        assert len(decoded.readings) == 3 * 4  # depth, temperature, conductivity, battery


def test_auto_start_puts_the_last_sample_at_the_current_full_hour() -> None:
    scenario = gwmon_sim.load_scenario("wertvoll-demo")
    now = 1795694000.5  # 2026-11-26T11:53:20.5Z
    start = scenario.resolve_start(now)
    end = start + 30 * 86_400
    last_sample = end - 3600
    assert last_sample == 1795690800  # 11:00:00Z, the current full hour: not in the future
    assert scenario.resolve_start(now + 390) == start  # same hour, same payloads
    assert scenario.resolve_start(now + 3600) == start + 3600
    assert gwmon_sim.load_scenario("smoke").resolve_start(now) == 1788220800  # fixed start
