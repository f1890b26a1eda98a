"""Node-RED as the side-by-side baseline: installed by the bench, started headless.

`ensure_installed` puts the pinned npm packages into `.cache/bench/node-red` (git-ignored)
once and reuses them; after that no network is needed. Each run gets a private user dir
with a settings file and a flow written here:

    mqtt in (gw/v1/+/data, QoS 1, MQTT 5)  ->  function "SenML to points"  ->  influxdb batch

The function does what a careful flow author would write: parse the pack, resolve the
SenML base fields, keep the readings whose name and unit it knows (canonical units only,
no conversions are needed for the bench's data), tag them with the probe's site and
municipality from the registry, and write the same measurement, tags and fields as gwmon
(`reading`: probe, site, municipality, quantity; value, lag_s) at millisecond precision.
It does not bound sizes, record rejections, check times or deduplicate: that is gwmon's
extra work, and part of what the comparison shows.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from bench._loads import REPO, ProbeInfo

from gwmon.ingest.devservers import free_port

NODE_RED_VERSION = "4.1.8"  # the 4.x line runs on Node 20 (5.x needs Node >= 22.9)
INFLUXDB_NODE_VERSION = "0.7.0"
CACHE = REPO / ".cache" / "bench" / "node-red"

# name -> (quantity, unit): the bench's data only uses canonical units.
QUANTITIES = {
    "nitrate": ("nitrate", "mg/L"),
    "level": ("level", "m"),
    "temperature": ("temperature", "Cel"),
    "conductivity": ("conductivity", "uS/cm"),
    "battery": ("battery", "%EL"),
}

FUNCTION = """
const probe = msg.topic.split("/")[2];
const where = REGISTRY[probe];
if (where === undefined) { return null; }
let pack;
try { pack = JSON.parse(msg.payload); } catch (e) { node.warn("invalid JSON"); return null; }
if (!Array.isArray(pack)) { return null; }
const nowS = Date.now() / 1000;
let bt = 0, bu;
const points = [];
for (const r of pack) {
    if (typeof r.bt === "number") { bt = r.bt; }
    if (typeof r.bu === "string") { bu = r.bu; }
    const known = QUANTITIES[r.n];
    const unit = r.u !== undefined ? r.u : bu;
    if (known === undefined || known[1] !== unit || typeof r.v !== "number") { continue; }
    const t = bt + (typeof r.t === "number" ? r.t : 0);
    points.push({
        measurement: "reading",
        tags: {probe: probe, site: where[0], municipality: where[1], quantity: known[0]},
        fields: {value: r.v, lag_s: nowS - t},
        timestamp: Math.round(t * 1000),
    });
}
if (points.length === 0) { return null; }
msg.payload = points;
return msg;
"""


class NodeRedInstallError(RuntimeError):
    """npm could not install Node-RED; the message holds npm's own output."""


def installed_versions(cache: Path = CACHE) -> dict[str, str]:
    versions = {}
    for name in ("node-red", "node-red-contrib-influxdb"):
        manifest = cache / "node_modules" / name / "package.json"
        if manifest.exists():
            versions[name] = str(json.loads(manifest.read_text())["version"])
    return versions


def ensure_installed(cache: Path = CACHE) -> Path:
    """The folder with node_modules/node-red, installing the pinned versions if missing."""
    wanted = {"node-red": NODE_RED_VERSION, "node-red-contrib-influxdb": INFLUXDB_NODE_VERSION}
    if installed_versions(cache) == wanted:
        return cache
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        msg = "Node-RED needs node and npm: apt-get install nodejs npm (Node >= 18)"
        raise NodeRedInstallError(msg)
    cache.mkdir(parents=True, exist_ok=True)
    manifest = {"name": "gwmon-bench-node-red", "private": True, "dependencies": wanted}
    (cache / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--omit=dev", "--loglevel=error"],
        cwd=cache,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if result.returncode != 0 or installed_versions(cache) != wanted:
        msg = (
            f"npm install in {cache} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
        raise NodeRedInstallError(msg)
    return cache


def function_code(probes: list[ProbeInfo]) -> str:
    registry = {p.probe_id: [p.site, p.municipality] for p in probes}
    return (
        f"const REGISTRY = {json.dumps(registry, ensure_ascii=False)};\n"
        f"const QUANTITIES = {json.dumps(QUANTITIES)};\n" + FUNCTION
    )


def write_user_dir(
    user_dir: Path,
    *,
    mqtt_port: int,
    influx_port: int,
    database: str,
    probes: list[ProbeInfo],
) -> Path:
    """Settings and flow of one run; returns the settings file."""
    user_dir.mkdir(parents=True, exist_ok=True)
    flow = [
        {"id": "bench-tab", "type": "tab", "label": "gwmon bench", "disabled": False},
        {
            "id": "bench-broker",
            "type": "mqtt-broker",
            "name": "private mosquitto",
            "broker": "127.0.0.1",
            "port": str(mqtt_port),
            "clientid": "bench-node-red",
            "autoConnect": True,
            "usetls": False,
            "protocolVersion": "5",
            "keepalive": "60",
            "cleansession": True,
            "autoUnsubscribe": True,
            "birthTopic": "",
            "closeTopic": "",
            "willTopic": "",
        },
        {
            "id": "bench-influx",
            "type": "influxdb",
            "hostname": "127.0.0.1",
            "port": str(influx_port),
            "protocol": "http",
            "database": database,
            "name": "private influxdb",
            "usetls": False,
            "tls": "",
            "influxdbVersion": "1.x",
            "url": "",
            "rejectUnauthorized": False,
        },
        {
            "id": "bench-in",
            "type": "mqtt in",
            "z": "bench-tab",
            "name": "probes",
            "topic": "gw/v1/+/data",
            "qos": "1",
            "datatype": "utf8",
            "broker": "bench-broker",
            "nl": False,
            "rap": True,
            "rh": 0,
            "inputs": 0,
            "x": 120,
            "y": 80,
            "wires": [["bench-fn"]],
        },
        {
            "id": "bench-fn",
            "type": "function",
            "z": "bench-tab",
            "name": "SenML to points",
            "func": function_code(probes),
            "outputs": 1,
            "timeout": 0,
            "noerr": 0,
            "initialize": "",
            "finalize": "",
            "libs": [],
            "x": 320,
            "y": 80,
            "wires": [["bench-out"]],
        },
        {
            "id": "bench-out",
            "type": "influxdb batch",
            "z": "bench-tab",
            "influxdb": "bench-influx",
            "precision": "ms",
            "retentionPolicy": "",
            "name": "reading",
            "database": "",
            "precisionV18FluxV20": "ms",
            "retentionPolicyV18Flux": "",
            "org": "",
            "bucket": "",
            "x": 520,
            "y": 80,
            "wires": [],
        },
    ]
    (user_dir / "flows.json").write_text(json.dumps(flow, indent=1, ensure_ascii=False))
    settings = user_dir / "settings.js"
    # httpAdminRoot and httpNodeRoot false: headless (no editor, admin API or HTTP nodes),
    # so no port is opened; uiHost/uiPort only matter if someone re-enables them.
    settings.write_text(
        "module.exports = "
        + json.dumps(
            {
                "flowFile": "flows.json",
                "userDir": str(user_dir),
                "credentialSecret": False,
                "httpAdminRoot": False,
                "httpNodeRoot": False,
                "uiHost": "127.0.0.1",
                "uiPort": free_port(),
                "diagnostics": {"enabled": False, "ui": False},
                "runtimeState": {"enabled": False},
                "telemetry": {"enabled": False, "updateNotification": False},
                "externalModules": {
                    "autoInstall": False,
                    "palette": {"allowInstall": False},
                    "modules": {"allowInstall": False},
                },
                "logging": {"console": {"level": "info", "metrics": False, "audit": False}},
                "functionExternalModules": False,
            },
            indent=1,
        )
        + ";\n"
    )
    return settings


def command(cache: Path, user_dir: Path, settings: Path) -> list[str]:
    node = shutil.which("node") or "node"
    red = cache / "node_modules" / "node-red" / "red.js"
    return [node, str(red), "--userDir", str(user_dir), "--settings", str(settings)]
