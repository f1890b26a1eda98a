"""Type-check dashboard JSON against Grafana's published schema (@grafana/schema) with
the TypeScript compiler, both installed by `make install` into .cache/grafana-schema
from tests/dashboards/schema/package-lock.json."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
CACHE = REPO / ".cache" / "grafana-schema"
TSC = CACHE / "node_modules" / "typescript" / "bin" / "tsc"
TYPES = SCHEMA_DIR / "gwmon-dashboard.ts"


@dataclass(frozen=True)
class TscResult:
    returncode: int
    output: str
    files: dict[str, Path]  # name -> the .ts file written


def node_binary() -> str:
    """`node`, or fail the test loudly: the check never skips."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: run `make install` (Debian packages nodejs, npm)")
    if not TSC.exists():
        pytest.fail(f"{TSC} is missing: run `make install` (npm ci into {CACHE})")
    return node


def dashboard_source(dashboard: Mapping[str, Any]) -> str:
    """The dashboard as a TypeScript module; each panel checked as its own plugin's type."""

    def text(value: object, margin: str) -> str:  # laid out: tsc's line numbers say where
        return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n" + margin)

    fields = [
        f"  {json.dumps(key)}: {text(value, '  ')}"
        for key, value in dashboard.items()
        if key != "panels"
    ]
    panels = [
        f"    ({text(panel, '    ')}) satisfies PanelJson<{json.dumps(panel.get('type'))}>"
        for panel in dashboard.get("panels", [])
    ]
    fields.append('  "panels": [\n' + ",\n".join(panels) + "\n  ]")
    types = TYPES.with_suffix("").as_posix()
    return (
        f"import type {{ GwmonDashboardJson, PanelJson }} from {json.dumps(types)};\n\n"
        "export const dashboard: GwmonDashboardJson = {\n" + ",\n".join(fields) + "\n};\n"
    )


def type_check(dashboards: Mapping[str, Mapping[str, Any]], workdir: Path) -> TscResult:
    """Write one .ts file per dashboard into `workdir` and run tsc on all of them."""
    node = node_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name, dashboard in dashboards.items():
        path = workdir / f"{name}.ts"
        path.write_text(dashboard_source(dashboard), encoding="utf-8")
        files[name] = path
    config = {
        "extends": (SCHEMA_DIR / "tsconfig.json").as_posix(),
        "files": [TYPES.as_posix(), *(path.name for path in files.values())],
    }
    (workdir / "tsconfig.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    completed = subprocess.run(
        [node, str(TSC), "--project", str(workdir / "tsconfig.json"), "--pretty", "false"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return TscResult(completed.returncode, completed.stdout + completed.stderr, files)


def installed_version(package: str) -> str:
    manifest = CACHE / "node_modules" / package / "package.json"
    if not manifest.exists():
        pytest.fail(f"{package} is not installed in {CACHE}: run `make install`")
    version: str = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    return version
