"""The probe registry CSV: the utility's master data, validated with line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from gwmon.ingest import RegistryError, load_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
HEADER = "probe_id,site,municipality,lat,lon,ground_level_m_nhn"


def test_demo_registry_covers_the_five_municipalities() -> None:
    registry = load_registry(REPO_ROOT / "examples" / "registry-wertvoll.csv")
    assert len(registry) == 24
    assert registry.municipalities() == {"Leipzig", "Wurzen", "Bennewitz", "Thallwitz", "Lossatal"}
    probe = registry.get("LE-07")
    assert probe is not None
    assert (
        probe.site,
        probe.ground_level_m_nhn,
        probe.nitrate_breach_mg_l,
        probe.nitrate_warning_mg_l,
    ) == (
        "Leipzig-Probstheida",
        143.4,
        50.0,
        37.5,
    )
    assert probe.level_from_depth(8.0) == pytest.approx(135.4)
    for probe in registry:
        assert 51.2 < probe.lat < 51.5 and 12.3 < probe.lon < 12.95  # Leipzig / Wurzener Land


def test_spreadsheet_exports_with_semicolons_bom_and_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(
        "\ufeffprobe_id;site;municipality;lat;lon;ground_level_m_nhn;nitrate_breach_mg_l;qc\n"
        'WU-01;Wurzen-Dehnitz;Wurzen;51,3851;12,7352;116,4;45;"nitrate.spike.max_jump=5; breach.min_consecutive=3"\n'.encode()
    )
    probe = load_registry(path).get("WU-01")
    assert probe is not None
    assert (probe.lat, probe.ground_level_m_nhn, probe.nitrate_breach_mg_l) == (
        51.3851,
        116.4,
        45.0,
    )
    assert dict(probe.qc) == {"nitrate.spike.max_jump": "5", "breach.min_consecutive": "3"}


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        f"{HEADER},nitrate_warning_mg_l\n"
        "LE-01,Site,Leipzig,51.3,12.4,130,\n"
        "LE 02,Site,Leipzig,51.3,12.4,130,\n"
        "LE-03,Site,,51.3,12.4,130,\n"
        "LE-04,Site,Leipzig,95,12.4,130,\n"
        "LE-05,Site,Leipzig,51.3,12.4,abc,\n"
        "LE-01,Site,Leipzig,51.3,12.4,130,\n"
        "LE-06,Site,Leipzig,51.3,12.4,130,60\n"
    )
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    problems = caught.value.problems
    assert problems == [
        "line 3: probe_id 'LE 02' must match [A-Za-z0-9_-]{1,64}",
        "line 4: site and municipality must not be empty",
        "line 5: column lat: 95 is outside -90..90",
        "line 6: column ground_level_m_nhn: 'abc' is not a number (use a decimal point, e.g. 112.5)",
        "line 7: duplicate probe_id LE-01",
        "line 8: nitrate_warning_mg_l (60) must be below nitrate_breach_mg_l (50)",
    ]
    assert str(path) in str(caught.value)


def test_header_problems(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("probe_id,site,municipality,lat,lon,colour\nX,a,b,1,2,red\n")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert caught.value.problems == [
        "line 1: header lacks column(s) ground_level_m_nhn",
        "line 1: unknown column(s) colour; see docs/registry.md for the columns",
    ]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="file not found"):
        load_registry(tmp_path / "nope.csv")
