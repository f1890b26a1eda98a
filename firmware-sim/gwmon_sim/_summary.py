"""The counters of one fleet run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RunSummary:
    """Counters of a run (returned by `Fleet.run()` / `Fleet.stop()` / `Fleet.summary()`)."""

    scenario: str
    seed: int
    probes: int
    start_s: int
    end_s: int
    sim_time_s: float
    cycles: int = 0
    packs: int = 0
    publishes: int = 0
    acked_packs: int = 0
    denied_packs: int = 0
    dropped_cycles: int = 0
    connects: int = 0
    connect_failures: int = 0
    refused_logins: int = 0
    dead_probes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    done: bool = False
