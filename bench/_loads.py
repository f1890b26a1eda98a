"""The message sets of the side-by-side bench: pre-encoded SenML, one file per publisher.

Every system gets byte-identical payloads. Times lie in the past (no `future_time`
rejection) and are unique per probe and quantity, so every reading is its own InfluxDB
point and "all stored" is an exact count. Values move slowly (no QC flag, no alarm), so
the analytics do their normal work on every reading without opening alerts.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO_REGISTRY = REPO / "examples" / "registry-wertvoll.csv"

DAY_S = 86_400
HOUR_S = 3_600
CYCLES_PER_PACK = 24  # one day of hourly samples
QUANTITIES_PER_CYCLE = 4  # nitrate, level, temperature, conductivity
PACK_READINGS = CYCLES_PER_PACK * QUANTITIES_PER_CYCLE  # 96, as in the issue


@dataclass(frozen=True)
class ProbeInfo:
    """What a flow needs from the registry: tags and a plausible groundwater level."""

    probe_id: str
    site: str
    municipality: str
    level_m_nhn: float


def read_registry(path: Path = DEMO_REGISTRY) -> list[ProbeInfo]:
    """The probes of a registry CSV (comma-separated, as the demo's)."""
    probes = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            low, high = row.get("level_min_m_nhn") or "", row.get("level_max_m_nhn") or ""
            if low and high:
                level = (float(low) + float(high)) / 2  # inside the alarm band
            else:
                level = float(row["ground_level_m_nhn"]) - 5.0
            probes.append(
                ProbeInfo(row["probe_id"], row["site"], row["municipality"], round(level, 2))
            )
    return probes


def compact(records: list[dict[str, object]]) -> str:
    return json.dumps(records, separators=(",", ":"))


def nitrate_value(index: int) -> float:
    """A slow sawtooth, 20.0 .. 23.9 mg/L: no spike, no flatline, below the warning."""
    return round(20 + (index % 40) * 0.1, 1)


def single_payload(probe: ProbeInfo, time_s: int, index: int) -> str:
    """One reading per message (the firmware's live mode)."""
    return compact(
        [
            {
                "bn": f"{probe.probe_id}:",
                "bt": time_s,
                "n": "nitrate",
                "u": "mg/L",
                "v": nitrate_value(index),
            }
        ]
    )


def pack_payload(probe: ProbeInfo, base_s: int, day: int) -> str:
    """A day of hourly cycles, four quantities each: 96 readings (a backfill pack)."""
    records: list[dict[str, object]] = []
    for hour in range(CYCLES_PER_PACK):
        index = day * CYCLES_PER_PACK + hour
        cycle: tuple[tuple[str, str, float], ...] = (
            ("nitrate", "mg/L", nitrate_value(index)),
            ("level", "m", round(probe.level_m_nhn + (index % 20) * 0.01, 2)),
            ("temperature", "Cel", round(10 + (index % 10) * 0.1, 1)),
            ("conductivity", "uS/cm", 600 + index % 30),
        )
        for name, unit, value in cycle:
            record: dict[str, object] = {"n": name, "u": unit, "v": value}
            if hour:
                record = {"t": hour * HOUR_S, **record}
            records.append(record)
    records[0] = {"bn": f"{probe.probe_id}:", "bt": base_s, **records[0]}
    return compact(records)


@dataclass(frozen=True)
class Load:
    """One message set: `files[i]` holds the lines publisher i sends to `topics[i]`."""

    name: str
    label: str
    readings_per_message: int
    messages_per_publisher: int
    files: tuple[Path, ...]
    topics: tuple[str, ...]
    last_start_s: int  # first measurement time of every publisher's last message

    @property
    def tail(self) -> tuple[int, int]:
        """(ns, readings): the readings at or after the last messages' first time, one
        message per publisher (times grow along each file, the same in every file)."""
        return self.last_start_s * 1_000_000_000, len(self.files) * self.readings_per_message

    @property
    def messages(self) -> int:
        return self.messages_per_publisher * len(self.files)

    @property
    def readings(self) -> int:
        return self.messages * self.readings_per_message


def history_start(days_back: int) -> int:
    """A midnight (UTC) `days_back` days ago: the first measurement time of a load."""
    today = int(time.time()) // DAY_S * DAY_S
    return today - days_back * DAY_S


def make_load(
    kind: str, probes: list[ProbeInfo], messages_per_publisher: int, folder: Path
) -> Load:
    """Write the message files of `kind` ("single" or "pack96"), one probe per publisher."""
    folder.mkdir(parents=True, exist_ok=True)
    files, topics = [], []
    if kind == "single":
        start = history_start(messages_per_publisher // (DAY_S // 60) + 2)
    else:
        start = history_start(messages_per_publisher + 2)
    for probe in probes:
        lines = []
        for index in range(messages_per_publisher):
            if kind == "single":
                lines.append(single_payload(probe, start + index * 60, index))
            else:
                lines.append(pack_payload(probe, start + index * DAY_S, index))
        path = folder / f"{kind}-{probe.probe_id}.senml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(path)
        topics.append(f"gw/v1/{probe.probe_id}/data")
    last = messages_per_publisher - 1
    if kind == "single":
        return Load(
            "single",
            "one reading per message",
            1,
            messages_per_publisher,
            (*files,),
            (*topics,),
            start + last * 60,
        )
    return Load(
        "pack96",
        f"packs of {PACK_READINGS} readings",
        PACK_READINGS,
        messages_per_publisher,
        (*files,),
        (*topics,),
        start + last * DAY_S,
    )


def warmup_payload(probe: ProbeInfo) -> str:
    """The readiness probe: one reading, older than every load (stored as one point however
    often it is sent)."""
    return single_payload(probe, history_start(5000), 0)
