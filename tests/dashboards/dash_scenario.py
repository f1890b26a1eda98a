"""A simulated month (October 2026) written through gwmon.ingest's InfluxClient exactly
as the storage contract (docs/storage.md, docs/alerts.md) describes it.

Six probes of the demo registry, hourly:
- LE-07 breach: nitrate >= 50 mg/L for 24 h (Oct 10) and again from h=700 to the end
  (an open breach), otherwise 44.0-44.4 (an open warning all month);
- WU-01 warning (acknowledged), 24 h of backfill (lag 7200 s);
- TH-02 one spike (95 mg/L at h=300) flagged by QC, an open sensor-fault alert;
- BE-01 falls silent after h=591, goes offline, an open stale alert;
- LO-01 level below its minimum from h=600, an open level_low alert;
- LE-01 quiet, but loses 5 sampling cycles (h=50..54);
- BE-02 nitrate falls from 2.0 mg/L and is reported below the limit of quantification
  ("< 0.5", stored with censored = true) from h=600 to the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gwmon.ingest import Registry
from gwmon.storage import Point

DEMO_REGISTRY = Path(__file__).resolve().parents[2] / "examples" / "registry-wertvoll.csv"
START_S = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
END_S = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
HOURS = (END_S - START_S) // 3600  # 744
NS = 1_000_000_000
PROBES = ("LE-01", "LE-07", "WU-01", "TH-02", "BE-01", "LO-01", "BE-02")
INGESTOR = "gwmon-test"
STALE_AFTER_H = 591
LOST_HOURS = range(50, 55)
SPIKE_H = 300
BACKFILL_HOURS = range(100, 124)
BELOW_LOQ_FROM_H = 600  # BE-02: "< 0.5" from here on
LOQ = 0.5
TREND_H = HOURS - 2  # time of the last value the trend test used (inside the local month)
ACK_WALL_S = END_S + 3 * 3600  # acknowledged after the month (wall clock)


def t_s(hour: int) -> int:
    return START_S + hour * 3600


def nitrate(probe: str, hour: int) -> float:
    if probe == "LE-07":
        if 216 <= hour < 240:
            return 50.0 + (hour - 216) * 0.25
        if hour >= 700:
            return 51.5
        return 44.0 + (hour % 5) * 0.1
    if probe == "WU-01":
        return 39.0 + (hour % 3) * 0.5
    if probe == "TH-02":
        return 95.0 if hour == SPIKE_H else 20.0
    if probe == "BE-01":
        return 30.0 + (hour % 2)
    if probe == "LO-01":
        return 25.0
    if probe == "BE-02":
        return LOQ if censored(probe, hour) else round(2.0 - hour * 0.002, 3)
    return 12.0


def censored(probe: str, hour: int) -> bool:
    """Reported as "< 0.5": the value stored is the limit of quantification."""
    return probe == "BE-02" and hour >= BELOW_LOQ_FROM_H


def level(registry: Registry, probe_id: str, hour: int) -> float:
    probe = registry.probes[probe_id]
    assert probe.level_min_m_nhn is not None and probe.level_max_m_nhn is not None
    if probe_id == "LO-01" and hour >= 600:
        return round(probe.level_min_m_nhn - 0.4, 2)
    return round((probe.level_min_m_nhn + probe.level_max_m_nhn) / 2, 2)


def has_sample(probe: str, hour: int) -> bool:
    if probe == "BE-01" and hour > STALE_AFTER_H:
        return False
    return not (probe == "LE-01" and hour in LOST_HOURS)


def lag(probe: str, hour: int) -> float:
    return 7200.0 if probe == "WU-01" and hour in BACKFILL_HOURS else 2.0


@dataclass
class Scenario:
    registry: Registry
    points: list[Point] = field(default_factory=list)

    def tags(self, probe_id: str) -> dict[str, str]:
        probe = self.registry.probes[probe_id]
        return {"probe": probe_id, "site": probe.site, "municipality": probe.municipality}

    def build(self) -> list[Point]:
        for probe in PROBES:
            self._readings(probe)
        self._alerts()
        self._qc_trend_status()
        self._pipeline()
        return self.points

    def _readings(self, probe: str) -> None:
        for hour in range(HOURS):
            if not has_sample(probe, hour):
                continue
            time_ns = t_s(hour) * NS
            values = {
                "nitrate": nitrate(probe, hour),
                "level": level(self.registry, probe, hour),
                "battery": float(90 - hour // 100),
            }
            for quantity, value in values.items():
                fields: dict[str, float | bool] = {"value": value, "lag_s": lag(probe, hour)}
                if quantity == "nitrate" and censored(probe, hour):
                    fields["censored"] = True  # docs/storage.md: only written when true
                self.points.append(
                    Point("reading", {**self.tags(probe), "quantity": quantity}, fields, time_ns)
                )
            self.points.append(
                Point("sequence", self.tags(probe), {"seq": 1000 + hour, "lag_s": 2.0}, time_ns)
            )

    def alert(
        self,
        probe: str,
        kind: str,
        severity: str,
        number: int,
        *,
        state: str,
        opened_h: int,
        at_s: int,
        value: float,
        threshold: float,
        unit: str = "mg/L",
        resolved_h: int | None = None,
        acked_by: str | None = None,
    ) -> None:
        fields: dict[str, float | int | bool | str] = {
            "alert_id": f"{probe}:{kind}:{number}",
            "state": state,
            "opened_at_s": float(t_s(opened_h)),
            "arrival_at_s": float(t_s(opened_h) + 2),
            "value": value,
            "threshold": threshold,
            "unit": unit,
            "message": f"{probe}: {kind} ({value:g} {unit}, threshold {threshold:g})",
        }
        if resolved_h is not None:
            fields["resolved_at_s"] = float(t_s(resolved_h))
        if acked_by is not None:
            fields["acked_by"] = acked_by
            fields["acked_at_s"] = float(at_s)
            fields["ack_comment"] = "Probenahme beauftragt"
        self.points.append(
            Point(
                "alert", {**self.tags(probe), "kind": kind, "severity": severity}, fields, at_s * NS
            )
        )

    def _alerts(self) -> None:
        self._le07_alerts()
        self._other_alerts()

    def _le07_alerts(self) -> None:
        # LE-07: breach 1 opened h=216, peak 55.75, resolved h=240; breach 2 open from h=700.
        self.alert(
            "LE-07",
            "breach",
            "critical",
            1,
            state="open",
            opened_h=216,
            at_s=t_s(216),
            value=50.0,
            threshold=50.0,
        )
        self.alert(
            "LE-07",
            "breach",
            "critical",
            1,
            state="open",
            opened_h=216,
            at_s=t_s(239),
            value=55.75,
            threshold=50.0,
        )
        self.alert(
            "LE-07",
            "breach",
            "critical",
            1,
            state="resolved",
            opened_h=216,
            at_s=t_s(240),
            value=55.75,
            threshold=50.0,
            resolved_h=240,
        )
        self.alert(
            "LE-07",
            "breach",
            "critical",
            2,
            state="open",
            opened_h=700,
            at_s=t_s(700),
            value=51.5,
            threshold=50.0,
        )

    def _other_alerts(self) -> None:
        self.alert(
            "LE-07",
            "warning",
            "warning",
            1,
            state="open",
            opened_h=0,
            at_s=t_s(0),
            value=44.0,
            threshold=37.5,
        )
        self.alert(
            "WU-01",
            "warning",
            "warning",
            1,
            state="open",
            opened_h=2,
            at_s=t_s(2),
            value=40.0,
            threshold=37.5,
        )
        self.alert(
            "WU-01",
            "warning",
            "warning",
            1,
            state="acknowledged",
            opened_h=2,
            at_s=ACK_WALL_S,
            value=40.0,
            threshold=37.5,
            acked_by="Schmidt",
        )
        self.alert(
            "TH-02",
            "sensor_fault",
            "warning",
            1,
            state="open",
            opened_h=SPIKE_H,
            at_s=t_s(SPIKE_H),
            value=95.0,
            threshold=0.0,
        )
        self.alert(
            "BE-01",
            "stale",
            "warning",
            1,
            state="open",
            opened_h=STALE_AFTER_H + 3,
            at_s=t_s(STALE_AFTER_H + 3),
            value=3.0,
            threshold=3.0,
            unit="h",
        )
        self.alert(
            "LO-01",
            "level_low",
            "warning",
            1,
            state="open",
            opened_h=600,
            at_s=t_s(600),
            value=level(self.registry, "LO-01", 600),
            threshold=128.9,
            unit="m",
        )

    def _qc_trend_status(self) -> None:
        self.points.append(
            Point(
                "qc",
                {**self.tags("TH-02"), "quantity": "nitrate", "flag": "spike"},
                {"value": 95.0, "detector": "spike", "detail": "jump of 75 mg/L"},
                t_s(SPIKE_H) * NS,
            )
        )
        trends = {
            "LE-07": ("rising", 2.35, 0.012, True),
            "WU-01": ("no_trend", 0.1, 0.41, True),
            "LE-01": ("falling", -0.8, 0.003, False),
        }
        for probe, (verdict, slope, p, reached) in trends.items():
            self.points.append(
                Point(
                    "trend",
                    {**self.tags(probe), "quantity": "nitrate"},
                    {
                        "n": HOURS,
                        "alpha": 0.05,
                        "tau": 0.3,
                        "s": 1000.0,
                        "z": 2.5,
                        "p": p,
                        "slope_per_year": slope,
                        "verdict": verdict,
                        "reversal_start_reached": reached,
                        "first_s": float(START_S),
                        "last_s": float(t_s(TREND_H)),
                    },
                    t_s(TREND_H) * NS,
                )
            )
        for probe in PROBES:
            online = probe != "BE-01"
            hour = STALE_AFTER_H + 1 if not online else 0
            self.points.append(
                Point(
                    "probe_status",
                    self.tags(probe),
                    {"online": online, "firmware": "1.4.2", "battery": 88.0},
                    t_s(hour) * NS,
                )
            )

    def _pipeline(self) -> None:
        rejections = [
            (10, "invalid_json", "LE-07"),
            (11, "invalid_json", "WU-01"),
            (12, "unknown_unit", "TH-02"),
        ]
        for hour, reason, probe in rejections:
            self.points.append(
                Point(
                    "rejected",
                    {"reason": reason, "probe": probe, "ingestor": INGESTOR},
                    {
                        "topic": f"gw/v1/{probe}/data",
                        "payload": "{not json",
                        "detail": f"{reason} at test hour {hour}",
                        "record_index": -1,
                        "payload_bytes": 9,
                    },
                    (t_s(hour) + 17) * NS,
                )
            )
        for hour in range(HOURS):
            self.points.append(
                Point(
                    "ingest_stats",
                    {"ingestor": INGESTOR},
                    {
                        "received": 6 * hour,
                        "readings": 18 * hour,
                        "rejected_messages": 0,
                        "rejected_records": 0,
                        "batches": hour,
                        "write_errors": 0,
                        "observer_errors": 0,
                    },
                    t_s(hour) * NS,
                )
            )
