"""A typed InfluxQL target for Grafana's InfluxDB data source (raw query mode).

grafana-foundation-sdk ships query types for Prometheus, Loki and others but none for
InfluxDB, so this module adds the small part gwmon needs: the statements, built with
`gwmon.storage.influxql`, their result format and alias, serialised as Grafana's
InfluxDB data source stores a raw-mode query in dashboard JSON (its `InfluxQuery`:
`query`, `rawQuery`, `resultFormat`, `alias`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants

from gwmon.storage import Statement
from gwmon.storage import influxql as q

ResultFormat = Literal["time_series", "table", "logs"]


@dataclass
class InfluxQLQuery(cogvariants.Dataquery):
    """One target of a panel: raw InfluxQL (may hold several `;`-separated statements)."""

    ref_id: str
    query: str
    result_format: ResultFormat = "time_series"
    alias: str | None = None

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias:
            payload["alias"] = self.alias
        return payload


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """Builder in the SDK's style: `InfluxQL("A", statement).table().alias("$tag_probe")`.

    Several statements go into one target (Grafana sends them together, InfluxDB answers
    each): `InfluxQL("A", [first, second])`.
    """

    def __init__(self, ref_id: str, statements: Statement | Sequence[Statement]) -> None:
        parts = [statements] if isinstance(statements, Statement) else list(statements)
        self._internal = InfluxQLQuery(ref_id=ref_id, query=q.statements(parts))

    def build(self) -> InfluxQLQuery:
        return self._internal

    def table(self) -> Self:
        self._internal.result_format = "table"
        return self

    def alias(self, alias: str) -> Self:
        self._internal.alias = alias
        return self
