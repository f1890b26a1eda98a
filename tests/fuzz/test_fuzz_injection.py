"""Line-protocol and InfluxQL injection on the real servers: generated hostile probe ids,
record names, units and status fields go through Mosquitto and the ingest into
InfluxDB, next to a registry whose site and municipality names hold every character
line protocol and InfluxQL treat specially. Afterwards the database holds exactly the
measurements, tags and fields of the storage contract, the only tag values are the
registry's and gwmon's own, every rejected topic is kept verbatim as a field, and a
query built with gwmon.storage.influxql for a hostile site name finds exactly its rows.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from fuzz import tally
from gwmon.ingest import CANONICAL_QUANTITIES, Reason
from gwmon.ingest.devservers import InfluxDatabase, MosquittoServer
from gwmon.storage import MEASUREMENTS, READING, STORE_REFUSED
from gwmon.storage import influxql as q
from ingest_helpers import DEMO_REGISTRY, T0, publish, running_service, wait_for_count, write_config

SEED = 13
MESSAGES = 600
FRAGMENTS = [
    ",", "=", " ", '"', "'", "\\", "\\,", "\\ ", "\n", "\r\n", "\t", "\x01", "#", "$", "%",
    "reading,probe=LE-02 value=99", ' value=1i 0\nreading,probe=X value=6', "'; DROP DATABASE x; --",
    "' OR 1=1 --", '" OR "1"="1', "\\'", "ä", "水", "\u202e", "\ufeff", "🙂", "%00", "..",
]  # fmt: skip
# Sites and municipalities with the characters line protocol and InfluxQL treat
# specially (no line break: the registry refuses those; no trailing backslash).
HOSTILE_SITES = {
    "LE-01": ('Brunnen 1, Nord=alt "tief" \\Pfad', "Leipzig 'Süd'"),
    "LE-02": ("site' OR '1'='1", 'Leipzig" OR "1"="1'),
    "LE-03": ("a=b,c=d e", "x\\,y\\ z"),
}


def hostile(rng: random.Random, length: int = 4) -> str:
    return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, length)))


def hostile_registry(directory: Path) -> Path:
    rows = list(csv.DictReader(DEMO_REGISTRY.read_text(encoding="utf-8").splitlines()))
    for row in rows:
        if row["probe_id"] in HOSTILE_SITES:
            row["site"], row["municipality"] = HOSTILE_SITES[row["probe_id"]]
    path = directory / "hostile-registry.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def generated_messages(rng: random.Random) -> list[tuple[str, bytes, str]]:
    """(topic, payload, kind) for each case; kinds: probe id, name, unit, status field."""
    messages: list[tuple[str, bytes, str]] = []
    for i in range(MESSAGES):
        kind = rng.choice(["probe_id", "name", "unit", "status"])
        probe = rng.choice(list(HOSTILE_SITES))
        record = {"n": "nitrate", "u": "mg/L", "v": 20 + i / 100, "t": i}
        if kind == "probe_id":
            # Mosquitto refuses (disconnects) a topic with wildcards or control
            # characters: those never reach gwmon. Everything else may.
            bad = "".join(c for c in hostile(rng) if c not in "+#" and c.isprintable())
            topic = f"gw/v1/{bad}/data"
            payload = json.dumps([{"bn": f"{bad}:", "bt": T0, **record}])
        elif kind == "status":
            topic = f"gw/v1/{probe}/status"
            payload = json.dumps(
                {"online": True, "firmware": hostile(rng, 3)[:64], "t": T0 + i, hostile(rng): 1}
            )
        else:
            record["n" if kind == "name" else "u"] = hostile(rng)
            topic = f"gw/v1/{probe}/data"
            payload = json.dumps([{"bn": f"{probe}:", "bt": T0, **record}])
        messages.append((topic, payload.encode(), kind))
    return messages


def test_hostile_names_never_become_tags_fields_or_series(
    tmp_path: Path, mosquitto: MosquittoServer, influx_db: InfluxDatabase
) -> None:
    rng = random.Random(SEED)
    messages = generated_messages(rng)
    good = [
        (
            f"gw/v1/{probe}/data",
            json.dumps(
                [{"bn": f"{probe}:", "bt": T0, "n": "nitrate", "u": "mg/L", "v": 41.5}]
            ).encode(),
        )
        for probe in HOSTILE_SITES
    ]
    config = write_config(tmp_path, mosquitto, influx_db, registry=hostile_registry(tmp_path))
    config.write_text(
        config.read_text().replace('path = "registry.csv"', 'path = "hostile-registry.csv"')
    )
    with running_service(config) as service:
        publish(mosquitto, [(topic, payload) for topic, payload, _ in messages] + good)
        wait_for_count(influx_db, "reading", len(good), where="value = 41.5")
        service_rejections = service.rejected_by_reason
        wait_for_count(
            influx_db,
            "rejected",
            sum(service_rejections.values()),
            field="payload_bytes",
            timeout=60,
        )
    for _, _, kind in messages:
        tally.record("influxdb_injection", kind)

    contract = {measurement.name: measurement for measurement in MEASUREMENTS}
    measurements = {row["name"] for row in influx_db.rows("SHOW MEASUREMENTS")}
    assert measurements <= set(contract), measurements - set(contract)
    for name in measurements:
        fields = {row["fieldKey"] for row in influx_db.rows(f'SHOW FIELD KEYS FROM "{name}"')}
        tags = {row["tagKey"] for row in influx_db.rows(f'SHOW TAG KEYS FROM "{name}"')}
        assert fields <= contract[name].field_names, (name, fields - contract[name].field_names)
        assert tags <= contract[name].tag_names, (name, tags - contract[name].tag_names)

    def tag_values(measurement: str, key: str) -> set[str]:
        return {
            row["value"]
            for row in influx_db.rows(f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}"')
        }

    registry_ids = {
        row["probe_id"] for row in csv.DictReader(DEMO_REGISTRY.read_text().splitlines())
    }
    for name in measurements & {"reading", "sequence", "rejected", "probe_status"}:
        assert tag_values(name, "probe") <= registry_ids | {"_unknown", "_invalid"}
    assert tag_values("reading", "quantity") <= set(CANONICAL_QUANTITIES)
    assert tag_values("reading", "site") == {site for site, _ in HOSTILE_SITES.values()}
    assert tag_values("reading", "municipality") == {town for _, town in HOSTILE_SITES.values()}
    assert tag_values("rejected", "reason") <= {reason.value for reason in Reason} | {STORE_REFUSED}
    # Every series is one the contract allows: nothing hostile became a series key.
    series = {row["key"] for row in influx_db.rows("SHOW SERIES")}
    assert all(key.split(",", 1)[0] in contract for key in series)

    # The hostile topics are kept verbatim, as field values, never as keys.
    stored_topics = {row["topic"] for row in influx_db.rows('SELECT "topic" FROM "rejected"')}
    sent_bad_topics = {topic[:512] for topic, _, kind in messages if kind == "probe_id"}
    assert sent_bad_topics <= stored_topics

    # InfluxQL built by gwmon for a hostile site name finds exactly that site's reading.
    for probe, (site, _) in HOSTILE_SITES.items():
        statement = q.select(READING, "value").where(q.eq("site", site))
        rows = influx_db.rows(statement.text)
        assert [(row["value"]) for row in rows] == [41.5], (probe, site, statement.text)
