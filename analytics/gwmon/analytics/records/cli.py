"""`gwmon dips import|list`, `gwmon corrections add|list|revert`, `gwmon approve`
(wired by gwmon/cli.py; docs/data-management.md).

Exit codes: 0 done; 1 InfluxDB failed, or (dips import) some rows were skipped while the
others were imported; 2 the request was refused (invalid argument, unknown probe, an
approved period) or the configuration is invalid. Times are ISO 8601 with a UTC offset.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gwmon.analytics._book import StoredAlertBook
from gwmon.analytics.cli import format_table
from gwmon.analytics.records._approvals import approve
from gwmon.analytics.records._corrections import (
    CorrectionRequest,
    RecordsError,
    add_correction,
    end_value_from_dips,
    revert_correction,
)
from gwmon.analytics.records._dips import DriftAction, check_drift, import_dips
from gwmon.analytics.records._model import ApprovalLevel, Correction, CorrectionKind
from gwmon.analytics.records._settings import RecordsSettings, load_settings
from gwmon.analytics.records._store import RecordsStore
from gwmon.config import ConfigError
from gwmon.ingest import (
    CANONICAL_QUANTITIES,
    DipsFileError,
    GwmonConfig,
    Registry,
    RegistryError,
    TimeFormatError,
    format_time_ns,
    load_config,
    load_configured_registry,
    parse_time_ns,
)
from gwmon.storage import InfluxClient, StoreError

EXIT_RUNTIME = 1
EXIT_REFUSED = 2
MAX_NAME_CHARS = 64
MAX_WHY_CHARS = 500
_NS = 1_000_000_000

Handler = Callable[[argparse.Namespace], int]


class _Context:
    """What every records command needs: config, registry, settings and the store."""

    def __init__(self, config: GwmonConfig, writer: str) -> None:
        self.config = config
        self.registry: Registry = load_configured_registry(config)
        self.settings: RecordsSettings = load_settings(config)
        self.client = InfluxClient(config.influxdb)
        self.store = RecordsStore(self.client, writer=writer)

    @property
    def tolerance_ns(self) -> int:
        return round(self.settings.dip_match_tolerance_s * _NS)


def _guarded(writer: str, handler: Callable[[argparse.Namespace, _Context], int]) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            context = _Context(load_config(args.config), writer)
        except (ConfigError, RegistryError) as exc:
            print(f"gwmon: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        try:
            return handler(args, context)
        except (RecordsError, DipsFileError) as exc:
            print(f"gwmon: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        except StoreError as exc:
            print(f"gwmon: InfluxDB: {exc}", file=sys.stderr)
            return EXIT_RUNTIME
        finally:
            context.client.close()

    return run


# -- argument checks ------------------------------------------------------------------------------
def _time(text: str, option: str) -> int:
    try:
        return parse_time_ns(text, what=option)
    except TimeFormatError as exc:
        raise RecordsError(str(exc)) from None


def _text(value: str, option: str, limit: int) -> str:
    cleaned = value.strip()
    if not cleaned or len(cleaned) > limit or not cleaned.isprintable():
        msg = f"{option} must be 1 to {limit} printable characters"
        raise RecordsError(msg)
    return cleaned


def _series(context: _Context, probe: str, quantity: str) -> None:
    if probe not in context.registry:
        msg = f"probe {probe!r} is not in the registry ({context.config.registry_path})"
        raise RecordsError(msg)
    if quantity not in CANONICAL_QUANTITIES:
        msg = f"--quantity {quantity!r} is not one of {', '.join(sorted(CANONICAL_QUANTITIES))}"
        raise RecordsError(msg)


def _emit(rows: list[dict[str, Any]], fmt: str, headers: Sequence[str], what: str) -> None:
    if fmt == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = [["" if row[h] is None else str(row[h]) for h in headers] for row in rows]
    print(format_table(headers, table))
    print(f"\n{len(rows)} {what}")


def _say_drift(actions: Sequence[DriftAction]) -> None:
    for action in actions:
        alert = action.outcome.alert
        if action.outcome.action is not None and alert is not None:
            print(f"drift alert {action.outcome.action}: {alert.alert_id} ({alert.message})")


# -- gwmon dips ------------------------------------------------------------------------------------
def _dips_import(args: argparse.Namespace, context: _Context) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordsError(f"cannot read {path}: {exc.strerror or exc}") from None
    done = import_dips(
        context.store,
        StoredAlertBook(context.client, writer="gwmon-dips"),
        context.registry,
        data,
        source_name=str(path),
        tolerance_s=context.settings.dip_match_tolerance_s,
    )
    for problem in done.skipped:
        print(f"{path}: {problem}; skipped", file=sys.stderr)
    print(f"imported {done.written} dip(s) from {path}; {len(done.skipped)} row(s) skipped")
    _say_drift(done.drift)
    return EXIT_RUNTIME if done.skipped else 0


def _dips_list(args: argparse.Namespace, context: _Context) -> int:
    rows = [
        {
            "probe": dip.probe,
            "time": format_time_ns(dip.time_ns),
            "depth_below_mp_m": dip.depth_below_mp_m,
            "measuring_point_m_nhn": dip.measuring_point_m_nhn,
            "level_m_nhn": dip.level_m_nhn,
            "depth_below_ground_m": dip.depth_below_ground_m,
            "logger_level_m_nhn": dip.logger_level_m_nhn,
            "logger_offset_m": dip.logger_offset_m,
            "logger_time": None
            if dip.logger_time_ns is None
            else format_time_ns(dip.logger_time_ns),
            "by": dip.by,
            "note": dip.note,
            "source": dip.source,
        }
        for dip in context.store.dips(args.probe)
    ]
    headers = ["probe", "time", "depth_below_mp_m", "level_m_nhn", "logger_offset_m", "by", "note"]
    _emit(rows, args.format, headers, "dip(s)")
    return 0


# -- gwmon corrections ----------------------------------------------------------------------------
def _correction_row(correction: Correction) -> dict[str, Any]:
    return {
        "id": correction.correction_id,
        "probe": correction.probe,
        "quantity": correction.quantity,
        "kind": correction.kind.value,
        "state": correction.state.value,
        "sequence": correction.sequence,
        "from": format_time_ns(correction.from_ns),
        "to": format_time_ns(correction.to_ns),
        "value": correction.value,
        "by": correction.by,
        "why": correction.why,
        "created_at": format_time_ns(round(correction.created_at_s * _NS)),
        "reverted_by": correction.reverted_by,
        "reverted_why": correction.reverted_why,
        "reverted_at": None
        if correction.reverted_at_s is None
        else format_time_ns(round(correction.reverted_at_s * _NS)),
    }


def _request(args: argparse.Namespace, context: _Context) -> tuple[CorrectionRequest, str]:
    _series(context, args.probe, args.quantity)
    kind = CorrectionKind(args.kind)
    from_ns, to_ns = _time(args.from_time, "--from"), _time(args.to_time, "--to")
    value: float | None = args.value if kind == CorrectionKind.OFFSET else args.end_value
    if kind != CorrectionKind.OFFSET and args.value is not None:
        raise RecordsError("--value belongs to --kind offset (a drift takes --end-value)")
    if kind != CorrectionKind.DRIFT and (args.end_value is not None or args.from_dips):
        raise RecordsError("--end-value and --from-dips belong to --kind drift")
    note = ""
    if args.from_dips:
        if args.end_value is not None:
            raise RecordsError("give either --end-value or --from-dips, not both")
        value, how = end_value_from_dips(
            context.store, args.probe, args.quantity, to_ns, context.tolerance_ns
        )
        note = f"; end value {value:+g} from the dips ({how})"
    request = CorrectionRequest(
        probe=args.probe,
        quantity=args.quantity,
        kind=kind,
        from_ns=from_ns,
        to_ns=to_ns,
        value=value,
        by=_text(args.by, "--by", MAX_NAME_CHARS),
        why=_text(args.why, "--why", MAX_WHY_CHARS),
    )
    return request, note


def _recheck_drift(context: _Context, correction: Correction) -> None:
    if correction.quantity != "level":
        return
    probe = context.registry.get(correction.probe)
    if probe is None:
        return
    book = StoredAlertBook(context.client, writer="gwmon-corrections")
    now_ns = round(time.time() * _NS)
    _say_drift(
        check_drift(
            context.store,
            book,
            [probe],
            context.tolerance_ns,
            now_ns=now_ns,
            correction=correction.correction_id,
        )
    )


def _corrections_add(args: argparse.Namespace, context: _Context) -> int:
    request, note = _request(args, context)
    correction, done = add_correction(context.store, request)
    value = "" if correction.value is None else f" {correction.value:+g}"
    print(
        f"added {correction.correction_id}: {correction.kind.value}{value} over "
        f"{format_time_ns(correction.from_ns)} .. {format_time_ns(correction.to_ns)}{note}"
    )
    print(f"corrected series: {done.points} point(s) recomputed in {done.seconds:.2f} s")
    _recheck_drift(context, correction)
    return 0


def _corrections_list(args: argparse.Namespace, context: _Context) -> int:
    rows = [_correction_row(c) for c in context.store.corrections(args.probe)]
    headers = ["id", "kind", "state", "from", "to", "value", "by", "why", "reverted_by"]
    _emit(rows, args.format, headers, "correction(s)")
    return 0


def _corrections_revert(args: argparse.Namespace, context: _Context) -> int:
    reverted, done = revert_correction(
        context.store,
        args.correction_id,
        by=_text(args.by, "--by", MAX_NAME_CHARS),
        why=_text(args.why, "--why", MAX_WHY_CHARS),
    )
    print(f"reverted {reverted.correction_id} ({reverted.kind.value})")
    print(f"corrected series: {done.points} point(s) recomputed in {done.seconds:.2f} s")
    _recheck_drift(context, reverted)
    return 0


# -- gwmon approve ------------------------------------------------------------------------------
def _approve(args: argparse.Namespace, context: _Context) -> int:
    _series(context, args.probe, args.quantity)
    step, levels = approve(
        context.store,
        probe=args.probe,
        quantity=args.quantity,
        from_ns=_time(args.from_time, "--from"),
        to_ns=_time(args.to_time, "--to"),
        level=ApprovalLevel(args.level),
        by=_text(args.by, "--by", MAX_NAME_CHARS),
        why=None if args.why is None else _text(args.why, "--why", MAX_WHY_CHARS),
    )
    print(
        f"{step.approval_id}: {step.probe} {step.quantity} {format_time_ns(step.from_ns)} .. "
        f"{format_time_ns(step.to_ns)} set to {step.level.value} by {step.by}"
    )
    for part in levels:
        print(
            f"  {format_time_ns(part.from_ns)} .. {format_time_ns(part.to_ns)}: {part.level.value}"
        )
    return 0


# -- parsers ------------------------------------------------------------------------------------
def _add_series_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--probe", required=True, help="probe_id from the registry")
    parser.add_argument("--quantity", required=True, help="e.g. level, depth, nitrate")
    parser.add_argument(
        "--from", dest="from_time", required=True, metavar="T", help="ISO 8601 with offset"
    )
    parser.add_argument("--to", dest="to_time", required=True, metavar="T", help="inclusive")


def _register_dips(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    dips = commands.add_parser("dips", help="manual dips (Abstich): import and list")
    sub = dips.add_subparsers(dest="dips_command", required=True, metavar="COMMAND")
    imported = sub.add_parser(
        "import",
        parents=[parent],
        help="import a dips CSV (probe_id,time,depth_below_mp_m,by,note)",
        description="Import manual dips; bad rows are reported by line and skipped; "
        "importing a file again changes nothing. Opens or resolves `drift` alerts.",
    )
    imported.add_argument("file", metavar="FILE")
    imported.set_defaults(handler=_guarded("gwmon-dips", _dips_import))
    listing = sub.add_parser("list", parents=[parent], help="stored dips with logger offsets")
    listing.add_argument("--probe", help="only this probe_id")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(handler=_guarded("gwmon-dips", _dips_list))


def _register_corrections(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    corrections = commands.add_parser(
        "corrections", help="corrections applied on read (raw data is never changed)"
    )
    sub = corrections.add_subparsers(dest="corrections_command", required=True, metavar="COMMAND")
    add = sub.add_parser("add", parents=[parent], help="add an offset, drift or delete")
    _add_series_options(add)
    add.add_argument("--kind", required=True, choices=[k.value for k in CorrectionKind])
    values = add.add_mutually_exclusive_group()
    values.add_argument("--value", type=float, help="offset: the constant added")
    values.add_argument("--end-value", type=float, help="drift: the offset reached at --to")
    add.add_argument(
        "--from-dips",
        action="store_true",
        help="drift: the end value from the dip nearest to --to (docs/data-management.md)",
    )
    add.add_argument("--by", required=True, help="who makes the correction")
    add.add_argument("--why", required=True, help="why (kept with the operation)")
    add.set_defaults(handler=_guarded("gwmon-corrections", _corrections_add))
    listing = sub.add_parser("list", parents=[parent], help="operations in order, with state")
    listing.add_argument("--probe", help="only this probe_id")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(handler=_guarded("gwmon-corrections", _corrections_list))
    revert = sub.add_parser("revert", parents=[parent], help="revert an operation (kept)")
    revert.add_argument("correction_id", metavar="ID")
    revert.add_argument("--by", required=True)
    revert.add_argument("--why", required=True)
    revert.set_defaults(handler=_guarded("gwmon-corrections", _corrections_revert))


def register_cli(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    config_parent: argparse.ArgumentParser,
) -> None:
    _register_dips(subparsers, config_parent)
    _register_corrections(subparsers, config_parent)
    approval = subparsers.add_parser(
        "approve",
        parents=[config_parent],
        help="set the approval level of a period (raw, checked, approved)",
        description="Set the approval level of a period of one series; every step is "
        "kept. An approved period refuses corrections until it is set back.",
    )
    _add_series_options(approval)
    approval.add_argument(
        "--level", required=True, choices=[level.value for level in ApprovalLevel]
    )
    approval.add_argument("--by", required=True, help="who sets the level")
    approval.add_argument("--why", help="comment")
    approval.set_defaults(handler=_guarded("gwmon-approve", _approve))
