"""The [analytics] configuration section and the per-probe detector plans built from it.

Precedence of detector and alarm parameters (lowest first): built-in defaults
(`DEFAULT_QC`, `ALARM_PARAMS`), the config file's `[analytics.qc.<quantity>.<detector>]`
and `[analytics.alarms.<kind>]` tables (or GWMON_ANALYTICS__... variables), then the
registry's per-probe `qc` column (`nitrate.spike.max_jump=8; breach.min_consecutive=3`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

from gwmon.analytics._detectors import (
    DEFAULT_QC,
    ColumnCheck,
    DetectorConfigError,
    DetectorRegistry,
    Param,
    ParamValue,
    QcDetector,
    parse_params,
)
from gwmon.config import ConfigError, ConfigProblem, ConfigSection
from gwmon.ingest import (
    CANONICAL_QUANTITIES,
    TREND_REVERSAL_START_MG_L,
    GwmonConfig,
    Probe,
    Registry,
)

SECTION = "analytics"

RawParams = dict[str, float | int | bool | str]


def _alarm(hysteresis: float, unit: str) -> tuple[Param, ...]:
    return (
        Param(
            "min_consecutive", int, 2, "QC-good readings beyond the threshold to open", 1, 10_000
        ),
        Param(
            "release_consecutive",
            int,
            2,
            "QC-good readings past the release value to close",
            1,
            10_000,
        ),
        Param(
            "hysteresis",
            float,
            hysteresis,
            f"release value = threshold -/+ hysteresis ({unit})",
            0,
            None,
        ),
    )


ALARM_PARAMS: dict[str, tuple[Param, ...]] = {
    "breach": _alarm(2.5, "mg/L"),
    "warning": _alarm(2.5, "mg/L"),
    "level_low": _alarm(0.05, "m"),
    "level_high": _alarm(0.05, "m"),
    "sensor_fault": (
        Param(
            "min_consecutive",
            int,
            1,
            "consecutive QC-bad readings of a quantity to open",
            1,
            10_000,
        ),
        Param(
            "release_consecutive",
            int,
            3,
            "consecutive good readings of that quantity to close",
            1,
            10_000,
        ),
    ),
    "stale": (
        Param(
            "factor", float, 3.0, "silent for longer than expected_interval_s x factor", 1.0, 1000.0
        ),
    ),
}


class TrendSettings(BaseModel):
    """`gwmon trend`: GrwV Anlage 6 trend test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    min_values: Annotated[int, Field(ge=5, le=1_000_000)] = 5
    # Nitrate has a seasonal cycle (leaching peaks in late autumn and winter): a series
    # shorter than a year mostly measures the season, not a trend.
    min_span_days: Annotated[float, Field(ge=0, le=100 * 366)] = 365.0
    autocorrelation: Literal["hamed_rao", "none"] = "hamed_rao"
    sample_interval_s: Annotated[float, Field(ge=0, le=366 * 86400)] = 86400.0
    # GrwV: the start of trend reversal is at most 75 % of the Schwellenwert, 37.5 mg/L.
    reversal_start_mg_l: Annotated[float, Field(gt=0, le=TREND_REVERSAL_START_MG_L)] | None = None
    exclude_flagged: bool = True
    open_alerts: bool = True


class ScaleOutSettings(BaseModel):
    """[analytics.scale_out]: analytics split over the `gwmon run` processes of one
    shared subscription group (docs/deployment.md, "Scale-out")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    partitions: Annotated[int, Field(ge=1, le=4096)] = 16
    owned: tuple[Annotated[int, Field(ge=0, le=4095)], ...] = ()
    topic: Annotated[str, Field(min_length=1, max_length=200)] = "gwmon/v1/analytics"
    client_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    username: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    password_file: Path | None = None
    # How long an owned probe's readings wait before they are evaluated, so that those
    # the other processes stored at about the same time (their hand-offs) join them in
    # measurement order instead of arriving late (a replay each).
    reorder_hold_s: Annotated[float, Field(ge=0, le=60)] = 1.0


class AnalyticsSettings(BaseModel):
    """[analytics]: streaming QC, alarms and alert lifecycle inside `gwmon run`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    state_dir: Path = Path("var/analytics")
    reorder_horizon_s: Annotated[float, Field(ge=3600, le=366 * 86400)] = 14 * 86400.0
    stale_startup_grace_s: Annotated[float, Field(ge=0, le=86400)] = 300.0
    ack_poll_interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    qc_withdrawal: Literal["delete", "mark"] = "delete"
    alarms: dict[str, RawParams] = Field(default_factory=dict)
    qc: dict[str, dict[str, RawParams]] = Field(default_factory=dict)
    trend: TrendSettings = TrendSettings()
    scale_out: ScaleOutSettings = ScaleOutSettings()

    def resolved_state_dir(self, config: GwmonConfig) -> Path:
        if self.state_dir.is_absolute():
            return self.state_dir
        return config.base_dir / self.state_dir


def load_settings(config: GwmonConfig) -> AnalyticsSettings:
    """The validated [analytics] section (validated once, then kept). Raises ConfigError."""
    return config.section(CONFIG_SECTION)


@dataclass(frozen=True, slots=True)
class ActiveDetector:
    detector: QcDetector
    params: Mapping[str, ParamValue]
    # The detector's column check bound to `params` (None: run `detector.check`).
    columns: ColumnCheck | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        bind = self.detector.columns
        object.__setattr__(self, "columns", None if bind is None else bind(self.params))


@dataclass(frozen=True, slots=True)
class ProbePlan:
    """Everything the evaluator needs about one probe: its QC checks per quantity,
    alarm parameters per kind, thresholds from the registry."""

    probe: Probe
    qc: Mapping[str, tuple[ActiveDetector, ...]]
    alarms: Mapping[str, Mapping[str, ParamValue]]

    def history_needed(self, quantity: str) -> int:
        return max(
            (item.detector.history(item.params) for item in self.qc.get(quantity, ())), default=0
        )


def _split_probe_qc(
    probe: Probe,
) -> tuple[dict[str, dict[str, dict[str, str]]], dict[str, dict[str, str]], list[str]]:
    qc: dict[str, dict[str, dict[str, str]]] = {}
    alarms: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for key, value in probe.qc.items():
        parts = key.split(".")
        if len(parts) == 2 and parts[0] in ALARM_PARAMS:
            alarms.setdefault(parts[0], {})[parts[1]] = value
        elif len(parts) == 3 and parts[0] in CANONICAL_QUANTITIES:
            qc.setdefault(parts[0], {}).setdefault(parts[1], {})[parts[2]] = value
        else:
            problems.append(
                f"qc entry '{key}': expected <quantity>.<detector>.<parameter> (quantities: "
                f"{', '.join(CANONICAL_QUANTITIES)}) or <alarm>.<parameter> (alarms: "
                f"{', '.join(ALARM_PARAMS)})"
            )
    return qc, alarms, problems


def _number_or_none(raw: object) -> float | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        return float(raw) if isinstance(raw, int | float | str) else None
    except ValueError:
        return None  # the depth detector's own check reports the bad value


def level_range_default(probe: Probe, depth_range: Mapping[str, object]) -> dict[str, object]:
    """The default plausibility range of `level` (m NHN) from the well's geometry: the
    depth range (m below ground, default -10..500) carried over with the surveyed
    heights, so that a depth the depth range accepts gives a level the level range
    accepts. Lower end: ground_level_m_nhn - depth max; upper end: the higher of ground
    level and measuring point (top of casing) - depth min (artesian head above ground).
    With a geometry history, the widest range over all surveyed periods."""
    geometries = (*probe.geometry_periods, probe.registry_geometry)
    ground = min(g.ground_level_m_nhn for g in geometries)
    top = max(
        max(g.ground_level_m_nhn, g.measuring_point_m_nhn or g.ground_level_m_nhn)
        for g in geometries
    )
    deepest = _number_or_none(depth_range.get("max"))
    highest = _number_or_none(depth_range.get("min"))
    return {
        "min": None if deepest is None else round(ground - deepest, 6),
        "max": None if highest is None else round(top - highest, 6),
    }


_Part = TypeVar("_Part")


def _shared(shared: dict[object, object] | None, value: _Part) -> _Part:
    """`value`, or an equal one built for an earlier probe: 10,000 probes mostly have
    the same detector and alarm parameters (issue 11, target 4). Plans are never
    changed after they are built, so sharing is safe."""
    if shared is None:
        return value
    return cast(_Part, shared.setdefault(_share_key(value), value))


def _share_key(value: object) -> object:
    # The type is part of the key: True == 1 == 1.0 but they are different parameters.
    if isinstance(value, Mapping):
        return ("map", tuple((key, _share_key(item)) for key, item in value.items()))
    if isinstance(value, tuple):
        return ("tuple", tuple(_share_key(item) for item in value))
    if isinstance(value, ActiveDetector):
        return ("detector", id(value.detector), _share_key(value.params))
    return (type(value), value)


def build_plan(
    settings: AnalyticsSettings,
    detectors: DetectorRegistry,
    probe: Probe,
    *,
    shared: dict[object, object] | None = None,
) -> tuple[ProbePlan | None, list[str]]:
    """The probe's plan, or None and every problem found (config and registry).
    `shared`: one dict for all the probes of a registry, so that equal parts of their
    plans are one object."""
    probe_qc, probe_alarms, problems = _split_probe_qc(probe)
    qc: dict[str, tuple[ActiveDetector, ...]] = {}
    depth_range: dict[str, object] = {
        **DEFAULT_QC["depth"]["range"],
        **settings.qc.get("depth", {}).get("range", {}),
        **probe_qc.get("depth", {}).get("range", {}),
    }
    for quantity in CANONICAL_QUANTITIES:
        names: dict[str, dict[str, object]] = {
            name: dict(params) for name, params in DEFAULT_QC.get(quantity, {}).items()
        }
        if quantity == "level":
            names["range"] = level_range_default(probe, depth_range)
        for name, cfg_params in settings.qc.get(quantity, {}).items():
            names.setdefault(name, {}).update(cfg_params)
        for name, probe_params in probe_qc.get(quantity, {}).items():
            names.setdefault(name, {}).update(probe_params)
        active: list[ActiveDetector] = []
        for name, raw in names.items():
            detector = detectors.get(name)
            if detector is None:
                problems.append(
                    f"unknown detector '{quantity}.{name}' (known: {', '.join(detectors.names())})"
                )
                continue
            try:
                values = detector.configure(raw, f"{quantity}.{name}")
            except DetectorConfigError as exc:
                problems.append(str(exc))
                continue
            if detector.active(values):
                active.append(_shared(shared, ActiveDetector(detector, values)))
        qc[quantity] = _shared(shared, tuple(active))
    alarms: dict[str, Mapping[str, ParamValue]] = {}
    for kind, params in ALARM_PARAMS.items():
        raw_alarm: dict[str, object] = dict(settings.alarms.get(kind, {}))
        raw_alarm.update(probe_alarms.get(kind, {}))
        try:
            alarms[kind] = _shared(shared, parse_params(params, raw_alarm, kind))
        except DetectorConfigError as exc:
            problems.append(str(exc))
    if problems:
        return None, problems
    return ProbePlan(probe=probe, qc=_shared(shared, qc), alarms=_shared(shared, alarms)), []


def config_problems(
    settings: AnalyticsSettings, detectors: DetectorRegistry, registry: Registry, source: str
) -> list[str]:
    """Every problem of [analytics] (named by `source` and key) and of the registry's qc
    column (named by registry file and probe), each with what is allowed."""
    problems: list[str] = []
    for kind in settings.alarms:
        if kind not in ALARM_PARAMS:
            problems.append(
                str(
                    ConfigProblem(
                        source,
                        f"analytics.alarms.{kind}",
                        f"unknown alarm (known: {', '.join(ALARM_PARAMS)})",
                    )
                )
            )
    for quantity in settings.qc:
        if quantity not in CANONICAL_QUANTITIES:
            problems.append(
                str(
                    ConfigProblem(
                        source,
                        f"analytics.qc.{quantity}",
                        f"unknown quantity (known: {', '.join(CANONICAL_QUANTITIES)})",
                    )
                )
            )
    probes = list(registry)
    if not probes:
        return problems
    # The config alone (defaults + [analytics]), checked on a probe without a qc column.
    _, found = build_plan(settings, detectors, replace(probes[0], qc={}))
    config_level = set(found)
    problems.extend(
        f"{source}: [analytics.qc] / [analytics.alarms]: {problem}" for problem in found
    )
    where = registry.path or "registry"
    for probe in probes:
        if not probe.qc:
            continue
        _, found = build_plan(settings, detectors, probe)
        problems.extend(
            f"{where}: probe {probe.probe_id}, column qc: {problem}"
            for problem in found
            if problem not in config_level
        )
    return problems


def check_config(config: GwmonConfig, registry: Registry) -> list[str]:
    """Problems of [analytics] and of the registry's qc column, each naming where and how
    to fix it (for `gwmon config check`)."""
    from gwmon.analytics._detectors import default_detectors  # noqa: PLC0415

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        return [str(exc)]
    problems = config_problems(settings, default_detectors(), registry, config.source)
    if settings.scale_out.enabled:
        from gwmon.analytics._scale_out import scale_out_problems  # noqa: PLC0415

        problems.extend(str(problem) for problem in scale_out_problems(settings, config))
    elif settings.enabled and config.mqtt.shared_group:
        problems.append(
            str(
                ConfigProblem(
                    config.source,
                    "mqtt.shared_group",
                    "is set while [analytics] enabled = true: each ingest process would "
                    "see only part of every probe's readings and evaluate "
                    "alarms wrongly. Run analytics in exactly one process (set analytics.enabled = "
                    "false in the others, or drop shared_group), or split it with "
                    '[analytics.scale_out] (docs/deployment.md, "Scale-out")',
                )
            )
        )
    return problems


EXAMPLE_TOML = """\
[analytics]
# Streaming quality control, threshold alarms and the alert lifecycle inside `gwmon run`.
# Exactly one `gwmon run` process may evaluate (state lives in state_dir).
enabled = true
# Detector and alert state (SQLite, written before each batch is acknowledged).
# Relative paths are relative to this file's folder.
state_dir = "var/analytics"
# Readings arriving later than this (measurement time, behind the probe's newest reading)
# are stored but can no longer change alarms: how far back re-evaluation reaches.
reorder_horizon_s = 1209600.0
# After start-up, wait this long before calling a probe stale (queued messages arrive).
stale_startup_grace_s = 300.0
# How often `gwmon run` picks up acknowledgements and trend alerts written by the CLI.
ack_poll_interval_s = 10.0
# How a qc flag that no longer holds is taken back: "delete" (InfluxDB 1.x/2.x: a DELETE
# of its point) or "mark" (InfluxDB 3.x, no point-level DELETE: its point is written
# again with withdrawn = true; readers skip it). docs/deployment.md, "InfluxDB 3".
qc_withdrawal = "delete"

# Alarm parameters (per probe overridable in the registry's qc column, e.g.
# "breach.min_consecutive=3"). Thresholds themselves are registry columns
# (nitrate_warning_mg_l, nitrate_breach_mg_l, level_min_m_nhn, level_max_m_nhn).
[analytics.alarms.breach]
min_consecutive = 2
release_consecutive = 2
hysteresis = 2.5          # mg/L: a 50 mg/L breach closes below 47.5 mg/L

[analytics.alarms.warning]
min_consecutive = 2
release_consecutive = 2
hysteresis = 2.5          # mg/L: a 37.5 mg/L warning closes below 35 mg/L

[analytics.alarms.level_low]
min_consecutive = 2
release_consecutive = 2
hysteresis = 0.05         # m

[analytics.alarms.level_high]
min_consecutive = 2
release_consecutive = 2
hysteresis = 0.05         # m

[analytics.alarms.sensor_fault]
min_consecutive = 1       # QC-bad readings of one quantity in a row
release_consecutive = 3   # good readings of that quantity in a row

[analytics.alarms.stale]
factor = 3.0              # silent for longer than expected_interval_s x factor

# Quality-control detectors per quantity (docs/quality-control.md). Shown: the defaults
# for nitrate; other quantities have their own (see the docs). `enabled = false` turns a
# default detector off; registry qc column: "nitrate.spike.max_jump=8".
[analytics.qc.nitrate.range]
min = 0.0
max = 500.0

[analytics.qc.nitrate.spike]
window = 5
max_jump = 15.0

[analytics.qc.nitrate.flatline]
window = 24
tolerance = 0.0

[analytics.qc.nitrate.gap]
factor = 3.0

[analytics.trend]
# GrwV Anlage 6 trend test (`gwmon trend`).
alpha = 0.05
min_values = 5
# Refuse series spanning fewer days: with nitrate's seasonal cycle (leaching peaks in late
# autumn and winter) a shorter series measures the season, not a trend. 0 = no minimum.
min_span_days = 365.0
# "hamed_rao": Mann-Kendall with the Hamed & Rao (1998) variance correction for serial
# correlation; "none": the original test (docs/trend.md).
autocorrelation = "hamed_rao"
# One single measured value (the first QC-good one) per interval, never a mean; 0 = all.
sample_interval_s = 86400.0
# Trend-reversal starting point, at most 37.5 mg/L (75 % of the GrwV Schwellenwert);
# unset = the probe's nitrate_warning_mg_l, capped at 37.5 mg/L.
# reversal_start_mg_l = 37.5
exclude_flagged = true
open_alerts = true

[analytics.scale_out]
# Analytics in every `gwmon run` of one [mqtt] shared_group (docs/deployment.md,
# "Scale-out"): probes fall into partitions by a stable hash of the probe id (CRC-32);
# each process evaluates the partitions it owns and hands the stored readings of the
# others to their owners over MQTT (QoS 1, persistent session), after they were stored.
enabled = false
partitions = 16           # the same in every process
owned = []                # this process's partitions, e.g. [0, 1, 2, 3, 4, 5, 6, 7]
topic = "gwmon/v1/analytics"  # hand-off topics <topic>/<partition>; the ACL: ingest users only
# Its own MQTT session (default: [mqtt] client_id + "-analytics"; with
# use_username_as_clientid also its own username and password_file).
# client_id = "gwmon-ingest-a-analytics"
# username = "gwmon-ingest-a-analytics"
# password_file = "/etc/gwmon/analytics-mqtt.secret"
# Owned probes' readings wait this long before evaluation, so that the hand-offs of
# readings the other processes stored at the same time join them in measurement order
# (fewer replays and short-lived flags); alerts come this much later. 0 = at once.
reorder_hold_s = 1.0
"""


CONFIG_SECTION = ConfigSection(SECTION, AnalyticsSettings, EXAMPLE_TOML)
