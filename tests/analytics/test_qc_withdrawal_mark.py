"""[analytics] qc_withdrawal = "mark" (InfluxDB 3 has no point-level DELETE): a withdrawn
qc flag is written again with withdrawn = true, never deleted, and `gwmon trend` no
longer counts it; set again, the flag clears the mark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analytics.analytics_helpers import HOUR, NS, T0, observer, reading, registry, series
from analytics.analytics_helpers import write_config as analytics_config
from gwmon.analytics._trend import _load_flagged
from gwmon.ingest.devservers import InfluxDatabase
from gwmon.storage import InfluxClient, Statement


class RecordingClient(InfluxClient):
    """The real client, remembering every statement sent to /query."""

    statements: list[str]

    def query(self, statement: Statement | str, *args: Any, **kwargs: Any) -> Any:
        text = statement if isinstance(statement, str) else statement.text
        self.statements.append(text)
        return super().query(statement, *args, **kwargs)


def qc_rows(influx_db: InfluxDatabase) -> list[tuple[int, str, float, bool]]:
    rows = influx_db.rows('SELECT "flag", "value", "withdrawn" FROM "qc"')
    return [(r["time"], r["flag"], r["value"], r["withdrawn"]) for r in rows]


def test_a_withdrawn_flag_is_marked_not_deleted_and_trend_skips_it(
    tmp_path: Path, influx_db: InfluxDatabase
) -> None:
    config = analytics_config(
        tmp_path,
        influx_url=influx_db.url,
        database=influx_db.name,
        analytics='qc_withdrawal = "mark"',
    )
    client = RecordingClient(config.influxdb)
    client.statements = []
    obs = observer(config, registry(), store=client)
    spike_ns = (T0 + 3 * HOUR) * NS
    obs.batch_stored([*series([30.0, 30.2, 30.1]), reading(4, 31.0)])
    obs.batch_stored([reading(3, 70.0)])  # late: a spike
    assert qc_rows(influx_db) == [(spike_ns, "spike", 70.0, False)]
    probe = registry().probes["P-1"]
    assert _load_flagged(client, probe, None, {"spike"}) == {spike_ns}
    obs.batch_stored([reading(3, 30.4)])  # replaced: the flag no longer holds
    assert qc_rows(influx_db) == [(spike_ns, "spike", 30.4, True)]
    assert _load_flagged(client, probe, None, {"spike"}) == set()
    obs.batch_stored([reading(3, 70.5)])  # and back: flagged again, the mark cleared
    obs.close()
    assert qc_rows(influx_db) == [(spike_ns, "spike", 70.5, False)]
    assert _load_flagged(client, probe, None, {"spike"}) == {spike_ns}
    assert not [text for text in client.statements if text.lstrip().upper().startswith("DELETE")]
