"""gwmon.storage: the storage contract in code, used by every stage that writes or reads.

Measurements with their tags and fields (`READING`, `ALERT`, ...), points checked against
them, line protocol, and the InfluxQL builder (`select`, `eq`, ...). docs/storage.md
describes the same contract for people.
"""

from gwmon.storage import _influxql as influxql
from gwmon.storage._line import FieldValue, Point
from gwmon.storage._measurements import (
    ALERT,
    INGEST_STATS,
    MEASUREMENTS,
    PROBE_STATUS,
    QC,
    READING,
    REJECTED,
    SEQUENCE,
    TREND,
)
from gwmon.storage._schema import ContractError, Field, Measurement, Tag

__all__ = [
    "ALERT",
    "INGEST_STATS",
    "MEASUREMENTS",
    "PROBE_STATUS",
    "QC",
    "READING",
    "REJECTED",
    "SEQUENCE",
    "TREND",
    "ContractError",
    "Field",
    "FieldValue",
    "Measurement",
    "Point",
    "Tag",
    "influxql",
]
