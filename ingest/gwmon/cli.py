"""The `gwmon` command: the composition root that wires the stages together.

Logging is configured here and nowhere else.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from gwmon import analytics, dashboards
from gwmon.analytics import (
    AlertKind,
    AnalyticsObserver,
    PartitionedObserver,
    StateLockedError,
    build_observer,
    build_partitioned_observer,
    load_settings,
    mail,
    records,
)
from gwmon.analytics import cli as analytics_cli
from gwmon.analytics.mail import MailService, build_mail_service
from gwmon.analytics.mail import cli as mail_cli
from gwmon.analytics.records import cli as records_cli
from gwmon.config import CONFIG_ENV_VAR, ConfigError, ConfigSection, GwmonError
from gwmon.dashboards import cli as dashboards_cli
from gwmon.ingest import (
    BAROMETRIC_SECTION,
    BatchObserver,
    Compensator,
    GwmonConfig,
    IngestError,
    IngestService,
    Registry,
    RegistryError,
    build_compensation,
    load_config,
    load_configured_registry,
    parse_cli_time,
)
from gwmon.ingest import cli as ingest_cli
from gwmon.ingest._config import SPINE_SECTIONS
from gwmon.ingest._example import HEADER as EXAMPLE_HEADER
from gwmon.ingest._ops import GaugeSource, OpsServer, StorePing
from gwmon.ingest._service import StopOutcome, settle_heap_for_streaming
from gwmon.storage import InfluxClient, InfluxSettings, StoreConfigError, StoreError
from gwmon_sim import EXAMPLE_TOML as SIM_EXAMPLE_TOML
from gwmon_sim import SimSettings, check_settings
from gwmon_sim import cli as sim_cli

logger = logging.getLogger("gwmon.cli")

# Exit codes of `gwmon` (docs/reliability.md). 3 and 4 end `gwmon run` only after
# SIGTERM/SIGINT: nothing is lost, the broker redelivers what was not acknowledged.
EXIT_RUNTIME = 1  # a runtime failure
EXIT_CONFIG = 2  # unusable configuration, registry, state or port
EXIT_STOPPED_STORE_DOWN = 3  # stopped while InfluxDB did not accept the last batch
EXIT_STOPPED_BROKER_DOWN = 4  # stopped while the broker was unreachable
_EXIT_BY_OUTCOME = {
    StopOutcome.CLEAN: 0,
    StopOutcome.STORE_UNAVAILABLE: EXIT_STOPPED_STORE_DOWN,
    StopOutcome.BROKER_UNREACHABLE: EXIT_STOPPED_BROKER_DOWN,
}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def load_config_and_registry(config_path: Path | None) -> tuple[GwmonConfig, Registry]:
    """Load both or raise ConfigError/RegistryError with a message for the operator."""
    config = load_config(config_path)
    registry = load_configured_registry(config)
    return config, registry


def _fail(message: str) -> int:
    print(f"gwmon: {message}", file=sys.stderr)
    return EXIT_CONFIG


# -- gwmon config -----------------------------------------------------------------------------
_SIM_EXAMPLE_HEAD = """\
# Simulated probes for tests and demos: read only by `gwmon sim`. `gwmon run` ignores
# this section; delete it in production.
"""


SIM_CONFIG_SECTION: ConfigSection[SimSettings] = ConfigSection(
    "sim", SimSettings, _SIM_EXAMPLE_HEAD + SIM_EXAMPLE_TOML
)


def example_toml() -> str:
    spine = [spec.example for spec in SPINE_SECTIONS]
    return "\n".join([EXAMPLE_HEADER, *spine, *_stage_examples()])


STAGE_SECTIONS: tuple[ConfigSection[Any], ...] = (
    BAROMETRIC_SECTION,
    analytics.CONFIG_SECTION,
    mail.CONFIG_SECTION,
    records.CONFIG_SECTION,
    dashboards.CONFIG_SECTION,
    SIM_CONFIG_SECTION,
)
"""The stages' sections in the order `gwmon config example` prints them (each is also
registered as an entry point, which is how the loader knows their names)."""


def _stage_examples() -> list[str]:
    return [spec.example for spec in STAGE_SECTIONS]


def _stage_checks(config: GwmonConfig, registry: Registry) -> list[str]:
    """Problems of the sections `gwmon run` uses. The simulator's [sim] section is not
    among them: a service must never refuse to start over a simulator setting."""
    return [
        *_barometric_problems(config),
        *analytics.check_config(config, registry),
        *mail.check_config(config, registry),
        *records.check_config(config, registry),
        *dashboards.check_config(config, registry),
    ]


def _barometric_problems(config: GwmonConfig) -> list[str]:
    try:
        config.section(BAROMETRIC_SECTION)
    except ConfigError as exc:
        return [str(exc)]
    return []


def _sim_problems(config: GwmonConfig, settings: SimSettings, registry_path: Path) -> list[str]:
    return [f"{config.source}: {problem}" for problem in check_settings(settings, registry_path)]


def _cmd_config_example(args: argparse.Namespace) -> int:
    print(example_toml(), end="")
    return 0


def _cmd_config_check(args: argparse.Namespace) -> int:
    try:
        config, registry = load_config_and_registry(args.config)
        problems = _stage_checks(config, registry)
    except (ConfigError, RegistryError) as exc:
        return _fail(str(exc))
    if problems:
        return _fail("configuration problems:\n  " + "\n  ".join(problems))
    print(
        f"OK: {config.source}; registry {config.registry_path}: {len(registry)} probes in "
        f"{len(registry.municipalities())} municipalities "
        f"({', '.join(sorted(registry.municipalities()))})"
    )
    if config.has_section("sim"):
        # Only a note: [sim] concerns `gwmon sim`, never the service.
        try:
            notes = _sim_problems(config, _sim_settings(config), config.registry_path)
        except ConfigError as exc:
            notes = [str(exc)]
        for note in notes:
            print(f"note (simulator, `gwmon sim` only; `gwmon run` ignores [sim]): {note}")
    return 0


# -- gwmon run --------------------------------------------------------------------------------
class _Stages:
    """What `gwmon run` runs beside the ingest: the barometric compensation in front of
    analytics (one process or a partition of a shared group), mail, the mirror that
    keeps the corrected series complete, their gauges."""

    def __init__(self, config: GwmonConfig, registry: Registry, store: InfluxClient) -> None:
        self.observer: AnalyticsObserver | PartitionedObserver
        if load_settings(config).scale_out.enabled:
            self.observer = build_partitioned_observer(config, registry)
        else:
            self.observer = build_observer(config, registry, store)
        self.mailer: MailService = build_mail_service(config, registry, store, self.observer.book)
        self.observer.add_listener(self.mailer)
        self.compensated = build_compensation(config, registry, store, self.observer)
        self.corrected = _corrected_series(config, registry)

    @property
    def observers(self) -> list[BatchObserver]:
        return [self.compensated, self.corrected]

    def stop_handoffs(self) -> None:
        """On a stop signal: do not wait for hand-off owners any more."""
        if isinstance(self.observer, PartitionedObserver):
            self.observer.stop()

    def gauges(self) -> list[GaugeSource]:
        """The stages' numbers for /metrics, through their public API."""
        return [
            GaugeSource(
                "gwmon_alerts_open",
                "Alerts open (not resolved), by kind",
                ("kind",),
                lambda: _open_alerts_by_kind(self.observer),
            ),
            GaugeSource(
                "gwmon_mails_queued",
                "Mails waiting for the mail server plus alert events not yet in a mail",
                (),
                lambda: {(): float(self.mailer.pending())},
            ),
        ]


def _corrected_series(config: GwmonConfig, registry: Registry) -> BatchObserver:
    """Writes the corrected point of every stored reading of a corrected series
    (docs/data-management.md); its own client: one session per user."""
    return records.CorrectedSeriesObserver(
        InfluxClient(config.influxdb),
        registry,
        poll_interval_s=records.load_settings(config).poll_interval_s,
    )


def _open_alerts_by_kind(
    observer: AnalyticsObserver | PartitionedObserver,
) -> Mapping[tuple[str, ...], float]:
    counts = Counter(alert.kind.value for alert in observer.open_alerts())
    return {(kind.value,): float(counts[kind.value]) for kind in AlertKind}


def _store_ping(settings: InfluxSettings) -> StorePing:
    verify: bool | str = str(settings.ca_file) if settings.ca_file else settings.verify_tls
    return StorePing(settings.url, verify=verify)


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        config, registry = load_config_and_registry(args.config)
        problems = _stage_checks(config, registry)
        if problems:
            return _fail("configuration problems:\n  " + "\n  ".join(problems))
        store = InfluxClient(config.influxdb)
        stages = _Stages(config, registry, store)
    except (ConfigError, RegistryError, StateLockedError) as exc:
        return _fail(str(exc))
    service = IngestService(config, registry, observers=stages.observers, store=store)

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s: flushing and stopping", signal.Signals(signum).name)
        service.stop()
        stages.stop_handoffs()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    ops: OpsServer | None = None
    try:
        if config.ops.enabled:
            ping = _store_ping(config.influxdb)
            ops = OpsServer(config.ops, service, store_ping=ping, sources=stages.gauges())
            ops.start()
        stages.mailer.start()
        settle_heap_for_streaming()
        outcome = service.run()
    except OSError as exc:  # e.g. the mail ack endpoint's or the ops port is taken
        return _fail(f"cannot start: {exc}")
    except (IngestError, StoreConfigError) as exc:
        return _fail(str(exc))
    finally:
        stages.mailer.stop()
        if ops is not None:
            ops.stop()
    if outcome is not StopOutcome.CLEAN:
        logger.warning("stopped: %s (exit code %d)", outcome.value, _EXIT_BY_OUTCOME[outcome])
    return _EXIT_BY_OUTCOME[outcome]


# -- gwmon compensate -------------------------------------------------------------------------
def _cmd_compensate(args: argparse.Namespace) -> int:
    """Derive the compensated values of a period again (after an outage, or after the
    registry named a barometer for data stored before)."""
    try:
        config, registry = load_config_and_registry(args.config)
        settings = config.section(BAROMETRIC_SECTION)
        first_ns = parse_cli_time(args.from_time, "--from")
        last_ns = parse_cli_time(args.to_time, "--to")
    except (ConfigError, RegistryError) as exc:
        return _fail(str(exc))
    loggers = [probe for probe in registry if probe.barometer is not None]
    if args.probe is not None:
        loggers = [probe for probe in loggers if probe.probe_id == args.probe]
        if not loggers:
            return _fail(
                f"probe {args.probe!r} has no barometer in the registry (column barometer)"
            )
    if last_ns < first_ns:
        return _fail("--to is before --from")
    store = InfluxClient(config.influxdb)
    try:
        compensator = Compensator(registry, store, settings)
        for probe in loggers:
            stored = compensator.recompute(probe, first_ns, last_ns)
            print(f"{probe.probe_id}: {len(stored)} compensated values stored (new or changed)")
    except StoreError as exc:
        print(f"gwmon: InfluxDB: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    finally:
        store.close()
    return 0


# -- gwmon import -----------------------------------------------------------------------------
def _cmd_import(args: argparse.Namespace) -> int:
    try:
        config, registry = load_config_and_registry(args.config)
        store = InfluxClient(config.influxdb)
        store.ensure_database()
        observers: list[BatchObserver] = []
        if not (args.check or args.no_analytics):
            if load_settings(config).scale_out.enabled:
                return _fail(
                    "[analytics.scale_out] is enabled: import with --no-analytics (the "
                    "import cannot hand readings to the partitions' owners)"
                )
            # QC flags and alerts as in `gwmon run`; no mail service (docs/import.md).
            analytics_observer = build_observer(config, registry, store)
            observers.append(build_compensation(config, registry, store, analytics_observer))
        if not args.check:  # imported history of a corrected series gets corrected too
            observers.append(_corrected_series(config, registry))
    except StateLockedError as exc:
        return _fail(f"{exc}; stop `gwmon run` during the import, or import with --no-analytics")
    except (ConfigError, RegistryError, StoreError) as exc:
        return _fail(str(exc))
    try:
        return ingest_cli.run_import(args, config, registry, store, observers)
    finally:
        for observer in observers:
            observer.close()


# -- parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gwmon", description="Groundwater monitoring: probes -> InfluxDB -> alerts."
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    config_parent = argparse.ArgumentParser(add_help=False)
    config_parent.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"config file (TOML); default ${CONFIG_ENV_VAR}",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", parents=[config_parent], help="run the ingest service (MQTT -> InfluxDB)"
    )
    run.set_defaults(handler=_cmd_run)

    imports = commands.add_parser(
        "import", parents=[config_parent], help="import a CSV file of readings (docs/import.md)"
    )
    ingest_cli.add_import_arguments(imports)
    imports.set_defaults(handler=_cmd_import)

    config_cmd = commands.add_parser("config", help="print an example config or check one")
    config_sub = config_cmd.add_subparsers(dest="config_command", required=True)
    example = config_sub.add_parser("example", help="print a complete commented example config")
    example.set_defaults(handler=_cmd_config_example)
    check = config_sub.add_parser(
        "check", parents=[config_parent], help="validate a config file and its registry"
    )
    check.set_defaults(handler=_cmd_config_check)

    compensate = commands.add_parser(
        "compensate",
        parents=[config_parent],
        help="derive barometrically compensated water column, depth and level again",
        description=(
            "Derive the water column, depth and level of absolute pressure loggers from "
            "their stored pressures and their barometer (docs/data-management.md) for a "
            "period; `gwmon run` does this as data arrive. Times: ISO 8601 with offset."
        ),
    )
    compensate.add_argument(
        "--from", dest="from_time", required=True, help="e.g. 2026-10-01T00:00:00+02:00"
    )
    compensate.add_argument("--to", dest="to_time", required=True, help="inclusive end")
    compensate.add_argument(
        "--probe", help="only this logger (default: every logger with a barometer)"
    )
    compensate.set_defaults(handler=_cmd_compensate)

    _register_stage_commands(commands, config_parent)
    return parser


def _sim_settings(config: GwmonConfig) -> SimSettings:
    settings = config.section(SIM_CONFIG_SECTION)
    updates: dict[str, Path] = {}
    for key in ("credentials_file", "truth_file"):
        value = getattr(settings, key)
        if value is not None and not value.is_absolute():
            updates[key] = config.base_dir / value
    return settings.model_copy(update=updates)


def _cmd_sim(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        settings = _sim_settings(config)
    except ConfigError as exc:
        return _fail(str(exc))
    checked = settings.model_copy(update={"scenario": args.scenario}) if args.scenario else settings
    problems = _sim_problems(config, checked, args.registry or config.registry_path)
    if problems:
        return _fail("simulator configuration problems:\n  " + "\n  ".join(problems))
    password = config.mqtt.resolved_password()
    return sim_cli.run_cli(
        args,
        broker_url=config.mqtt.url,
        username=config.mqtt.username,
        password=password.get_secret_value() if password else None,
        registry_path=config.registry_path,
        topic_prefix=config.mqtt.topic_prefix,
        ca_file=config.mqtt.ca_file,
        settings=settings,
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from gwmon.demo import run_demo  # noqa: PLC0415 - the demo pulls in every stage

    return run_demo(args.run_dir, keep_running=args.keep_running)


def _register_stage_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    config_parent: argparse.ArgumentParser,
) -> None:
    ingest_cli.register_cli(commands, config_parent)
    analytics_cli.register_cli(commands, config_parent)
    records_cli.register_cli(commands, config_parent)
    mail_cli.register_cli(commands, config_parent)
    dashboards_cli.register_cli(commands, config_parent)

    sim = commands.add_parser(
        "sim",
        parents=[config_parent],
        help="run simulated probes (firmware-sim) against the broker",
    )
    sim_cli.add_arguments(sim)
    sim.set_defaults(handler=_cmd_sim)

    demo = commands.add_parser(
        "demo", help="run the WERTvoll demo end to end with private servers (make demo)"
    )
    demo.add_argument("--run-dir", type=Path, default=Path("run"), help="default: ./run")
    demo.add_argument(
        "--keep-running", action="store_true", help="keep Mosquitto and InfluxDB running after"
    )
    demo.set_defaults(handler=_cmd_demo)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.log_level, args.log_format)
    handler = args.handler
    try:
        code: int = handler(args)
    except GwmonError as exc:
        # Every deliberate error says what is wrong and how to fix it: no traceback.
        return _fail(str(exc))
    return code


def console_main() -> None:
    """Entry point of the `gwmon` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
