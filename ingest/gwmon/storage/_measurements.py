"""Every measurement gwmon writes, with its tags and fields: the storage contract in code.

docs/storage.md is the human description of the same contract; tests/storage checks that
both list the same measurements, tags and fields. A new measurement goes here first.
"""

from __future__ import annotations

from gwmon.storage._schema import Field, Measurement, Tag

PROBE = Tag("probe", "probe id from the registry")
SITE = Tag("site", "site name from the registry at write time")
MUNICIPALITY = Tag("municipality", "municipality from the registry at write time")
QUANTITY = Tag(
    "quantity", "canonical quantity: nitrate, level, depth, temperature, conductivity, battery"
)
_PROBE_TAGS = (PROBE, SITE, MUNICIPALITY)

READING = Measurement(
    name="reading",
    doc="every accepted value, raw, in canonical units",
    time="measurement time",
    written_by="ingest",
    tags=(*_PROBE_TAGS, QUANTITY),
    fields=(
        Field(
            "value",
            "float",
            "canonical unit: nitrate mg/L NO3, level m NHN, depth m below ground, "
            "temperature °C, conductivity µS/cm, battery %",
            required=True,
        ),
        Field("lag_s", "float", "arrival at gwmon minus measurement time, seconds", required=True),
        Field(
            "censored",
            "boolean",
            "only present (true) for a value reported below the limit of quantification: "
            "`value` is then that LOQ, an upper bound",
        ),
    ),
)

SEQUENCE = Measurement(
    name="sequence",
    doc="probe sample counters, for loss accounting",
    time="measurement time",
    written_by="ingest",
    tags=_PROBE_TAGS,
    fields=(
        Field("seq", "integer", "the probe's counter, 0..2^32-1, wraps", required=True),
        Field("lag_s", "float", "arrival minus measurement time, seconds", required=True),
    ),
)

REJECTED = Measurement(
    name="rejected",
    doc="what was refused and why",
    time="arrival time, unique per ingest process",
    written_by="ingest",
    tags=(
        Tag("reason", "a reason from docs/wire-format.md, or store_refused / internal_error"),
        Tag("probe", "probe id of a registered probe; _unknown or _invalid otherwise"),
        Tag("ingestor", "[mqtt] client_id of the ingest that refused it"),
    ),
    fields=(
        Field("topic", "string", "MQTT topic, truncated to 512 characters", required=True),
        Field("payload", "string", "the payload as UTF-8 with replacement characters, truncated"),
        Field("detail", "string", "human-readable reason", required=True),
        Field("record_index", "integer", "index of the refused record, -1 for a whole message"),
        Field("payload_bytes", "integer", "size of the whole payload", required=True),
        Field("probe_id", "string", "the id of a probe not in the registry (probe = _unknown)"),
        Field("quantity", "string", "store_refused: the quantity of the refused point"),
        Field("point_time_ns", "integer", "store_refused: the time of the refused point"),
    ),
)

PROBE_STATUS = Measurement(
    name="probe_status",
    doc="last will and status messages of the probes",
    time="the status' t, else arrival",
    written_by="ingest",
    tags=_PROBE_TAGS,
    fields=(
        Field("online", "boolean", "false when the broker announced the last will", required=True),
        Field("firmware", "string", "firmware version, bounded length"),
        Field("battery", "float", "battery, % (0-100)"),
    ),
)

INGEST_STATS = Measurement(
    name="ingest_stats",
    doc="cumulative counters of each ingest process",
    time="wall clock, every [ingest] stats_interval_s",
    written_by="ingest",
    tags=(Tag("ingestor", "[mqtt] client_id of the ingest process"),),
    fields=tuple(
        Field(name, "integer", doc, required=True)
        for name, doc in (
            ("received", "messages received"),
            ("readings", "readings stored"),
            ("rejected_messages", "whole messages rejected"),
            ("rejected_records", "single records rejected"),
            ("batches", "batches written"),
            ("write_errors", "failed write attempts"),
            ("observer_errors", "exceptions raised by observers"),
            ("store_refused", "points InfluxDB refused (each one in rejected)"),
        )
    ),
)

QC = Measurement(
    name="qc",
    doc="quality-control flags beside the raw readings",
    time="the flagged reading's measurement time",
    written_by="analytics",
    tags=(
        *_PROBE_TAGS,
        QUANTITY,
        Tag("flag", "cause, e.g. range, spike, flatline, rate_of_change, gap, derived"),
    ),
    fields=(
        Field("value", "float", "the raw value flagged, for plotting", required=True),
        Field("detector", "string", "the detector that set the flag", required=True),
        Field("detail", "string", "human-readable detail", required=True),
    ),
)

ALERT = Measurement(
    name="alert",
    doc="one point per change of an alert: its whole present state",
    time="measurement time for open/update/resolve, wall clock for acknowledge",
    written_by="analytics",
    tags=(
        *_PROBE_TAGS,
        Tag("kind", "breach, warning, level_low, level_high, sensor_fault, stale, trend"),
        Tag("severity", "critical, warning, info"),
    ),
    fields=(
        Field("alert_id", "string", "unique, stable, derived from the data", required=True),
        Field("state", "string", "open, acknowledged, resolved", required=True),
        Field(
            "opened_at_s", "float", "UNIX seconds, measurement time that opened it", required=True
        ),
        Field("arrival_at_s", "float", "when the reading that opened it arrived"),
        Field("acked_at_s", "float", "when acknowledged"),
        Field("acked_by", "string", "who acknowledged"),
        Field("ack_comment", "string", "comment of the acknowledgement"),
        Field("resolved_at_s", "float", "measurement time that closed it"),
        Field("value", "float", "the value involved (latest, or peak for breach/warning)"),
        Field("threshold", "float", "the threshold involved"),
        Field("unit", "string", "unit of value and threshold", required=True),
        Field("message", "string", "human-readable (English)", required=True),
        Field("withdrawn", "boolean", "late readings showed the alarm never held", required=True),
        Field("quantity", "string", "the quantity the alert is about"),
    ),
)

TREND = Measurement(
    name="trend",
    doc="results of the GrwV Anlage 6 trend test",
    time="time of the last value used (time of the run when there was none)",
    written_by="analytics (gwmon trend)",
    tags=(*_PROBE_TAGS, Tag("quantity", "nitrate")),
    fields=(
        Field("n", "integer", "values used", required=True),
        Field("verdict", "string", "rising, falling, no_trend, insufficient", required=True),
        Field(
            "reversal_start_reached", "boolean", "a value reached the reversal start", required=True
        ),
        Field("alpha", "float", "significance level", required=True),
        Field("autocorrelation", "string", "hamed_rao or none", required=True),
        Field("variance_factor", "float", "Hamed-Rao n/n*, 1.0 without correction", required=True),
        Field("below_loq", "integer", "values counted as LOQ/2", required=True),
        Field("reversal_start", "float", "mg/L used as the start of trend reversal", required=True),
        Field("tau", "float", "Kendall's tau"),
        Field("s", "float", "Mann-Kendall S"),
        Field("z", "float", "standard normal statistic"),
        Field("p", "float", "two-sided p-value"),
        Field("slope_per_year", "float", "Sen's slope, mg/L per year"),
        Field("first_s", "float", "UNIX seconds of the first value used"),
        Field("last_s", "float", "UNIX seconds of the last value used"),
        Field("reason", "string", "why a test was refused"),
    ),
)

MEASUREMENTS: tuple[Measurement, ...] = (
    READING,
    SEQUENCE,
    REJECTED,
    PROBE_STATUS,
    INGEST_STATS,
    QC,
    ALERT,
    TREND,
)
