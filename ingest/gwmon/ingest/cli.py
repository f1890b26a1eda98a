"""`gwmon probes ...`: the ingest's own commands (registered by the composition root)."""

from __future__ import annotations

import argparse
import sys

from gwmon.config import ConfigError
from gwmon.ingest._config import load_config
from gwmon.ingest._enrol import EnrolError, enrol
from gwmon.ingest._registry import RegistryError, load_registry


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
