"""The commented examples of the spine's sections (`gwmon config example`).

tests/ingest/test_config.py checks that they are valid TOML and that every value equals the
model's default, so this text cannot drift from the code.
"""

HEADER = """\
# gwmon configuration. Every key can be overridden by an environment variable
# GWMON_<SECTION>__<KEY>, e.g. GWMON_MQTT__URL=mqtts://broker.example:8883.
# Secrets: give either the value (better: via environment) or a *_file path whose
# content is the secret. Secrets are never logged.
"""

MQTT_EXAMPLE = """\
[mqtt]
# Broker URL: mqtt://host:port (plain) or mqtts://host:port (TLS, verified).
url = "mqtt://127.0.0.1:1883"
# One username per ingest process: a broker with use_username_as_clientid (as in
# examples/mosquitto.conf) keys the persistent session by the username.
# username = "gwmon-ingest"
# password_file = "/etc/gwmon/mqtt-password"   # or GWMON_MQTT__PASSWORD
# Fixed client id: it names the persistent session that holds messages while the
# ingest is down (the broker may use the username instead, see above) and the
# ingest in gwmon's data. Each ingest process needs its own.
client_id = "gwmon-ingest"
# MQTT 5 shared subscription ($share/<group>/...): several ingest processes with the
# same group split the load. Unset = a single subscriber gets everything.
# shared_group = "gwmon"
qos = 1
# How long the broker keeps the session (and queues messages) while we are away.
session_expiry_s = 604800
keepalive_s = 30
# MQTT 5 Receive Maximum: unacknowledged messages the broker may send us. We ack only
# after the batch is in InfluxDB, so this bounds the messages in flight.
receive_maximum = 10000
# ca_file = "/etc/gwmon/ca.pem"          # CA for mqtts:// (default: system CAs)
# cert_file = "/etc/gwmon/client.pem"    # client certificate (with key_file)
# key_file = "/etc/gwmon/client.key"
# Prefix in front of gw/v1/... when the broker is shared with other systems.
topic_prefix = ""
"""

REGISTRY_EXAMPLE = """\
[registry]
# REPLACE with your own probe registry CSV (docs/registry.md); a relative path is
# relative to this file's folder. "registry.csv" is a placeholder, not a shipped file;
# the gwmon repository's demo registry is examples/registry-wertvoll.csv.
path = "registry.csv"
# Well geometry with history (re-surveys, new sensor depths): a CSV beside the registry,
# one row per probe and period (docs/registry.md, "Well geometry"). Without it the
# registry row's heights apply at every time.
# geometry_path = "geometry.csv"
"""

INGEST_EXAMPLE = """\
[ingest]
# Larger payloads are rejected (payload_too_large). The wire contract allows 64 KiB.
max_payload_bytes = 65536
# Measurement times further ahead of our clock are rejected (future_time).
future_margin_s = 300.0
# How much of a rejected payload is kept in the `rejected` measurement.
rejected_payload_max_chars = 2048
# How often the counters are written to `ingest_stats`.
stats_interval_s = 10.0
"""

OPS_EXAMPLE = """\
[ops]
# Prometheus /metrics and /healthz of `gwmon run` (docs/reliability.md). Loopback by
# default: put a reverse proxy with TLS in front to expose them. port = 0: any free port.
enabled = true
host = "127.0.0.1"
port = 9746
# The broker's max_queued_messages (examples/mosquitto.conf). gwmon reads the broker's
# $SYS statistics and says loudly (log, /healthz, metric) at queue_warning_fraction of
# it, before the broker starts dropping messages. 0 = do not watch.
broker_queue_limit = 1000000
queue_warning_fraction = 0.8
"""
