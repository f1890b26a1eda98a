"""Points InfluxDB refuses (field type conflict, a line it cannot parse), on the real
servers: each refused reading is recorded with its probe, quantity and time, counters
count only what was stored, and observers (analytics) see only stored readings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import requests

from gwmon.analytics import build_observer
from gwmon.ingest import IngestService, Reading, load_config, load_registry
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from gwmon.storage import InfluxClient
from ingest_helpers import (
    T0,
    data_topic,
    pack,
    publish,
    running_service,
    wait_for_count,
    wait_until,
    write_config,
)

NS = 1_000_000_000
HOUR = 3600
DAY = 86_400


class RecordingObserver:
    """A BatchObserver that keeps every reading it was given."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def batch_stored(self, readings: Sequence[Reading]) -> None:
        self.readings.extend(readings)

    def tick(self, now_s: float) -> None:
        pass

    def close(self) -> None:
        pass


def poison_reading_value_as_integer(database: InfluxDatabase) -> None:
    # Someone wrote `reading.value` as an integer into the shard holding T0 (InfluxDB 1.x
    # keeps field types per shard): our floats for that week conflict, other weeks do not.
    response = requests.post(
        f"{database.url}/write",
        params={"db": database.name},
        data=f"reading,probe=foreign value=1i {T0 * NS}",
        timeout=10,
    )
    assert response.status_code == 204


def test_refused_readings_are_recorded_one_by_one_and_only_stored_ones_count(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    poison_reading_value_as_integer(influx_db)
    config_path = write_config(
        tmp_path,
        mosquitto,
        influx_db,
        extra=f'\n[analytics]\nstate_dir = "{tmp_path / "state"}"\nstale_startup_grace_s = 86400\n',
    )
    # LE-06: 100 hourly breach values (80 mg/L) in the poisoned week: all refused.
    refused_pack_size = 10
    le06 = [
        pack(
            "LE-06",
            [
                {"n": "nitrate", "u": "mg/L", "v": 80.0, "t": (start + i) * HOUR}
                for i in range(refused_pack_size)
            ],
        )
        for start in range(0, 100, refused_pack_size)
    ]
    # LE-07: 340 hourly breach values four weeks earlier: stored. Its last pack also holds
    # one record in the poisoned week: that one is refused, its neighbours are kept.
    base = T0 - 30 * DAY
    le07_values = {base + h * HOUR: round(60.0 + (h % 5) * 0.25, 2) for h in range(340)}
    le07_times = sorted(le07_values)
    le07 = [
        pack(
            "LE-07",
            [{"n": "nitrate", "u": "mg/L", "v": le07_values[t], "t": t - base} for t in chunk],
            base_time=base,
        )
        for chunk in (le07_times[i : i + 20] for i in range(0, 340, 20))
    ]
    mixed_refused_time = T0 + 100 * HOUR
    le07[-1] = pack(
        "LE-07",
        [
            *(
                {"n": "nitrate", "u": "mg/L", "v": le07_values[t], "t": t - base}
                for t in le07_times[-20:]
            ),
            {"n": "nitrate", "u": "mg/L", "v": 61.0, "t": mixed_refused_time - base},
        ],
        base_time=base,
    )
    # Interleaved, so that batches mix refused and stored readings.
    messages = [(data_topic("LE-07"), payload) for payload in le07]
    for index, payload in enumerate(le06):
        messages.insert(2 * index + 1, (data_topic("LE-06"), payload))

    config = load_config(config_path)
    registry = load_registry(config.registry_path)
    analytics = build_observer(config, registry, InfluxClient(config.influxdb))
    recorder = RecordingObserver()
    with running_service(config_path, observers=[recorder, analytics]) as service:
        publish(mosquitto, messages)
        wait_for_count(influx_db, "rejected", 101, field="payload_bytes")
        wait_until(lambda: len(recorder.readings) >= 340, what="340 readings observed")
        wait_until(lambda: service.counters.received == len(messages), what="all received")
    expected_refused = {("LE-06", "nitrate", (T0 + h * HOUR) * NS) for h in range(100)}
    expected_refused.add(("LE-07", "nitrate", mixed_refused_time * NS))

    stored = influx_db.rows("SELECT value FROM reading WHERE probe != 'foreign' GROUP BY probe")
    assert {(row["probe"], row["time"] // NS, row["value"]) for row in stored} == {
        ("LE-07", t, v) for t, v in le07_values.items()
    }
    assert len(stored) == 340

    rows = influx_db.rows(
        "SELECT reason, probe, quantity, point_time_ns, payload, detail FROM rejected"
    )
    assert len(rows) == 101
    assert {row["reason"] for row in rows} == {"store_refused"}
    assert {(row["probe"], row["quantity"], row["point_time_ns"]) for row in rows} == (
        expected_refused
    )
    assert all(row["payload"].startswith("reading,") for row in rows)
    assert all("field type conflict" in row["detail"] for row in rows)

    assert service.counters.readings == 340
    assert service.counters.store_refused == 101
    assert service.rejected_by_reason == {"store_refused": 101}
    (stats,) = influx_db.rows(
        "SELECT last(readings) AS readings, last(store_refused) AS refused FROM ingest_stats"
    )
    assert (stats["readings"], stats["refused"]) == (340, 101)

    # Observers saw exactly the stored readings: no LE-06, not LE-07's refused one.
    assert sorted((r.probe, r.time_ns // NS, r.value) for r in recorder.readings) == sorted(
        ("LE-07", t, v) for t, v in le07_values.items()
    )
    alerts = {(alert.probe, alert.kind.value) for alert in analytics.alerts()}
    assert ("LE-07", "breach") in alerts
    assert not {alert for alert in alerts if alert[0] == "LE-06"}


def test_a_line_influxdb_cannot_parse_is_recorded_and_the_batch_keeps_its_good_points(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    # InfluxDB 1.6 answers a batch with an unparseable line with 400 "partial write:
    # unable to parse '...' dropped=0" and keeps the rest; gwmon never builds such a line
    # itself, so the batch is handed to the write path directly.
    config = load_config(write_config(tmp_path, mosquitto, influx_db))
    service = IngestService(config, load_registry(config.registry_path))
    good = [f"m,probe=LE-01 value={i}.5 {(T0 + i) * NS}" for i in range(6)]
    lines = [*good[:3], "m,probe=LE-02 value= 17", *good[3:]]
    service._batch.lines.extend(lines)
    service._flush()
    stored = influx_db.rows("SELECT value FROM m")
    assert [(row["time"], row["value"]) for row in stored] == [
        ((T0 + i) * NS, i + 0.5) for i in range(6)
    ]
    (row,) = influx_db.rows("SELECT reason, probe, payload, point_time_ns, detail FROM rejected")
    assert (row["reason"], row["probe"], row["payload"], row["point_time_ns"]) == (
        "store_refused",
        "LE-02",
        "m,probe=LE-02 value= 17",
        17,
    )
    assert "unable to parse" in row["detail"]
    assert service.counters.store_refused == 1
    assert service.rejected_by_reason == {"store_refused": 1}
