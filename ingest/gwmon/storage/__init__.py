"""gwmon.storage: the storage contract in code, used by every stage that writes or reads.

Measurements with their tags and fields (`READING`, `ALERT`, ...), points checked against
them, line protocol, the InfluxQL builder (`influxql.select`, `influxql.eq`, ...), the
InfluxDB client and the one store writer with its policy for refused writes, and the one
reader of a probe's raw or corrected series with its approval levels and QC flags
(`series.read_series`, `series.read_approvals`, `series.read_flags`). docs/storage.md
describes the same contract for people.
"""

from gwmon.storage import _influxql as influxql
from gwmon.storage import _series as series
from gwmon.storage._client import InfluxClient
from gwmon.storage._errors import StoreConfigError, StoreError, StoreWriteError
from gwmon.storage._influxql import Statement
from gwmon.storage._line import FieldValue, Point
from gwmon.storage._lines import LineBuffer, body_of
from gwmon.storage._measurements import (
    ALERT,
    APPROVAL,
    CORRECTION,
    DIP,
    INGEST_STATS,
    MEASUREMENTS,
    PROBE_STATUS,
    QC,
    READING,
    READING_CORRECTED,
    REJECTED,
    SEQUENCE,
    TREND,
)
from gwmon.storage._schema import (
    ContractError,
    Field,
    LineFormat,
    Measurement,
    Tag,
    float_block_at_times,
    float_lines_at_times,
)
from gwmon.storage._settings import INFLUXDB_SECTION, InfluxSettings
from gwmon.storage._writer import (
    INVALID_PROBE_TAG,
    STORE_REFUSED,
    LineSink,
    StoreUnavailable,
    StoreWriter,
    WriteResult,
)

__all__ = [
    "ALERT",
    "APPROVAL",
    "CORRECTION",
    "DIP",
    "INFLUXDB_SECTION",
    "INGEST_STATS",
    "INVALID_PROBE_TAG",
    "MEASUREMENTS",
    "PROBE_STATUS",
    "QC",
    "READING",
    "READING_CORRECTED",
    "REJECTED",
    "SEQUENCE",
    "STORE_REFUSED",
    "TREND",
    "ContractError",
    "Field",
    "FieldValue",
    "InfluxClient",
    "InfluxSettings",
    "LineBuffer",
    "LineFormat",
    "LineSink",
    "Measurement",
    "Point",
    "Statement",
    "StoreConfigError",
    "StoreError",
    "StoreUnavailable",
    "StoreWriteError",
    "StoreWriter",
    "Tag",
    "WriteResult",
    "body_of",
    "float_block_at_times",
    "float_lines_at_times",
    "influxql",
    "series",
]
