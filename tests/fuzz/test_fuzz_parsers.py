"""Generated bad input for every parser of outside input: zero unhandled exceptions, every
rejection a known reason (counted in tests/fuzz/tally.py and printed after the run).

Parsers: SenML packs and status messages (decoders), topics, the registry CSV, the
config file with every registered section, scenario files (firmware-sim), and the
acknowledgement endpoint's requests, the dips CSV (`gwmon dips import`); the import CSV
is in test_fuzz_import.py, and the bulk of cheap byte-level cases in
test_fuzz_mutations.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import tally
from fuzz.corpus_cases import corpus_cases
from gwmon.analytics.mail._ackserver import AckServer
from gwmon.analytics.mail._token import AckClaims, make_token
from gwmon.cli import _sim_settings as sim_settings
from gwmon.cli import _stage_checks as stage_checks
from gwmon.config import ConfigError
from gwmon.ingest import (
    CANONICAL_QUANTITIES,
    PROBE_ID_PATTERN,
    DecodedPack,
    DipsFileError,
    PayloadRejected,
    Reason,
    RegistryError,
    decode_pack,
    decode_status,
    load_config,
    load_registry,
    parse_dips,
    parse_topic,
)
from gwmon.ingest._dips import DEPTH_BELOW_MP_RANGE_M
from gwmon_sim import SimError
from gwmon_sim._scenario import parse_scenario

PROBE = "LE-07"
NOW_S = 1_795_676_400.0
REASONS = {reason.value for reason in Reason}


def fuzz(cases: int) -> settings:
    """Hypothesis settings of a fuzz test: `cases` examples, no deadline (2 busy cores)."""
    return settings(
        max_examples=cases,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


CORPUS = [case.payload for case in corpus_cases()]

# -- SenML packs -----------------------------------------------------------------------------
NAMES = ["nitrate", "nitrate_n", "level", "depth", "temperature", "conductivity", "battery"]
UNITS = ["mg/L", "kg/m3", "m", "Cel", "K", "uS/cm", "S/m", "%EL", "/", ""]
nasty_numbers = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 1764140400, 1764140400.123, 2**63, 1e10]),
)
nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from([*NAMES, *UNITS, f"{PROBE}:", "LE-08:", "\ufeff", "\x00", "a\nb", '"', "\\"]),
)
scalars = st.one_of(nasty_numbers, nasty_text, st.booleans(), st.none())
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=12,
)
record = st.fixed_dictionaries(
    {},
    optional={
        "bn": st.one_of(st.just(f"{PROBE}:"), nasty_text),
        "bt": st.one_of(st.just(1_764_140_400), nasty_numbers, nasty_text),
        "n": st.one_of(st.sampled_from(NAMES), nasty_text, json_values),
        "u": st.one_of(st.sampled_from(UNITS), nasty_text),
        "v": st.one_of(nasty_numbers, json_values),
        "t": st.one_of(nasty_numbers, nasty_text),
        "bv": nasty_numbers,
        "bu": st.sampled_from(UNITS),
        "vs": nasty_text,
        "vb": st.booleans(),
        "s": nasty_numbers,
        "ut": nasty_numbers,
        "x": json_values,
    },
)
plausible_record = st.fixed_dictionaries(
    {"n": st.sampled_from([*NAMES, "seq"]), "v": nasty_numbers},
    optional={"u": st.sampled_from(UNITS), "t": nasty_numbers, "x": json_values},
)
plausible_pack = st.builds(
    lambda first, rest: [{"bn": f"{PROBE}:", "bt": 1_764_140_400, **first}, *rest],
    plausible_record,
    st.lists(st.one_of(plausible_record, record), max_size=10),
)
packs = st.one_of(plausible_pack, st.lists(record, max_size=12), json_values)


def mutate(data: bytes, how: int, where: int) -> bytes:
    """A transport-style damage: none, cut short, byte flipped, BOM, corpus splice."""
    if not data or how == 0:
        return data
    position = where % len(data)
    if how == 1:
        return data[:position]
    if how == 2:
        return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]
    if how == 3:
        return b"\xef\xbb\xbf" + data
    return data[:position] + CORPUS[where % len(CORPUS)][:200]


def check_pack(parser: str, payload: bytes) -> None:
    try:
        result = decode_pack(PROBE, payload, now_s=NOW_S)
    except PayloadRejected as exc:
        assert exc.reason.value in REASONS and exc.detail
        tally.record(parser, exc.reason.value)
        return
    assert isinstance(result, DecodedPack)
    tally.record(parser, "kept" if result.readings or result.sequence else "nothing_kept")
    for reading in result.readings:
        assert reading.quantity in CANONICAL_QUANTITIES
        # Raw numbers are bounded by ±1e10, unit conversion multiplies by up to 10,000.
        assert math.isfinite(reading.value) and abs(reading.value) <= 1e14
        assert 0 <= reading.time_ns <= (NOW_S + 86_400) * 1e9
    for rejection in result.rejections:
        assert rejection.reason.value in REASONS and rejection.detail
        assert len(rejection.record) <= 500
        tally.record(parser, f"record:{rejection.reason.value}", case=False)


@fuzz(1000)
@given(packs, st.integers(0, 5), st.integers(0, 10**6), st.booleans())
def test_generated_senml_packs_are_decoded_or_refused_with_a_reason(
    pack: Any, how: int, where: int, nan_literals: bool
) -> None:
    text = json.dumps(pack, allow_nan=nan_literals, default=str) if nan_literals else None
    if text is None:
        try:
            text = json.dumps(pack, allow_nan=False)
        except ValueError:
            text = json.dumps(pack, allow_nan=True)
    check_pack("senml", mutate(text.encode("utf-8", "surrogatepass"), how, where))


@fuzz(1500)
@given(st.binary(max_size=300) | st.sampled_from(CORPUS).map(lambda payload: payload[:70_000]))
def test_raw_bytes_as_senml_are_refused_with_a_reason(payload: bytes) -> None:
    check_pack("senml_raw_bytes", payload)


# -- status messages ---------------------------------------------------------------------------
statuses = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "online": st.one_of(st.booleans(), scalars),
            "firmware": st.one_of(st.text(max_size=80), scalars),
            "battery": st.one_of(nasty_numbers, scalars),
            "t": st.one_of(nasty_numbers, scalars),
            "extra": json_values,
        },
    ),
    json_values,
)


@fuzz(600)
@given(statuses, st.integers(0, 5), st.integers(0, 10**6))
def test_generated_status_messages_are_decoded_or_refused_with_a_reason(
    status: Any, how: int, where: int
) -> None:
    payload = mutate(
        json.dumps(status, allow_nan=True).encode("utf-8", "surrogatepass"), how, where
    )
    try:
        update = decode_status(PROBE, payload, now_s=NOW_S)
    except PayloadRejected as exc:
        assert exc.reason.value in REASONS and exc.detail
        tally.record("status", exc.reason.value)
        return
    assert isinstance(update.online, bool)
    assert update.firmware is None or len(update.firmware) <= 64
    assert update.battery is None or 0 <= update.battery <= 100
    tally.record("status", "kept")


# -- topics ------------------------------------------------------------------------------------
topics = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda prefix, probe, kind: f"{prefix}gw/v1/{probe}/{kind}",
        st.sampled_from(["", "utility-a/", "/", "gw/v1/"]),
        st.one_of(st.from_regex(PROBE_ID_PATTERN, fullmatch=True), st.text(max_size=70)),
        st.sampled_from(["data", "status", "data/x", "", "Data", "status/"]),
    ),
)


@fuzz(500)
@given(topics, st.sampled_from(["", "utility-a"]))
def test_generated_topics_name_a_valid_probe_or_nothing(topic: str, prefix: str) -> None:
    info = parse_topic(topic, prefix)
    if info is None:
        tally.record("topic", Reason.BAD_TOPIC.value)
        return
    assert PROBE_ID_PATTERN.fullmatch(info.probe_id)
    root = f"{prefix}/gw/v1" if prefix else "gw/v1"
    assert topic == f"{root}/{info.probe_id}/{info.kind}"
    tally.record("topic", info.kind)


# -- the registry CSV --------------------------------------------------------------------------
COLUMNS = [
    "probe_id", "site", "municipality", "lat", "lon", "ground_level_m_nhn",
    "nitrate_warning_mg_l", "nitrate_breach_mg_l", "level_min_m_nhn", "level_max_m_nhn",
    "expected_interval_s", "nitrate_loq_mg_l", "qc", "measuring_point_m_nhn", "waterworks",
]  # fmt: skip
cells = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["LE-01", "51.3", "12.4", "143.4", "nan", "inf", "1e400", "-0", "", " "]),
    nasty_numbers.map(str),
)


VALID_ROW = {
    "probe_id": "LE-01", "site": "Leipzig-Probstheida", "municipality": "Leipzig",
    "lat": "51.3", "lon": "12.4", "ground_level_m_nhn": "143.4",
}  # fmt: skip


@fuzz(300)
@given(
    st.lists(st.dictionaries(st.sampled_from(COLUMNS), cells, max_size=4), min_size=1, max_size=4),
    st.lists(st.sampled_from(COLUMNS), max_size=2),
    st.sampled_from(["", "\ufeff"]),
    st.sampled_from([[]] * 4 + [["unknown_column"], ["probe_id"]]),
)
def test_generated_registry_csv_loads_or_names_its_problems(
    changes: list[dict[str, str]], dropped: list[str], bom: str, extra: list[str]
) -> None:
    header = [column for column in COLUMNS if column not in dropped] + extra
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, header, extrasaction="ignore")
    writer.writeheader()
    for number, change in enumerate(changes):
        writer.writerow({**VALID_ROW, "probe_id": f"LE-{number:02d}", **change})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "registry.csv"
        path.write_text(bom + buffer.getvalue(), encoding="utf-8", errors="surrogatepass")
        try:
            registry = load_registry(path)
        except RegistryError as exc:
            assert str(exc)
            tally.record("registry_csv", "refused")
            return
    for probe in registry:
        assert PROBE_ID_PATTERN.fullmatch(probe.probe_id) and probe.site and probe.municipality
        assert probe.nitrate_warning_mg_l < probe.nitrate_breach_mg_l
    tally.record("registry_csv", "loaded")


# -- the dips CSV (gwmon dips import) -------------------------------------------------------------
DIP_HEADER = ["probe_id", "time", "depth_below_mp_m", "by", "note"]
dip_cells = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "LE-01",
            "2026-11-03T09:15:00+01:00",
            "2026-11-03T09:15:00",
            "8,13",
            "8.13",
            "1e400",
            "nan",
            "-51",
            "1000.5",
            "A. Kunze",
            '"',
            "\r",
            "x" * 300,
            "",
        ]
    ),
    nasty_numbers.map(str),
)


@fuzz(400)
@given(
    st.lists(st.lists(dip_cells, min_size=0, max_size=6), min_size=0, max_size=5),
    st.sampled_from([",", ";"]),
    st.sampled_from(["", "\ufeff"]),
    st.sampled_from([DIP_HEADER] * 4 + [DIP_HEADER[:3], [*DIP_HEADER, "extra"], ["probe_id"]]),
    st.binary(max_size=8),
)
def test_generated_dips_csv_imports_or_names_each_bad_row(
    rows: list[list[str]], separator: str, bom: str, header: list[str], tail: bytes
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator)
    writer.writerow(header)
    writer.writerows(rows)
    data = (bom + buffer.getvalue()).encode("utf-8", errors="surrogatepass") + tail
    try:
        dips = parse_dips(data, known_probes={"LE-01"})
    except DipsFileError as exc:
        assert str(exc)
        tally.record("dips_csv", "refused")
        return
    low, high = DEPTH_BELOW_MP_RANGE_M
    for dip in dips.rows:
        assert dip.probe_id == "LE-01" and low <= dip.depth_below_mp_m <= high and dip.by
    for problem in dips.problems:
        assert re.match(r"line \d+: \S", problem), problem
    tally.record("dips_csv", "rows" if dips.rows else "no_rows")
    if dips.problems:
        tally.record("dips_csv", "with_bad_rows", case=False)


# -- config and scenario files (TOML) ------------------------------------------------------------
def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


toml_scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=30),
    st.sampled_from(["mqtt://127.0.0.1:1883", "mqtts://x:99999", "/nonexistent/file", "\x00"]),
)
toml_values = st.one_of(toml_scalars, st.lists(toml_scalars, max_size=3))


def toml_document(tables: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for table, keys in tables.items():
        lines.append(f"[{json.dumps(table)}]")
        lines.extend(f"{json.dumps(key)} = {toml_value(value)}" for key, value in keys.items())
    return "\n".join(lines) + "\n"


SECTIONS = [
    "mqtt",
    "influxdb",
    "registry",
    "ingest",
    "ops",
    "analytics",
    "mail",
    "dashboards",
    "sim",
]
DEMO_REGISTRY = load_registry(
    Path(__file__).resolve().parents[2] / "examples" / "registry-wertvoll.csv"
)
KEYS = [
    "url", "username", "password", "password_file", "client_id", "qos", "receive_maximum",
    "database", "batch_size", "flush_interval_s", "timeout_s", "path", "max_payload_bytes",
    "port", "host", "enabled", "broker_queue_limit", "state_dir", "transport", "routes",
    "token_secret_file", "ack_bind_port", "scenario", "speed", "no_such_key",
]  # fmt: skip
config_tables = st.dictionaries(
    st.one_of(st.sampled_from(SECTIONS), st.text(max_size=8)),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), toml_values, max_size=5),
    max_size=4,
)


def refusal_reason(error: ConfigError) -> str:
    """What the tally calls a refusal: the section whose key was wrong, else the file."""
    keys = [error.key] if error.key else [getattr(p, "key", None) for p in error.problems]
    sections = {key.split(".")[0] for key in keys if key}
    if not sections:
        return "refused:file"  # not UTF-8, not TOML, or a problem with no key
    if len(sections) > 1:
        return "refused:several_sections"
    (section,) = sections
    return f"refused:{section}" if section in SECTIONS else "refused:unknown_section"


@fuzz(400)
@given(config_tables, st.booleans(), st.binary(max_size=60))
def test_generated_config_files_load_or_name_file_key_and_fix(
    tables: dict[str, dict[str, Any]], as_toml: bool, raw: bytes
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gwmon.toml"
        if as_toml:
            path.write_text(toml_document(tables), encoding="utf-8", errors="surrogatepass")
        else:
            path.write_bytes(raw)
        try:
            config = load_config(path)
            # What `gwmon config check` and `gwmon run` ask of the stages' sections.
            problems = stage_checks(config, DEMO_REGISTRY)
            sim_settings(config)
        except ConfigError as exc:
            assert str(exc) and exc.source
            tally.record("config", refusal_reason(exc))
            return
    assert all(isinstance(problem, str) and problem for problem in problems)
    tally.record("config", "stage_problems" if problems else "loaded")


SCENARIO_KEYS = [
    "name", "description", "start", "days", "interval_s", "seed", "probes", "speed",
    "nitrate_record", "level_record", "vented", "buffer_capacity", "max_pack_bytes",
]  # fmt: skip
scenario_tables = st.dictionaries(
    st.sampled_from(["scenario", "network", "probes.LE-01", "events", "x"]),
    st.dictionaries(
        st.one_of(st.sampled_from(SCENARIO_KEYS), st.text(max_size=6)), toml_values, max_size=6
    ),
    max_size=3,
)


@fuzz(300)
@given(scenario_tables)
def test_generated_scenario_files_parse_or_name_the_problem(
    tables: dict[str, dict[str, Any]],
) -> None:
    base: dict[str, dict[str, Any]] = {
        "scenario": {
            "name": "fuzz", "start": "2026-09-01T00:00:00Z", "days": 2, "interval_s": 3600,
            "seed": 7, "probes": ["LE-01", "TH-01"],
        }
    }  # fmt: skip
    for table, keys in tables.items():
        base[table] = {**base.get(table, {}), **keys}
    text = toml_document(base).replace('["probes.LE-01"]', "[probes.LE-01]")
    try:
        parse_scenario(text, source="fuzz.toml")
    except SimError as exc:
        assert str(exc)
        tally.record("scenario", "refused")
        return
    tally.record("scenario", "parsed")


# -- the acknowledgement endpoint ----------------------------------------------------------------
SECRET = b"fuzz-only-ack-secret"
VALID = make_token(SECRET, AckClaims("LE-07-breach-1", "Stabsstelle Leipzig", 4_000_000_000))
EXPIRED = make_token(SECRET, AckClaims("LE-07-breach-1", "Stabsstelle Leipzig", 1))
OTHER_KEY = make_token(b"another-key", AckClaims("LE-07-breach-1", "x", 4_000_000_000))
ACKED: list[tuple[str, str]] = []


def record_ack(claims: AckClaims, by: str, comment: str | None) -> str:
    ACKED.append((claims.alert_id, by))
    return by


ACK_SERVER = AckServer(
    host="127.0.0.1",
    port=0,
    secret=SECRET,
    lang="de",
    on_ack=record_ack,
    describe=lambda alert_id: None,
    clock=lambda: NOW_S,
)
tokens = st.one_of(
    st.sampled_from([VALID, EXPIRED, OTHER_KEY, VALID[:-1], VALID + "A", "", "."]),
    st.text(max_size=60),
)


@fuzz(1000)
@given(
    st.sampled_from(["GET", "POST", "POST", "PUT", "HEAD", "DELETE", "", "G\x00T"]),
    st.sampled_from(["/ack"] * 6 + ["/", "/ack/", "/ACK", "/../ack"]) | st.text(max_size=10),
    tokens,
    st.text(max_size=40),
    st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 20_000).map(str)),
    st.binary(max_size=200),
)
def test_generated_ack_requests_are_answered_and_only_a_valid_post_acknowledges(
    method: str, path: str, token: str, extra: str, length: str | None, junk: bytes
) -> None:
    form = f"t={token}&name={extra}".encode("utf-8", "surrogatepass") + junk
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": f"t={token}&{extra}",
        "CONTENT_LENGTH": str(len(form)) if length is None else length,
        "wsgi.input": io.BytesIO(form),
    }
    answers: list[str] = []
    before = len(ACKED)
    body = b"".join(ACK_SERVER._app(environ, lambda status, headers: answers.append(status)))  # type: ignore[arg-type]
    status = int(answers[0].split()[0])
    assert status in {200, 400, 403, 404, 405, 409, 410}, answers
    assert body.startswith(b"<!DOCTYPE html>")
    acknowledged = len(ACKED) > before
    if acknowledged:
        assert method == "POST" and path == "/ack" and status == 200
    if method == "GET":
        assert not acknowledged  # a GET never changes anything
    tally.record("ack_endpoint", f"http_{status}")
