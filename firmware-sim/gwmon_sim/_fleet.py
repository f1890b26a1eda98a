"""A fleet of simulated probes driven by ONE thread, each with its own MQTT identity.

Every probe has its own paho client (client id, credentials, last will), but none runs
paho's network thread: one selector loop reads and writes all sockets and runs the
simulated clock. Lifecycle: `Fleet(...)` builds the models (no I/O) -> `start()` spawns
the loop thread (or `run()` runs it in the caller's thread until done) -> `stop()`
disconnects every probe cleanly and joins the thread. Methods that change probes
(`take_offline`, `inject_spike`, `advance`, ...) may be called from any thread; they are
queued and applied by the loop.

The parts: `_link` (one probe's MQTT session, reconnect backoff, status and last will),
`_outbox` (its buffer and the packs in flight until PUBACK), `_clock` (simulated time,
the cycles in time order), `_netloop` (the selector). This module runs a probe's cycle
the way its firmware would and turns the loop.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from paho.mqtt.reasoncodes import ReasonCode

from gwmon_sim._backoff import Backoff
from gwmon_sim._clock import CycleQueue, SimClock
from gwmon_sim._errors import SimError
from gwmon_sim._link import Link, LinkSettings, login_for
from gwmon_sim._model import Cycle, ProbeModel
from gwmon_sim._netloop import SocketLoop, raise_fd_limit
from gwmon_sim._outbox import Outbox
from gwmon_sim._params import Quantity
from gwmon_sim._rng import seeded
from gwmon_sim._scenario import Scenario
from gwmon_sim._simulate import build_models
from gwmon_sim._summary import RunSummary
from gwmon_sim._truth import CycleTruth, TruthRow, write_truth_csv

log = logging.getLogger("gwmon.sim.fleet")

_CYCLES_PER_TURN: Final = 2_000
_CONNECTS_PER_TURN: Final = 64
_SCAN_EVERY_S: Final = 0.02  # timeouts and backoff are coarse
_KEEPALIVE_EVERY_S: Final = 1.0
_MAX_SELECT_S: Final = 0.2
_SHUTDOWN_DRAIN_S: Final = 2.0


@dataclass(slots=True, eq=False)
class _Probe:
    """One simulated probe: what it measures, its MQTT session, what it still must deliver."""

    model: ProbeModel
    link: Link
    outbox: Outbox
    awaiting_ack_since: float | None = None  # held until PUBACK (like firmware)
    manual_offline: bool = False


class _LinkEvents:
    """The fleet's side of its links (a `LinkListener`): pacing of the probes' cycles."""

    __slots__ = ("_probes", "_queue", "connected")

    def __init__(self, probes: list[_Probe], queue: CycleQueue) -> None:
        self._probes = probes
        self._queue = queue
        # Up since the last turn: status and backlog go out after paho resent its
        # in-flight messages (keeps the backlog in order).
        self.connected: list[_Probe] = []

    def take_connected(self) -> list[_Probe]:
        connected, self.connected = self.connected, []
        return connected

    def link_up(self, link: Link) -> None:
        self.connected.append(self._probes[link.index])

    def link_retry(self, link: Link) -> None:
        self._probes[link.index].awaiting_ack_since = None
        self._queue.release(link.index)

    def link_acked(self, link: Link, mid: int, reason: ReasonCode) -> None:
        probe = self._probes[link.index]
        if not probe.outbox.acknowledge(mid, reason):
            return
        if not probe.outbox.in_flight and probe.awaiting_ack_since is not None:
            probe.awaiting_ack_since = None
            self._queue.release(link.index)


class Fleet:
    """Simulated probes of `scenario`, publishing to the broker at `broker_url`.

    - `seed`: overrides the scenario's seed (same seed + scenario => same payloads).
    - `speed`: simulated seconds per wall second; `math.inf` = as fast as the broker acks
      (default); `0` = manual clock, advanced only by `advance()`.
    - `credentials`: probe_id -> password; the MQTT username is the probe_id (use with
      an ACL `pattern write gw/v1/%u/#`). `shared_login` = (username, password) for
      brokers without per-probe accounts. Neither: username = probe_id, no password.
    - `start_s`: overrides the scenario start (UNIX s); `probes`: run only these.
    """

    def __init__(
        self,
        scenario: Scenario,
        registry_path: Path,
        broker_url: str,
        *,
        seed: int | None = None,
        speed: float = math.inf,
        credentials: Mapping[str, str] | None = None,
        shared_login: tuple[str, str | None] | None = None,
        topic_prefix: str = "",
        ca_file: Path | None = None,
        start_s: int | None = None,
        probes: Sequence[str] | None = None,
        connect_timeout_s: float = 5.0,
        ack_timeout_s: float = 10.0,
    ) -> None:
        if speed < 0 or math.isnan(speed):
            msg = f"speed must be >= 0 (0 = manual clock, inf = as fast as possible), got {speed}"
            raise SimError(msg)
        if topic_prefix.endswith("/") or any(c in topic_prefix for c in "+#"):
            msg = f"topic_prefix {topic_prefix!r} must not end with '/' or contain '+' or '#'"
            raise SimError(msg)
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.speed = speed
        self.topic_prefix = topic_prefix
        self.host, self.port, tls = LinkSettings.parse_broker(broker_url)
        self.start_s = start_s if start_s is not None else scenario.resolve_start(time.time())
        self.end_s = self.start_s + round(scenario.days * 86_400)
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s
        models = build_models(
            scenario, registry_path, seed=self.seed, start_s=self.start_s, probes=probes
        )
        self._summary = RunSummary(
            scenario=scenario.name,
            seed=self.seed,
            probes=len(models),
            start_s=self.start_s,
            end_s=self.end_s,
            sim_time_s=float(self.start_s),
        )
        self._clock = SimClock(self.start_s, self.end_s, speed)
        self._queue = CycleQueue(len(models), self.start_s)
        self._sockets = SocketLoop()
        self._probes: list[_Probe] = []
        self._events = _LinkEvents(self._probes, self._queue)
        self._add_probes(models, tls, ca_file, credentials, shared_login)
        self._links = [probe.link for probe in self._probes]
        self._by_id = {probe.link.probe_id: probe for probe in self._probes}
        self._truth: list[CycleTruth] = []
        self._lock = threading.RLock()
        self._commands: deque[Callable[[], None]] = deque()
        self._thread: threading.Thread | None = None
        self._stop_requested = False
        self._stop_when_done = False
        self._finished = False
        self._drain_timeout_s = 60.0
        self._drain_deadline: float | None = None
        self._running = False
        self._next_scan = 0.0

    def _add_probes(
        self,
        models: list[ProbeModel],
        tls: bool,
        ca_file: Path | None,
        credentials: Mapping[str, str] | None,
        shared_login: tuple[str, str | None] | None,
    ) -> None:
        network = self.scenario.network
        settings = LinkSettings(
            host=self.host,
            port=self.port,
            tls=tls,
            ca_file=ca_file,
            topic_prefix=self.topic_prefix,
            keepalive_s=network.keepalive_s,
            connect_timeout_s=self.connect_timeout_s,
        )
        for index, model in enumerate(models):
            rng = seeded(self.seed, model.probe_id, "network")
            link = Link(
                index,
                model.probe_id,
                login_for(model.probe_id, credentials, shared_login),
                settings,
                backoff=Backoff(network.reconnect_base_s, network.reconnect_max_s, rng),
                sockets=self._sockets,
                listener=self._events,
                summary=self._summary,
            )
            self._probes.append(_Probe(model, link, Outbox(model, network, link, self._summary)))

    # ------------------------------------------------------------- public API
    @property
    def probe_ids(self) -> list[str]:
        return [link.probe_id for link in self._links]

    @property
    def sim_time_s(self) -> float:
        """The simulated clock (UNIX seconds)."""
        return self._clock.now_s

    def start(self) -> None:
        """Start the loop in a background thread (returns at once)."""
        if self._thread is not None:
            msg = "the fleet was already started"
            raise SimError(msg)
        self._thread = threading.Thread(target=self._loop, name="gwmon-sim-fleet", daemon=True)
        self._thread.start()

    def run(self, *, drain_timeout_s: float = 60.0) -> RunSummary:
        """Run the whole scenario in the calling thread; returns when every cycle up to the
        end is sampled and every pack acknowledged (or `drain_timeout_s` after the clock
        reached the end), then disconnects cleanly."""
        if self._thread is not None:
            msg = "run() cannot be used after start()"
            raise SimError(msg)
        self._stop_when_done = True
        self._drain_timeout_s = drain_timeout_s
        self._loop()
        return self.summary()

    def stop(self, timeout_s: float = 10.0) -> RunSummary:
        """Stop the loop, disconnect every probe cleanly, join the thread."""
        self._stop_requested = True
        self._sockets.wake()
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.summary()

    def wait_done(self, timeout_s: float) -> bool:
        """Block until the clock reached the end and everything sent was acknowledged."""
        return self._wait(timeout_s, self._is_done)

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every cycle due by the current simulated time is sampled and
        everything that can be sent now is acknowledged (offline probes keep buffers)."""
        return self._wait(timeout_s, self._is_idle)

    def advance(self, seconds: float) -> None:
        """Manual clock (speed=0): move the simulated time forward by `seconds`."""
        if self.speed != 0:
            msg = "advance() needs a fleet with speed=0 (manual clock)"
            raise SimError(msg)
        self._submit(lambda: self._clock.advance(seconds))

    def take_offline(self, probe_id: str) -> None:
        """From the next cycle on, the probe has no network (buffers, then backfills)."""
        probe = self._probe(probe_id)

        def command() -> None:
            probe.manual_offline = True

        self._submit(command)

    def bring_online(self, probe_id: str) -> None:
        """Undo `take_offline`: at its next cycle the probe reconnects and backfills."""
        probe = self._probe(probe_id)

        def command() -> None:
            probe.manual_offline = False

        self._submit(command)

    def inject_spike(self, probe_id: str, value: float, quantity: Quantity = "nitrate") -> None:
        """The probe's next cycle reads `value` (canonical unit, e.g. mg/L NO3) for `quantity`."""
        probe = self._probe(probe_id)
        self._submit(lambda: probe.model.inject_spike(quantity, value))

    def truth(self) -> list[TruthRow]:
        """Ground truth so far, one row per cycle and quantity (plus one `seq` row per cycle)."""
        with self._lock:
            return [row for cycle in self._truth for row in cycle.rows()]

    def write_truth(self, path: Path) -> int:
        """Write the ground truth as CSV; returns the number of rows."""
        return write_truth_csv(self.truth(), path)

    def summary(self) -> RunSummary:
        with self._lock:
            summary = self._summary
            summary.sim_time_s = self._clock.now_s
            summary.dead_probes = [link.probe_id for link in self._links if link.state == "dead"]
            summary.done = self._finished or (self._running and self._is_done())
            return dataclasses.replace(summary, dead_probes=list(summary.dead_probes))

    # ---------------------------------------------------------- plumbing
    def _probe(self, probe_id: str) -> _Probe:
        try:
            return self._by_id[probe_id]
        except KeyError:
            msg = f"probe {probe_id!r} is not part of this fleet ({len(self._probes)} probes)"
            raise SimError(msg) from None

    def _submit(self, command: Callable[[], None]) -> None:
        with self._lock:
            self._commands.append(command)
        self._sockets.wake()

    def _wait(self, timeout_s: float, predicate: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self._running and not self._commands and predicate():
                    return True
            time.sleep(0.02)
        return False

    def _clock_done(self, target: float) -> bool:
        """Every probe sampled every cycle before `target` (or is dead)."""
        next_t = self._queue.next_t
        return all(link.state == "dead" or next_t[link.index] > target for link in self._links)

    def _is_done(self) -> bool:
        return self._clock_done(self.end_s - 1) and self._is_settled()

    def _is_idle(self) -> bool:
        return self._clock_done(self._clock.target(time.monotonic())) and self._is_settled()

    def _is_settled(self) -> bool:
        for probe in self._probes:
            link = probe.link
            if link.state in ("dead", "offline"):
                continue
            if (
                self._queue.is_held(link.index)
                or not probe.outbox.is_empty()
                or link.state != "connected"
            ):
                return False
        return True

    # ---------------------------------------------------------- one probe
    def _cycle(self, probe: _Probe, t: int) -> bool:
        """Run `probe`'s cycle at `t`; False if it has to wait for its connection first."""
        model, link, index = probe.model, probe.link, probe.link.index
        offline = probe.manual_offline or model.scheduled_offline(t)
        if offline and link.state not in ("offline", "dead"):
            link.go_offline()
        elif not offline and link.state == "offline":
            self._queue.hold(index)  # finish connecting before this cycle (deterministic packs)
            link.connect()
            if self._queue.is_held(index):
                return False
        cycle: Cycle | None = model.sample(t)
        if cycle is None:
            link.die()
            log.info("probe %s: battery dead at %d", link.probe_id, t)
            return True
        if offline:
            cycle.faults.append("offline")
        truth = CycleTruth(cycle)
        self._truth.append(truth)
        self._summary.cycles += 1
        probe.outbox.buffer(truth)
        if link.state == "connected":
            probe.outbox.flush()
            if probe.outbox.in_flight:
                # Firmware keeps its buffer and stays awake until the broker acknowledged.
                self._queue.hold(index)
                probe.awaiting_ack_since = time.monotonic()
        return True

    def _publish_status(self, probe: _Probe) -> None:
        index = probe.link.index
        probe.link.publish_status(
            firmware=self.scenario.network.firmware,
            battery=round(probe.model.physics.battery_pct, 1),
            t=int(min(self._clock.now_s, self._queue.next_t[index])),
        )

    def _check_ack_timeout(self, probe: _Probe, now: float) -> None:
        since = probe.awaiting_ack_since
        if since is not None and now - since > self.ack_timeout_s:
            log.info(
                "probe %s: no PUBACK within %.1f s, going on",
                probe.link.probe_id,
                self.ack_timeout_s,
            )
            probe.awaiting_ack_since = None
            self._queue.release(probe.link.index)

    # ---------------------------------------------------------- the loop
    def _advance_clock(self, now: float) -> None:
        """Run the cycles due by now, a bounded number per turn (the network keeps up)."""
        clock, queue = self._clock, self._queue
        target = clock.target(now)
        budget = _CYCLES_PER_TURN
        max_outstanding = max(500, 10 * len(self._probes))
        outstanding = sum(len(probe.outbox.in_flight) for probe in self._probes)
        while budget > 0 and outstanding < max_outstanding:
            due = queue.pop_due(target, self.end_s)
            if due is None:
                break
            t, index = due
            probe = self._probes[index]
            clock.reach(t)
            if not self._cycle(probe, t):
                queue.defer(index)
                continue
            budget -= 1
            outstanding += 1
            if probe.link.state != "dead":
                queue.schedule(index, t + probe.model.params.interval_s)
        first_t = queue.first_t()
        if (first_t is None or first_t > target) and self._clock_done(target):
            clock.reach(target)

    def _housekeeping(self, now: float) -> None:
        while self._commands:
            self._commands.popleft()()
        if now >= self._next_scan:
            self._next_scan = now + _SCAN_EVERY_S
            started = 0
            for probe in self._probes:
                link = probe.link
                if link.state == "idle" and started < _CONNECTS_PER_TURN:
                    started += 1
                    link.connect()
                elif not link.poll(now):
                    self._check_ack_timeout(probe, now)
        for probe in self._events.take_connected():
            if probe.link.state != "connected":
                continue
            self._publish_status(probe)
            probe.outbox.flush()
            if probe.outbox.in_flight:
                probe.awaiting_ack_since = time.monotonic()
            else:
                self._queue.release(probe.link.index)

    def _loop(self) -> None:
        raise_fd_limit(len(self._probes))
        with self._lock:
            self._sockets.open()
            self._clock.start(time.monotonic())
            self._queue.hold_all()  # first cycles wait for the first connection attempts
            self._running = True
        try:
            self._turn_until_stopped()
        finally:
            with self._lock:
                for link in self._links:
                    link.stop()
                self._sockets.drain(self._links, _SHUTDOWN_DRAIN_S)
                self._sockets.close(self._links)
            self._running = False
            self._summary.wall_s = self._clock.wall_elapsed(time.monotonic())

    def _turn_until_stopped(self) -> None:
        next_keepalive = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                self._housekeeping(now)
                if self._stop_requested:
                    self._finished = self._is_done()
                    return
                self._advance_clock(now)
                if now >= next_keepalive:
                    next_keepalive = now + _KEEPALIVE_EVERY_S
                    self._sockets.keepalive(self._links)
                if self._stop_when_done and self._run_over(now):
                    return
                timeout = self._select_timeout(now)
                self._sockets.sync_write_interest()
            self._sockets.poll(timeout, self._lock)

    def _run_over(self, now: float) -> bool:
        """`run()`: everything sampled and acknowledged, or the drain timeout passed."""
        first_t = self._queue.first_t()
        if first_t is not None and first_t < self.end_s:
            return False
        if self._is_done():
            self._finished = True
            return True
        if self._drain_deadline is None and self._clock_done(self.end_s - 1):
            self._drain_deadline = now + self._drain_timeout_s
        if self._drain_deadline is not None and now > self._drain_deadline:
            log.warning("pending packs not acknowledged before the drain timeout")
            return True
        return False

    def _select_timeout(self, now: float) -> float:
        if self._commands or self._events.connected:
            return 0.0
        first_t = self._queue.first_t()
        if first_t is not None and first_t <= self._clock.target(now) and first_t < self.end_s:
            return 0.0  # more cycles due (or back-pressure): just poll the network
        timeout = _MAX_SELECT_S
        if first_t is not None:
            due_in = self._clock.wall_until(first_t, now)
            if due_in is not None:
                timeout = min(timeout, max(0.0, due_in))
        for link in self._links:
            if link.state == "waiting":
                timeout = min(timeout, max(0.0, link.next_attempt - now))
        return timeout
