"""`gwmon trend`, `gwmon alerts list`, `gwmon alerts ack` (wired by gwmon/cli.py)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gwmon.analytics._book import StoredAlertBook
from gwmon.analytics._codec import alert_to_json, to_datetime
from gwmon.analytics._lifecycle import ALERT_ID_PATTERN
from gwmon.analytics._model import AlertState
from gwmon.analytics._settings import load_settings
from gwmon.config import ConfigError
from gwmon.ingest import (
    GwmonConfig,
    Registry,
    RegistryError,
    load_config,
    load_configured_registry,
)
from gwmon.storage import InfluxClient, StoreError

if TYPE_CHECKING:
    from gwmon.analytics._trend import TrendReport

Handler = Callable[[argparse.Namespace], int]
ACK_WRITER = "gwmon-alerts-ack"  # names `gwmon alerts ack` in `rejected` if InfluxDB refuses


def register_cli(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    config_parent: argparse.ArgumentParser,
) -> None:
    trend = subparsers.add_parser(
        "trend",
        parents=[config_parent],
        help="GrwV Anlage 6 trend test (Mann-Kendall, Sen's slope) of each probe's nitrate",
        description=(
            "Run the Mann-Kendall trend test on each probe's nitrate series, store the "
            "results (measurement `trend`) and open or resolve `trend` alerts. A running "
            "`gwmon run` announces those alerts (mail) within [analytics] ack_poll_interval_s."
        ),
    )
    trend.add_argument("--probe", help="only this probe_id")
    trend.add_argument("--since", help="first day to use, e.g. 2021-01-01 (UTC)")
    trend.add_argument("--format", choices=("table", "json", "csv"), default="table")
    trend.add_argument(
        "--no-alerts", action="store_true", help="store results but do not open/resolve alerts"
    )
    trend.set_defaults(handler=_guarded(_trend))

    alerts = subparsers.add_parser("alerts", help="list and acknowledge alerts")
    commands = alerts.add_subparsers(dest="alerts_command", required=True, metavar="COMMAND")
    listing = commands.add_parser(
        "list", parents=[config_parent], help="alerts with their present state"
    )
    listing.add_argument("--open", action="store_true", help="only open or acknowledged alerts")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(handler=_guarded(_list))
    ack = commands.add_parser("ack", parents=[config_parent], help="acknowledge an alert")
    ack.add_argument("alert_id", metavar="ID")
    ack.add_argument("--by", required=True, help="who acknowledges (name)")
    ack.add_argument("--comment", help="free text")
    ack.set_defaults(handler=_guarded(_ack))


def _guarded(handler: Callable[[argparse.Namespace, GwmonConfig], int]) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            config = load_config(args.config)
            return handler(args, config)
        except (ConfigError, RegistryError) as exc:
            print(f"gwmon: {exc}", file=sys.stderr)
            return 2
        except StoreError as exc:
            print(f"gwmon: InfluxDB: {exc}", file=sys.stderr)
            return 1

    return run


def _registry(config: GwmonConfig) -> Registry:
    return load_configured_registry(config)


def _parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        msg = f"--since {text!r} is not a date (use e.g. 2021-01-01 or 2021-01-01T00:00:00Z)"
        raise ConfigError(msg, source="command line", key="since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return to_datetime(round(seconds * 1e9)).strftime("%Y-%m-%d %H:%M")


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def _trend_rows(reports: Sequence[TrendReport]) -> list[dict[str, Any]]:
    rows = []
    for report in reports:
        result = report.result
        rows.append(
            {
                "probe": report.probe.probe_id,
                "site": report.probe.site,
                "n": result.n,
                "s": result.s,
                "tau": result.tau,
                "z": result.z,
                "p": result.p,
                "slope_mg_l_per_year": result.slope_per_year,
                "verdict": result.verdict,
                "alpha": result.alpha,
                "autocorrelation": result.autocorrelation,
                "variance_factor": result.variance_factor,
                "reversal_start_mg_l": result.reversal_start,
                "reversal_start_reached": result.reversal_start_reached,
                "below_loq": result.below_loq,
                "flagged_excluded": report.flagged_excluded,
                "first": _fmt_time(result.first_s),
                "last": _fmt_time(result.last_s),
                "reason": result.reason or "",
                "alert_id": report.alert.alert_id if report.alert else "",
                "alert_action": report.alert_action or "",
                "approval_levels": ",".join(report.approval_levels),
            }
        )
    return rows


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows under their headers in aligned columns (the `--format table` of the CLI)."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.extend(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
    return "\n".join(lines)


def _trend(args: argparse.Namespace, config: GwmonConfig) -> int:
    settings = load_settings(config).trend
    registry = _registry(config)
    if args.no_alerts:
        settings = settings.model_copy(update={"open_alerts": False})
    since = _parse_since(args.since)
    if args.probe is not None:
        probe = registry.get(args.probe)
        if probe is None:
            print(f"gwmon: probe {args.probe!r} is not in the registry", file=sys.stderr)
            return 2
        probes = [probe]
    else:
        probes = list(registry)
    # Imported here: the trend test brings numpy, which the other commands do not need.
    from gwmon.analytics._trend import run_trend  # noqa: PLC0415

    store = InfluxClient(config.influxdb)
    try:
        reports = run_trend(store, probes, settings, since=since)
    finally:
        store.close()
    rows = _trend_rows(reports)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["probe"])
        writer.writeheader()
        writer.writerows(rows)
        print(buffer.getvalue(), end="")
    else:
        headers = [
            "probe",
            "n",
            "S",
            "tau",
            "p",
            "Sen mg/L/a",
            "verdict",
            ">=reversal",
            "alert",
            "note",
        ]
        table = [
            [
                row["probe"],
                str(row["n"]),
                "" if row["s"] is None else str(row["s"]),
                _fmt(row["tau"], 3),
                _fmt(row["p"], 3),
                "" if row["slope_mg_l_per_year"] is None else f"{row['slope_mg_l_per_year']:+.3f}",
                row["verdict"],
                "yes" if row["reversal_start_reached"] else "no",
                f"{row['alert_action']} {row['alert_id']}".strip(),
                row["reason"],
            ]
            for row in rows
        ]
        print(format_table(headers, table))
        print(
            f"\nalpha = {settings.alpha:g}, autocorrelation = {settings.autocorrelation}, one "
            f"value per {settings.sample_interval_s:g} s, values < LOQ count as LOQ/2"
        )
        used = "; ".join(f"{row['probe']} {row['approval_levels'] or '-'}" for row in rows)
        print(f"corrected series; approval levels of the values used: {used}")
    return 0


def _list(args: argparse.Namespace, config: GwmonConfig) -> int:
    store = InfluxClient(config.influxdb)
    try:
        alerts = StoredAlertBook(store).alerts()
    finally:
        store.close()
    if args.open:
        alerts = [alert for alert in alerts if alert.state != AlertState.RESOLVED]
    if args.format == "json":
        print(json.dumps([alert_to_json(alert) for alert in alerts], indent=2))
        return 0
    when = "%Y-%m-%d %H:%M"
    rows = [
        [
            alert.alert_id,
            alert.state.value + (" (withdrawn)" if alert.withdrawn else ""),
            alert.severity.value,
            alert.opened_at.strftime(when),
            alert.resolved_at.strftime(when) if alert.resolved_at else "",
            "" if alert.value is None else f"{alert.value:g} {alert.unit}",
            alert.acked_by or "",
        ]
        for alert in alerts
    ]
    headers = ["id", "state", "severity", "opened (UTC)", "resolved (UTC)", "value", "acked by"]
    print(format_table(headers, rows))
    print(f"\n{len(alerts)} alert(s)")
    return 0


def _ack(args: argparse.Namespace, config: GwmonConfig) -> int:
    if not ALERT_ID_PATTERN.fullmatch(args.alert_id):
        print(
            f"gwmon: {args.alert_id!r} is not an alert id (e.g. LE-07.breach.20261126T100000Z; "
            "see `gwmon alerts list`)",
            file=sys.stderr,
        )
        return 2
    store = InfluxClient(config.influxdb)
    try:
        book = StoredAlertBook(store, writer=ACK_WRITER)
        alert = book.get(args.alert_id)
        if alert is None:
            print(f"gwmon: no alert {args.alert_id} (see `gwmon alerts list`)", file=sys.stderr)
            return 1
        if alert.acked_at is not None:
            print(
                f"{alert.alert_id} was already acknowledged by {alert.acked_by} at "
                f"{alert.acked_at:%Y-%m-%d %H:%M} UTC"
            )
            return 0
        acked = book.acknowledge(args.alert_id, by=args.by, comment=args.comment)
    finally:
        store.close()
    print(
        f"acknowledged {acked.alert_id} ({acked.state.value}); a running `gwmon run` takes it "
        "over within [analytics] ack_poll_interval_s"
    )
    return 0
