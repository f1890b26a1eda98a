"""`gwmon dashboards build|push`, `gwmon report` and `gwmon export`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pydantic import SecretStr

from gwmon.config import ConfigError
from gwmon.dashboards._build import (
    DEFAULT_PROVIDER_PATH,
    build_dashboards,
    build_files,
    validate_dashboard,
    write_files,
)
from gwmon.dashboards._export import FORMATS, SERIES_KINDS, ExportError, collect_export
from gwmon.dashboards._export_csv import render_csv
from gwmon.dashboards._export_waterml import render_waterml
from gwmon.dashboards._export_zrxp import render_zrxp
from gwmon.dashboards._push import PushError, connect, push
from gwmon.dashboards._report import write_reports
from gwmon.dashboards._report_month import ReportError
from gwmon.dashboards._settings import CONFIG_SECTION, DashboardsSettings
from gwmon.ingest import (
    GwmonConfig,
    Registry,
    RegistryError,
    load_config,
    load_configured_registry,
    load_registry,
    parse_cli_time,
)
from gwmon.storage import InfluxClient, StoreError

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


def _fail(message: str, code: int = EXIT_CONFIG) -> int:
    print(f"gwmon: {message}", file=sys.stderr)
    return code


def _load(args: argparse.Namespace) -> tuple[GwmonConfig, Registry, DashboardsSettings]:
    config = load_config(args.config)
    other_registry = getattr(args, "registry", None)
    # The configured geometry history belongs to the configured registry only.
    registry = load_registry(other_registry) if other_registry else load_configured_registry(config)
    settings = config.section(CONFIG_SECTION)
    language = getattr(args, "language", None)
    if language:
        settings = settings.model_copy(update={"language": language})
    return config, registry, settings


def _cmd_build(args: argparse.Namespace) -> int:
    try:
        config, registry, settings = _load(args)
    except (ConfigError, RegistryError) as exc:
        return _fail(str(exc))
    out: Path = args.out
    provider_path = args.provider_path or str((out / "json").resolve())
    files = build_files(settings, registry, config.influxdb, provider_path=provider_path)
    problems = [
        problem
        for dashboard in build_dashboards(settings, registry).values()
        for problem in validate_dashboard(dashboard, settings)
    ]
    if problems:
        return _fail("built dashboards are inconsistent:\n  " + "\n  ".join(problems), 1)
    for path in write_files(out, files):
        print(path)
    print(
        f"Grafana: copy {out / 'provisioning'}/* into Grafana's provisioning folder "
        f"(e.g. /etc/grafana/provisioning) and the JSON to {provider_path}; see docs/grafana.md"
    )
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    try:
        config, registry, settings = _load(args)
    except (ConfigError, RegistryError) as exc:
        return _fail(str(exc))
    url = args.grafana_url or settings.grafana_url
    token = os.environ.get(settings.token_env, "")
    if not token:
        return _fail(
            f"environment variable {settings.token_env} is empty; create a Grafana service "
            "account token (role Editor) and export it, see docs/grafana.md"
        )
    api = connect(url, SecretStr(token), timeout_s=settings.timeout_s)
    try:
        result = push(api, settings, config.influxdb, build_dashboards(settings, registry))
    except PushError as exc:
        return _fail(str(exc), EXIT_RUNTIME)
    print(f"folder {settings.folder_uid}: {result.folder}")
    print(f"data source {settings.datasource_uid}: {result.datasource}")
    for uid, status in sorted(result.dashboards.items()):
        print(f"dashboard {uid}: {status}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    try:
        config, registry, settings = _load(args)
    except (ConfigError, RegistryError) as exc:
        return _fail(str(exc))
    client = InfluxClient(config.influxdb)
    try:
        paths = write_reports(
            client,
            registry,
            settings,
            month=args.month,
            municipalities=args.municipality or [],
            out_dir=args.out,
        )
    except ReportError as exc:
        return _fail(str(exc))
    except StoreError as exc:
        return _fail(f"InfluxDB: {exc}", EXIT_RUNTIME)
    finally:
        client.close()
    for path in paths:
        print(path)
    return 0


RENDERERS = {"zrxp": render_zrxp, "waterml2": render_waterml, "csv": render_csv}


def _cmd_export(args: argparse.Namespace) -> int:
    try:
        config, registry, _ = _load(args)
        from_ns = parse_cli_time(args.from_time, "--from")
        to_ns = parse_cli_time(args.to_time, "--to")
    except (ConfigError, RegistryError) as exc:
        return _fail(str(exc))
    client = InfluxClient(config.influxdb)
    try:
        export = collect_export(
            client,
            registry,
            args.probe,
            args.quantity,
            from_ns=from_ns,
            to_ns=to_ns,
            series=args.series,
        )
    except ExportError as exc:
        return _fail(str(exc))
    except StoreError as exc:
        return _fail(f"InfluxDB: {exc}", EXIT_RUNTIME)
    finally:
        client.close()
    text = RENDERERS[args.format](export)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"{args.out}: {len(export.values)} values", file=sys.stderr)
    return 0


def _add_export(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    config_parent: argparse.ArgumentParser,
) -> None:
    export = subparsers.add_parser(
        "export",
        parents=[config_parent],
        help="one probe's series for the authority: ZRXP (WISKI), WaterML 2.0 or CSV",
        description=(
            "Export a probe's quantity over [--from, --to] (both inclusive; ISO 8601 with "
            "offset), the corrected series by default, with approval levels and QC flags "
            "(docs/data-management.md, Exports)."
        ),
    )
    export.add_argument("--probe", required=True, help="probe_id from the registry")
    export.add_argument("--quantity", required=True, help="e.g. level, nitrate, depth")
    export.add_argument(
        "--from", dest="from_time", required=True, help="e.g. 2026-10-01T00:00:00+02:00"
    )
    export.add_argument("--to", dest="to_time", required=True, help="inclusive end")
    export.add_argument("--format", choices=FORMATS, required=True)
    export.add_argument("--series", choices=SERIES_KINDS, default="corrected")
    export.add_argument("--out", type=Path, default=None, help="file (default: standard output)")
    export.add_argument("--registry", type=Path, default=None, help="registry CSV override")
    export.set_defaults(handler=_cmd_export)


def register_cli(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    config_parent: argparse.ArgumentParser,
) -> None:
    """Add `dashboards build`, `dashboards push`, `report` and `export` to the gwmon
    command."""
    dashboards = subparsers.add_parser("dashboards", help="Grafana dashboards: build or push")
    commands = dashboards.add_subparsers(dest="dashboards_command", required=True)
    build = commands.add_parser(
        "build",
        parents=[config_parent],
        help="write dashboard JSON and Grafana provisioning files",
    )
    build.add_argument("--out", type=Path, required=True, help="output folder")
    build.add_argument(
        "--provider-path",
        default=None,
        help="folder Grafana reads the JSON from (default: OUT/json, absolute; "
        f"the checked-in files use {DEFAULT_PROVIDER_PATH})",
    )
    build.add_argument("--registry", type=Path, default=None, help="registry CSV override")
    build.add_argument("--language", choices=["de", "en"], default=None)
    build.set_defaults(handler=_cmd_build)

    push_cmd = commands.add_parser(
        "push",
        parents=[config_parent],
        help="create/update folder, data source and dashboards in Grafana (token from env)",
    )
    push_cmd.add_argument("--grafana-url", default=None, help="e.g. http://127.0.0.1:3000")
    push_cmd.add_argument("--registry", type=Path, default=None, help="registry CSV override")
    push_cmd.add_argument("--language", choices=["de", "en"], default=None)
    push_cmd.set_defaults(handler=_cmd_push)

    report = subparsers.add_parser(
        "report", parents=[config_parent], help="monthly HTML report per municipality"
    )
    report.add_argument("--month", required=True, help="YYYY-MM")
    report.add_argument(
        "--municipality",
        action="append",
        default=None,
        help="municipality (Stabsstelle); repeat for several; default: all",
    )
    report.add_argument("--out", type=Path, required=True, help="output folder")
    report.add_argument("--registry", type=Path, default=None, help="registry CSV override")
    report.add_argument("--language", choices=["de", "en"], default=None)
    report.set_defaults(handler=_cmd_report)
    _add_export(subparsers, config_parent)
