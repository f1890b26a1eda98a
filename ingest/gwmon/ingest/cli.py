"""The ingest's own commands (the composition root `gwmon.cli` registers them):
`gwmon probes enrol`, and `gwmon import` on the command line: arguments, progress bar,
problem report, summary (`gwmon.cli` builds the observers and calls `run_import`)."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tqdm import tqdm

from gwmon.config import ConfigError
from gwmon.ingest._config import GwmonConfig, load_config
from gwmon.ingest._enrol import EnrolError, enrol
from gwmon.ingest._import import IMPORT_BATCH_LINES, MAX_IMPORT_BATCH_LINES, Importer, ImportSummary
from gwmon.ingest._import_csv import ImportFileError, RowProblem
from gwmon.ingest._observer import BatchObserver
from gwmon.ingest._registry import Registry, RegistryError, load_registry
from gwmon.storage import InfluxClient, StoreError

EXIT_CONFIG = 2
EXIT_SKIPPED = 1  # some rows were not imported (each one is reported)
SHOWN_PROBLEMS = 20


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="CSV file: probe,time,quantity,value,unit")
    parser.add_argument(
        "--timezone",
        help="time zone of times without a UTC offset, e.g. Europe/Berlin (default: none)",
    )
    parser.add_argument("--errors", type=Path, help="write every skipped row to this CSV file")
    parser.add_argument("--check", action="store_true", help="check the file, write nothing")
    parser.add_argument(
        "--no-analytics", action="store_true", help="store the values without QC and alarms"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default=IMPORT_BATCH_LINES,
        help=f"lines per write to InfluxDB (default {IMPORT_BATCH_LINES:,}; "
        f"[influxdb] batch_size is gwmon run's)",
    )


def _batch_size(text: str) -> int:
    try:
        lines = int(text)
    except ValueError:
        lines = 0
    if not 1 <= lines <= MAX_IMPORT_BATCH_LINES:
        msg = f"{text!r}: a number of lines from 1 to {MAX_IMPORT_BATCH_LINES:,}"
        raise argparse.ArgumentTypeError(msg)
    return lines


class ImportProblems:
    """Skipped rows: all into the `--errors` file, the first few on stderr."""

    def __init__(self, errors: Path | None, *, shown: int = SHOWN_PROBLEMS) -> None:
        self.count = 0
        self.shown = shown
        self.path = errors
        self._handle: TextIO | None = None
        self._writer: csv.DictWriter[str] | None = None
        if errors is not None:
            self._handle = errors.open("w", encoding="utf-8", newline="")
            self._writer = csv.DictWriter(self._handle, ["line", "reason", "detail", "row"])
            self._writer.writeheader()

    def add(self, problem: RowProblem) -> None:
        self.count += 1
        if self._writer is not None:
            self._writer.writerow(
                {
                    "line": problem.line,
                    "reason": problem.reason,
                    "detail": problem.detail,
                    "row": problem.text,
                }
            )
        if self.count <= self.shown:
            tqdm.write(f"line {problem.line}: {problem.reason}: {problem.detail}", file=sys.stderr)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def describe_import(path: Path, summary: ImportSummary, problems: ImportProblems) -> str:
    verb = "checked" if summary.checked_only else "imported"
    stored = "would be stored" if summary.checked_only else "stored"
    rate = summary.rows / summary.seconds if summary.seconds else 0.0
    lines = [
        f"{verb} {path}: {summary.rows:,} rows in {summary.seconds:.1f} s ({rate:,.0f} rows/s); "
        f"{summary.readings:,} readings {stored} ({summary.derived:,} levels derived from depths)"
    ]
    if summary.skipped:
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in summary.problems.most_common())
        where = f"all in {problems.path}" if problems.path else "the first ones above"
        if not problems.path and problems.count > problems.shown:
            where += "; --errors FILE lists them all"
        lines.append(f"{summary.skipped:,} rows skipped ({reasons}); {where}")
    else:
        lines.append("no row skipped")
    return "\n".join(lines)


def run_import(
    args: argparse.Namespace,
    config: GwmonConfig,
    registry: Registry,
    store: InfluxClient,
    observers: list[BatchObserver],
) -> int:
    """Import `args.file` and report; the exit code of `gwmon import`."""
    try:
        timezone = ZoneInfo(args.timezone) if args.timezone else None
    except (ValueError, ZoneInfoNotFoundError):
        print(
            f"gwmon: --timezone {args.timezone}: not a time zone (e.g. Europe/Berlin)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    importer = Importer(
        config,
        registry,
        store,
        observers=observers,
        timezone=timezone,
        batch_lines=args.batch_size,
    )
    problems = ImportProblems(args.errors)
    total = args.file.stat().st_size if args.file.is_file() else None
    bar = tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc=args.file.name,
        disable=args.no_progress or None,  # None: only on a terminal
        file=sys.stderr,
    )

    def progress(done: int) -> None:
        bar.update(done - bar.n)

    try:
        summary = importer.run(
            args.file, check_only=args.check, on_problem=problems.add, on_progress=progress
        )
    except ImportFileError as exc:
        print(f"gwmon: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (StoreError, KeyboardInterrupt) as exc:
        print(
            f"gwmon import: stopped ({exc or 'interrupted'}); what was written stays, "
            "and importing the file again is harmless",
            file=sys.stderr,
        )
        return EXIT_SKIPPED
    finally:
        bar.close()
        problems.close()
    print(describe_import(args.file, summary, problems))
    return EXIT_SKIPPED if summary.skipped else 0


# -- gwmon probes ------------------------------------------------------------------------------
def register_cli(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    config_parent: argparse.ArgumentParser,
) -> None:
    probes = subparsers.add_parser("probes", help="probes on the broker: enrol a new one")
    commands = probes.add_subparsers(dest="probes_command", required=True, metavar="COMMAND")
    enrol_cmd = commands.add_parser(
        "enrol",
        parents=[config_parent],
        help="generate a probe's MQTT password; print the password-file and ACL lines",
    )
    enrol_cmd.add_argument("probe_id", help="the probe's id (= its MQTT username)")
    enrol_cmd.set_defaults(handler=_enrol)


def _registry_note(args: argparse.Namespace) -> tuple[str, str]:
    """(topic prefix, what the registry says about the probe); no config is fine."""
    if args.config is None:
        return "", "(no --config given: check that the probe is in the registry)"
    config = load_config(args.config)
    registry = load_registry(config.registry_path)
    probe = registry.get(args.probe_id)
    if probe is None:
        note = (
            f"NOTE: {args.probe_id} is not in the registry {config.registry_path}: gwmon "
            "rejects its data (unknown_probe) until you add it (docs/registry.md)"
        )
    else:
        note = f"In the registry: {probe.site}, {probe.municipality}."
    return config.mqtt.topic_prefix, note


def _enrol(args: argparse.Namespace) -> int:
    try:
        prefix, note = _registry_note(args)
        enrolment = enrol(args.probe_id, topic_prefix=prefix)
    except (ConfigError, RegistryError, EnrolError) as exc:
        print(f"gwmon: {exc}", file=sys.stderr)
        return 2
    probe = enrolment.probe_id
    print(
        f"Probe {probe}: MQTT credentials (shown once; gwmon keeps no copy)\n"
        f"  username (and client id): {probe}\n"
        f"  password: {enrolment.password}\n"
        "\n"
        "1. Append this line to the broker's password_file (e.g. /etc/mosquitto/gwmon.passwd)\n"
        "   and reload Mosquitto (`systemctl reload mosquitto`, or SIGHUP):\n"
        f"{enrolment.password_line}\n"
        "   (the format `mosquitto_passwd` writes; or run `mosquitto_passwd FILE "
        f"{probe}` and type the password)\n"
        "\n"
        "2. ACL: the shipped examples/mosquitto.acl needs nothing more; its `pattern write`\n"
        f"   rules let {probe} publish only its own topics. An ACL without them needs:\n"
        + "\n".join(enrolment.acl_lines)
        + "\n\n"
        f"3. {note}"
    )
    return 0
