"""A typed InfluxQL query for Grafana's InfluxDB data source (raw query mode).

grafana-foundation-sdk ships query types for Prometheus, Loki and others but none for
InfluxDB, so this module adds the small part gwmon needs: a raw InfluxQL text, its
result format and alias, serialised exactly as Grafana's InfluxDB data source stores a
raw-mode query in dashboard JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as dm

ResultFormat = Literal["time_series", "table", "logs"]


@dataclass
class InfluxQLQuery(cogvariants.Dataquery):
    """One target of a panel: raw InfluxQL (may hold several `;`-separated statements)."""

    ref_id: str
    query: str
    result_format: ResultFormat = "time_series"
    alias: str | None = None
    datasource: dm.DataSourceRef | None = None
    hide: bool = False

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias:
            payload["alias"] = self.alias
        if self.datasource is not None:
            payload["datasource"] = self.datasource.to_json()
        if self.hide:
            payload["hide"] = True
        return payload

    def statements(self) -> list[str]:
        """The single InfluxQL statements of this target (Grafana sends them together)."""
        return [part.strip() for part in self.query.split(";") if part.strip()]


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """Builder in the SDK's style: `InfluxQL("A", "SELECT ...").table().alias("$tag_probe")`."""

    def __init__(self, ref_id: str, query: str) -> None:
        self._internal = InfluxQLQuery(ref_id=ref_id, query=" ".join(query.split()))

    def build(self) -> InfluxQLQuery:
        return self._internal

    def table(self) -> Self:
        self._internal.result_format = "table"
        return self

    def time_series(self) -> Self:
        self._internal.result_format = "time_series"
        return self

    def alias(self, alias: str) -> Self:
        self._internal.alias = alias
        return self

    def datasource(self, ref: dm.DataSourceRef) -> Self:
        self._internal.datasource = ref
        return self
