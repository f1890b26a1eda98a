"""gwmon.ingest: the spine. Wire contract decoder, configuration, probe registry and the
MQTT -> InfluxDB ingest service (the storage contract is `gwmon.storage`)."""

from gwmon.ingest._barometric import CONFIG_SECTION as BAROMETRIC_SECTION
from gwmon.ingest._barometric import BarometricSettings
from gwmon.ingest._bounded import PayloadRejected, Reason
from gwmon.ingest._clitime import parse_cli_time
from gwmon.ingest._compensation import CompensatingObserver, Compensator, build_compensation
from gwmon.ingest._config import (
    GwmonConfig,
    IngestSettings,
    MqttSettings,
    RegistrySettings,
    load_config,
    load_configured_registry,
)
from gwmon.ingest._dips import DipRow, DipsFile, DipsFileError, parse_dips
from gwmon.ingest._geometry import WellGeometry
from gwmon.ingest._legal import GRWV_NITRATE_THRESHOLD_MG_L, TREND_REVERSAL_START_MG_L
from gwmon.ingest._observer import BatchObserver, ColumnarReadings, ReadingColumns
from gwmon.ingest._pack import decode_pack
from gwmon.ingest._registry import (
    DEFAULT_NITRATE_BREACH_MG_L,
    DEFAULT_NITRATE_WARNING_MG_L,
    PROBE_ID_PATTERN,
    Probe,
    Registry,
    RegistryError,
    load_registry,
)
from gwmon.ingest._senml import (
    CANONICAL_QUANTITIES,
    NITRATE_PER_NITRATE_N,
    RECORDS,
    DecodedPack,
    Reading,
    RecordRejection,
    SequenceMark,
)
from gwmon.ingest._service import IngestService
from gwmon.ingest._source import IngestError
from gwmon.ingest._status import StatusUpdate, decode_status
from gwmon.ingest._storage import IngestCounters
from gwmon.ingest._timestamps import TimeFormatError, format_time_ns, parse_time_ns
from gwmon.ingest._topics import parse_topic, topic_root

__all__ = [
    "BAROMETRIC_SECTION",
    "CANONICAL_QUANTITIES",
    "DEFAULT_NITRATE_BREACH_MG_L",
    "DEFAULT_NITRATE_WARNING_MG_L",
    "GRWV_NITRATE_THRESHOLD_MG_L",
    "NITRATE_PER_NITRATE_N",
    "PROBE_ID_PATTERN",
    "RECORDS",
    "TREND_REVERSAL_START_MG_L",
    "BarometricSettings",
    "BatchObserver",
    "ColumnarReadings",
    "CompensatingObserver",
    "Compensator",
    "DecodedPack",
    "DipRow",
    "DipsFile",
    "DipsFileError",
    "GwmonConfig",
    "IngestCounters",
    "IngestError",
    "IngestService",
    "IngestSettings",
    "MqttSettings",
    "PayloadRejected",
    "Probe",
    "Reading",
    "ReadingColumns",
    "Reason",
    "RecordRejection",
    "Registry",
    "RegistryError",
    "RegistrySettings",
    "SequenceMark",
    "StatusUpdate",
    "TimeFormatError",
    "WellGeometry",
    "build_compensation",
    "decode_pack",
    "decode_status",
    "format_time_ns",
    "load_config",
    "load_configured_registry",
    "load_registry",
    "parse_cli_time",
    "parse_dips",
    "parse_time_ns",
    "parse_topic",
    "topic_root",
]
