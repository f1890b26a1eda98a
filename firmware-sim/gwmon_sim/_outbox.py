"""One probe's publish buffer: cycles not yet sent, and packs in flight until their PUBACK.

Like firmware, a probe keeps every cycle until the broker acknowledged it: while offline
the backlog grows (the oldest cycles are dropped beyond `buffer_capacity`), and on the
next connection it goes out as consecutive packs of at most `max_pack_bytes`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from paho.mqtt.reasoncodes import ReasonCode

from gwmon_sim._model import ProbeModel
from gwmon_sim._scenario import NetworkSettings
from gwmon_sim._senml import malformed_pack, split_into_packs
from gwmon_sim._summary import RunSummary
from gwmon_sim._truth import CycleTruth

log = logging.getLogger("gwmon.sim.fleet")


class Publisher(Protocol):
    """Where packs go: publishes one QoS 1 message and returns its MQTT message id."""

    def publish_data(self, payload: bytes) -> int: ...


@dataclass(slots=True)
class Pack:
    """One SenML pack on the wire (a `duplicate` fault sends it twice: two mids)."""

    number: int
    cycles: list[CycleTruth]
    payload: bytes
    mids: set[int] = field(default_factory=set)


class Outbox:
    """The unacknowledged cycles of one probe. `in_flight` maps mid -> pack until PUBACK."""

    __slots__ = (
        "_model",
        "_network",
        "_pack_counter",
        "_publisher",
        "_summary",
        "backlog",
        "in_flight",
    )

    def __init__(
        self,
        model: ProbeModel,
        network: NetworkSettings,
        publisher: Publisher,
        summary: RunSummary,
    ) -> None:
        self._model = model
        self._network = network
        self._publisher = publisher
        self._summary = summary
        self._pack_counter = 0
        self.backlog: deque[CycleTruth] = deque()
        self.in_flight: dict[int, Pack] = {}

    def is_empty(self) -> bool:
        return not self.backlog and not self.in_flight

    def unacked_cycles(self) -> int:
        packs = {id(pack): pack for pack in self.in_flight.values()}
        return len(self.backlog) + sum(len(pack.cycles) for pack in packs.values())

    def buffer(self, truth: CycleTruth) -> None:
        """Keep `truth` for sending; beyond the capacity the oldest unsent cycle is dropped."""
        self.backlog.append(truth)
        excess = self.unacked_cycles() - self._network.buffer_capacity
        while self.backlog and excess > 0:
            excess -= 1
            dropped = self.backlog.popleft()
            dropped.delivery = "dropped"
            self._summary.dropped_cycles += 1

    def flush(self) -> None:
        """Publish the whole backlog as packs (transport faults applied), oldest first."""
        if not self.backlog:
            return
        cycles = list(self.backlog)
        self.backlog.clear()
        model = self._model
        probe_id = model.probe_id
        by_cycle = {id(c.cycle): c for c in cycles}
        packs = split_into_packs(probe_id, [c.cycle for c in cycles], self._network.max_pack_bytes)
        now = time.time()
        for pack_cycles, good in packs:
            wire = good
            self._pack_counter += 1
            truths = [by_cycle[id(c)] for c in pack_cycles]
            first_t = pack_cycles[0].t
            variant = model.malformed_variant(first_t)
            if variant is not None:
                wire, broken = malformed_pack(probe_id, pack_cycles, variant)
                for truth in truths:
                    truth.add_fault(f"malformed:{variant}", record=broken)
            copies = 2 if model.duplicate(first_t) else 1
            if copies == 2:
                for truth in truths:
                    truth.add_fault("duplicate")
            pack = Pack(self._pack_counter, truths, wire)
            for _ in range(copies):
                mid = self._publisher.publish_data(wire)
                pack.mids.add(mid)
                self.in_flight[mid] = pack
                self._summary.publishes += 1
            self._summary.packs += 1
            for truth in truths:
                truth.pack = pack.number
                truth.delivery = "published"
                truth.published_at_s = now

    def acknowledge(self, mid: int, reason: ReasonCode) -> bool:
        """The PUBACK of `mid`; False if `mid` is not one of this outbox's messages."""
        pack = self.in_flight.pop(mid, None)
        if pack is None:
            return False
        pack.mids.discard(mid)
        if pack.mids:
            return True  # a duplicate of this pack is still in flight
        now = time.time()
        if reason.is_failure:
            self._summary.denied_packs += 1
            log.warning(
                "probe %s: broker refused pack %d: %s", self._model.probe_id, pack.number, reason
            )
        else:
            self._summary.acked_packs += 1
        for truth in pack.cycles:
            if truth.delivery != "acked":
                truth.delivery = "denied" if reason.is_failure else "acked"
                truth.acked_at_s = now
        return True
