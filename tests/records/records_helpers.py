"""A records rig: registry, well geometry, config and a real InfluxDB database, the
`gwmon` CLI run in-process, raw readings seeded through the storage contract."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gwmon.cli import main
from gwmon.ingest import format_time_ns
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import READING, InfluxClient, InfluxSettings

NS = 1_000_000_000
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
HOUR = 3600
RESURVEY = "2026-01-10T00:00:00Z"  # P-1's well was re-surveyed then

REGISTRY = """\
probe_id,site,municipality,lat,lon,ground_level_m_nhn,measuring_point_m_nhn,drift_tolerance_m
P-1,Teststelle,Thallwitz,51.4,12.68,112.9,113.5,
P-2,Zweite Stelle,Wurzen,51.37,12.74,120.0,120.6,0.05
P-3,Ohne Messpunkt,Lossatal,51.40,12.80,118.0,,
"""
GEOMETRY = f"""\
probe_id,valid_from,valid_to,measuring_point_m_nhn,ground_level_m_nhn,sensor_depth_below_mp_m
P-1,{RESURVEY},,113.40,112.80,20
"""


def at(hour: float) -> int:
    """Nanoseconds `hour` hours after T0."""
    return round((T0 + hour * HOUR) * NS)


def iso(hour: float) -> str:
    """ISO 8601 (UTC, Z) of `hour` hours after T0, as an operator types it."""
    return format_time_ns(at(hour))


@dataclass
class RecordsRig:
    directory: Path
    database: InfluxDatabase
    capsys: pytest.CaptureFixture[str]

    @property
    def config_path(self) -> Path:
        return self.directory / "gwmon.toml"

    def client(self) -> InfluxClient:
        return InfluxClient(InfluxSettings(url=self.database.url, database=self.database.name))

    def gwmon(self, *argv: str) -> tuple[int, str, str]:
        """Run `gwmon ARGV --config ...`; its exit code, stdout and stderr."""
        self.capsys.readouterr()
        command, *rest = argv
        sub = [command]
        if command in ("dips", "corrections"):
            sub, rest = [command, rest[0]], rest[1:]
        code = main([*sub, "--config", str(self.config_path), *rest])
        out = self.capsys.readouterr()
        return code, out.out, out.err

    def gwmon_json(self, *argv: str) -> list[dict[str, Any]]:
        code, out, err = self.gwmon(*argv, "--format", "json")
        assert code == 0, err
        rows: list[dict[str, Any]] = json.loads(out)
        return rows

    def seed(
        self,
        values: Sequence[tuple[float, float]],
        *,
        probe: str = "P-1",
        quantity: str = "level",
        censored_hours: Sequence[float] = (),
    ) -> None:
        """Raw readings (hour, value) of one series, as the ingest stores them."""
        lines = []
        for hour, value in values:
            fields: dict[str, Any] = {"value": value, "lag_s": 5.0}
            if hour in censored_hours:
                fields["censored"] = True
            tags = {"probe": probe, "site": "Teststelle", "municipality": "Thallwitz"}
            point = READING.point({**tags, "quantity": quantity}, fields, at(hour))
            lines.append(point.to_line())
        client = self.client()
        try:
            client.write_lines(lines)
        finally:
            client.close()

    def raw_dump(self) -> str:
        """Everything in `reading`, as InfluxDB returns it: compared byte for byte."""
        return json.dumps(self.database.query("SELECT * FROM reading"), sort_keys=True)

    def corrected(self, probe: str = "P-1", quantity: str = "level") -> list[dict[str, Any]]:
        return self.database.rows(
            f"SELECT * FROM reading_corrected WHERE probe = '{probe}' AND quantity = '{quantity}'"
        )

    def corrected_values(self, probe: str = "P-1", quantity: str = "level") -> list[float]:
        return [row["value"] for row in self.corrected(probe, quantity)]


def make_rig(
    tmp_path: Path,
    database: InfluxDatabase,
    capsys: pytest.CaptureFixture[str],
    *,
    records: str = "",
) -> RecordsRig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "registry.csv").write_text(REGISTRY, encoding="utf-8")
    (tmp_path / "geometry.csv").write_text(GEOMETRY, encoding="utf-8")
    (tmp_path / "gwmon.toml").write_text(
        f"""
[mqtt]
url = "mqtt://127.0.0.1:1883"
client_id = "gwmon-records-test"
[influxdb]
url = "{database.url}"
database = "{database.name}"
[registry]
path = "registry.csv"
geometry_path = "geometry.csv"
[records]
{records}
""",
        encoding="utf-8",
    )
    return RecordsRig(tmp_path, database, capsys)
