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
        Field(
            "withdrawn",
            "boolean",
            'only with [analytics] qc_withdrawal = "mark": false on a flag, true when the '
            "flag was withdrawn (instead of a DELETE; readers skip such points)",
        ),
    ),
)

ALERT = Measurement(
    name="alert",
    doc="one point per change of an alert: its whole present state",
    time="measurement time for open/update/resolve, wall clock for acknowledge",
    written_by="analytics",
    tags=(
        *_PROBE_TAGS,
        Tag("kind", "breach, warning, level_low, level_high, sensor_fault, stale, trend, drift"),
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

# -- data management (docs/data-management.md): the system of record beside the raw data ----

DIP = Measurement(
    name="dip",
    doc="manual measurements (Abstich) from the surveyed measuring point",
    time="time of the dip",
    written_by="gwmon dips import",
    tags=_PROBE_TAGS,
    fields=(
        Field(
            "depth_below_mp_m",
            "float",
            "depth to water below the measuring point, as measured",
            required=True,
        ),
        Field(
            "measuring_point_m_nhn",
            "float",
            "height of the measuring point valid at the dip",
            required=True,
        ),
        Field("level_m_nhn", "float", "the dip as a level, m NHN", required=True),
        Field(
            "depth_below_ground_m", "float", "the dip as depth below ground level", required=True
        ),
        Field("by", "string", "who measured", required=True),
        Field("note", "string", "remark of the field visit (empty when none)"),
        Field("source", "string", "file and line it was imported from", required=True),
        Field(
            "logger_level_m_nhn", "float", "the logger's level nearest in time (within tolerance)"
        ),
        Field("logger_offset_m", "float", "logger minus dip, m (positive: the logger reads high)"),
        Field("logger_time_ns", "integer", "measurement time of that logger value"),
    ),
)

CORRECTION = Measurement(
    name="correction",
    doc="correction operations on a raw series: one point per operation and state change",
    time="when the operation was made or reverted (wall clock, unique per series)",
    written_by="gwmon corrections",
    tags=(PROBE, QUANTITY, Tag("kind", "offset, drift, delete")),
    fields=(
        Field("correction_id", "string", "stable id of the operation", required=True),
        Field("state", "string", "active or reverted", required=True),
        Field("sequence", "integer", "order in which operations apply (ascending)", required=True),
        Field("from_ns", "integer", "start of the period, ns (inclusive)", required=True),
        Field("to_ns", "integer", "end of the period, ns (inclusive)", required=True),
        Field("value", "float", "offset: the constant added; drift: the offset reached at to"),
        Field("by", "string", "who made the operation", required=True),
        Field("why", "string", "why", required=True),
        Field("created_at_s", "float", "when it was made, UNIX seconds", required=True),
        Field("reverted_by", "string", "who reverted it"),
        Field("reverted_why", "string", "why it was reverted"),
        Field("reverted_at_s", "float", "when it was reverted, UNIX seconds"),
    ),
)

READING_CORRECTED = Measurement(
    name="reading_corrected",
    doc="the corrected series: raw readings with the active corrections applied, in order",
    time="measurement time of the raw reading",
    written_by="gwmon corrections (recomputed from reading + correction)",
    tags=(*_PROBE_TAGS, QUANTITY),
    fields=(
        Field(
            "value",
            "float",
            "the corrected value (the raw value where nothing applies)",
            required=True,
        ),
        Field("raw_value", "float", "the raw value it was computed from", required=True),
        Field(
            "deleted",
            "boolean",
            "true: removed from the corrected series by a delete",
            required=True,
        ),
        Field("censored", "boolean", "as in reading: value is an upper bound (below the LOQ)"),
        Field(
            "corrections",
            "string",
            "ids of the operations applied, in order; empty when none (always written)",
        ),
    ),
)

APPROVAL = Measurement(
    name="approval",
    doc="approval levels of periods of a series, with their history",
    time="when the level was set (wall clock, unique per series)",
    written_by="gwmon approve",
    tags=(PROBE, QUANTITY, Tag("level", "raw, checked, approved")),
    fields=(
        Field("approval_id", "string", "stable id of this approval step", required=True),
        Field(
            "sequence", "integer", "order of the steps (ascending; the latest wins)", required=True
        ),
        Field("from_ns", "integer", "start of the period, ns (inclusive)", required=True),
        Field("to_ns", "integer", "end of the period, ns (inclusive)", required=True),
        Field("by", "string", "who set it", required=True),
        Field("why", "string", "comment"),
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
    DIP,
    CORRECTION,
    READING_CORRECTED,
    APPROVAL,
)
