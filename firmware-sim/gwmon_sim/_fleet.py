"""A fleet of simulated probes driven by ONE thread, each with its own MQTT identity.

Every probe has its own paho client (client id, credentials, last will), but none runs
paho's network thread: one selector loop reads and writes all sockets and runs the
simulated clock. Lifecycle: `Fleet(...)` builds the models (no I/O) -> `start()` spawns
the loop thread (or `run()` runs it in the caller's thread until done) -> `stop()`
disconnects every probe cleanly and joins the thread. Methods that change probes
(`take_offline`, `inject_spike`, `advance`, ...) may be called from any thread; they are
queued and applied by the loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import logging
import math
import resource
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gwmon_sim._errors import ScenarioError, SimError
from gwmon_sim._model import Cycle, ProbeModel
from gwmon_sim._params import Quantity, resolve_params
from gwmon_sim._physics import Weather
from gwmon_sim._registry import read_sites
from gwmon_sim._rng import seeded
from gwmon_sim._scenario import Scenario
from gwmon_sim._senml import (
    data_topic,
    malformed_pack,
    split_into_packs,
    status_payload,
    status_topic,
)
from gwmon_sim._truth import CycleTruth, TruthRow, write_truth_csv

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

log = logging.getLogger("gwmon.sim.fleet")

LinkState = Literal["idle", "connecting", "connected", "waiting", "offline", "dead", "stopped"]
DEFAULT_INTERVAL_S: Final = 3600
_CYCLES_PER_TURN: Final = 2_000
_CONNECTS_PER_TURN: Final = 64
_WILL_REASON: Final = ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")


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


@dataclass(slots=True)
class _Pack:
    number: int
    cycles: list[CycleTruth]
    payload: bytes
    mids: set[int] = field(default_factory=set)


class _Link:
    """The network side of one probe: buffer, pending packs, connection state."""

    def __init__(self, index: int, model: ProbeModel, client: mqtt.Client, seed: int) -> None:
        self.index = index
        self.model = model
        self.probe_id = model.probe_id
        self.client = client
        self.state: LinkState = "idle"
        self.backlog: deque[CycleTruth] = deque()
        self.pending: dict[int, _Pack] = {}
        self.status_mids: set[int] = set()
        self.next_t = model.start_s
        self.blocked = False  # cycles wait until the current connection attempt resolved
        self.deferred = False  # a cycle was held back while blocked
        self.awaiting_ack_since: float | None = None  # blocked until PUBACK (like firmware)
        self.manual_offline = False
        self.attempt = 0
        self.next_attempt = 0.0
        self.connecting_since = 0.0
        self.pack_counter = 0
        self.sock: SocketLike | None = None
        self.write_interest = False
        self.rng = seeded(seed, self.probe_id, "network")

    def unacked_cycles(self) -> int:
        packs = {id(pack): pack for pack in self.pending.values()}
        return len(self.backlog) + sum(len(pack.cycles) for pack in packs.values())


def _parse_broker(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        msg = f"broker url {url!r} must be mqtt://host:port or mqtts://host:port"
        raise SimError(msg)
    tls = parts.scheme == "mqtts"
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


def build_models(
    scenario: Scenario,
    registry_path: Path,
    *,
    seed: int,
    start_s: int,
    probes: Sequence[str] | None = None,
) -> list[ProbeModel]:
    """The probe models of `scenario` (physics, sensors, faults; no network)."""
    sites = read_sites(registry_path)
    wanted = list(probes or scenario.probes or sites)
    named = [*wanted, *scenario.overrides, *(e.probe for e in scenario.events)]
    unknown = sorted({p for p in named if p not in sites})
    if unknown:
        msg = (
            f"{scenario.source}: probes {unknown} are not in the registry {registry_path}; "
            "add them to the registry or remove them from the scenario"
        )
        raise ScenarioError(msg)
    weather = Weather(seed, start_s)
    models: list[ProbeModel] = []
    for probe_id in wanted:
        site = sites[probe_id]
        params = resolve_params(
            site,
            scenario.probe_settings(probe_id),
            seed=seed,
            interval_s=scenario.interval_s or site.expected_interval_s or DEFAULT_INTERVAL_S,
        )
        events = [e for e in scenario.events if e.probe == probe_id]
        models.append(ProbeModel(params, weather, start_s=start_s, seed=seed, events=events))
    return models


def simulate(
    scenario: Scenario,
    registry_path: Path,
    *,
    seed: int | None = None,
    start_s: int | None = None,
    probes: Sequence[str] | None = None,
) -> list[Cycle]:
    """Sample the whole scenario without any network (time order per probe).

    Gives the same cycles (values, seq, faults) a `Fleet` with the same seed and start
    would sample; transport faults (offline, duplicate, malformed) are not applied.
    """
    the_seed = scenario.seed if seed is None else seed
    start = start_s if start_s is not None else scenario.resolve_start(time.time())
    end = start + round(scenario.days * 86_400)
    cycles: list[Cycle] = []
    for model in build_models(scenario, registry_path, seed=the_seed, start_s=start, probes=probes):
        t = start
        while t < end:
            cycle = model.sample(t)
            if cycle is None:
                break
            cycles.append(cycle)
            t += model.params.interval_s
    return cycles


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
        self.host, self.port, tls = _parse_broker(broker_url)
        self.start_s = start_s if start_s is not None else scenario.resolve_start(time.time())
        self.end_s = self.start_s + round(scenario.days * 86_400)
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s
        models = build_models(
            scenario, registry_path, seed=self.seed, start_s=self.start_s, probes=probes
        )
        self._links: list[_Link] = []
        self._by_id: dict[str, _Link] = {}
        for index, model in enumerate(models):
            client = self._make_client(model.probe_id, credentials, shared_login, tls, ca_file)
            link = _Link(index, model, client, self.seed)
            client.user_data_set(link)
            self._links.append(link)
            self._by_id[model.probe_id] = link
        self._truth: list[CycleTruth] = []
        self._lock = threading.RLock()
        self._commands: deque[Callable[[], None]] = deque()
        self._selector: selectors.BaseSelector | None = None
        self._wake_w: socket.socket | None = None  # wakes the loop from other threads
        self._thread: threading.Thread | None = None
        self._stop_requested = False
        self._stop_when_done = False
        self._finished = False
        self._drain_timeout_s = 60.0
        self._running = False
        self._heap: list[tuple[int, int]] = []
        self._post_connect: list[_Link] = []
        self._touched: set[_Link] = set()  # links whose paho client may want to write
        self._next_scan = 0.0
        self._manual_offset_s = 0.0
        self._wall0 = 0.0
        self._sim_now = float(self.start_s)
        self._summary = RunSummary(
            scenario=scenario.name,
            seed=self.seed,
            probes=len(self._links),
            start_s=self.start_s,
            end_s=self.end_s,
            sim_time_s=float(self.start_s),
        )

    # ------------------------------------------------------------------ setup
    def _make_client(
        self,
        probe_id: str,
        credentials: Mapping[str, str] | None,
        shared_login: tuple[str, str | None] | None,
        tls: bool,
        ca_file: Path | None,
    ) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=probe_id,
            protocol=mqtt.MQTTv5,
        )
        if shared_login is not None:
            client.username_pw_set(shared_login[0], shared_login[1])
        elif credentials is not None:
            if probe_id not in credentials:
                msg = f"no password for probe {probe_id!r} in the credentials; add a row for it"
                raise SimError(msg)
            client.username_pw_set(probe_id, credentials[probe_id])
        else:
            client.username_pw_set(probe_id, None)
        if tls or ca_file is not None:
            client.tls_set(ca_certs=str(ca_file) if ca_file else None)
        client.will_set(
            status_topic(self.topic_prefix, probe_id),
            status_payload(online=False),
            qos=1,
            retain=True,
        )
        client.connect_timeout = self.connect_timeout_s
        client.max_inflight_messages_set(20)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.connect_async(
            self.host, self.port, keepalive=self.scenario.network.keepalive_s, clean_start=True
        )
        return client

    # ------------------------------------------------------------- public API
    @property
    def probe_ids(self) -> list[str]:
        return [link.probe_id for link in self._links]

    @property
    def sim_time_s(self) -> float:
        """The simulated clock (UNIX seconds)."""
        return self._sim_now

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
        self._wake()
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

        def command() -> None:
            self._manual_offset_s += seconds

        self._submit(command)

    def take_offline(self, probe_id: str) -> None:
        """From the next cycle on, the probe has no network (buffers, then backfills)."""
        link = self._link(probe_id)

        def command() -> None:
            link.manual_offline = True

        self._submit(command)

    def bring_online(self, probe_id: str) -> None:
        """Undo `take_offline`: at its next cycle the probe reconnects and backfills."""
        link = self._link(probe_id)

        def command() -> None:
            link.manual_offline = False

        self._submit(command)

    def inject_spike(self, probe_id: str, value: float, quantity: Quantity = "nitrate") -> None:
        """The probe's next cycle reads `value` (canonical unit, e.g. mg/L NO3) for `quantity`."""
        link = self._link(probe_id)
        self._submit(lambda: link.model.inject_spike(quantity, value))

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
            summary.sim_time_s = self._sim_now
            summary.dead_probes = [link.probe_id for link in self._links if link.state == "dead"]
            summary.done = self._finished or (self._running and self._is_done())
            return dataclasses.replace(summary, dead_probes=list(summary.dead_probes))

    # ---------------------------------------------------------- plumbing
    def _link(self, probe_id: str) -> _Link:
        try:
            return self._by_id[probe_id]
        except KeyError:
            msg = f"probe {probe_id!r} is not part of this fleet ({len(self._links)} probes)"
            raise SimError(msg) from None

    def _submit(self, command: Callable[[], None]) -> None:
        with self._lock:
            self._commands.append(command)
        self._wake()

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")

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
        return all(link.state == "dead" or link.next_t > target for link in self._links)

    def _is_done(self) -> bool:
        return self._clock_done(self.end_s - 1) and self._is_settled()

    def _is_idle(self) -> bool:
        return self._clock_done(self._target(time.monotonic())) and self._is_settled()

    def _is_settled(self) -> bool:
        for link in self._links:
            if link.state in ("dead", "offline"):
                continue
            if link.blocked or link.pending or link.backlog or link.state != "connected":
                return False
        return True

    # ---------------------------------------------------------- paho callbacks
    def _on_socket_open(self, client: mqtt.Client, link: _Link, sock: SocketLike) -> None:
        if self._selector is not None:
            link.sock = sock
            link.write_interest = False
            self._selector.register(sock, selectors.EVENT_READ, link)

    def _on_socket_close(self, client: mqtt.Client, link: _Link, sock: SocketLike) -> None:
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
        link.sock = None

    def _on_connect(
        self,
        client: mqtt.Client,
        link: _Link,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._summary.connect_failures += 1
            if reason.value in (0x86, 0x87, 0x8C):  # bad user/password, not authorized
                self._summary.refused_logins += 1
            log.warning("probe %s: broker refused the connection: %s", link.probe_id, reason)
            return
        self._summary.connects += 1
        link.state = "connected"
        link.attempt = 0
        # Publish after paho resent its in-flight messages (keeps the backlog in order).
        self._post_connect.append(link)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        link: _Link,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if link.state in ("offline", "dead", "stopped"):
            return
        if link.state == "connected":
            log.info("probe %s: connection lost (%s), will reconnect", link.probe_id, reason)
        self._schedule_reconnect(link)

    def _on_publish(
        self,
        client: mqtt.Client,
        link: _Link,
        mid: int,
        reason: ReasonCode,
        properties: Properties,
    ) -> None:
        if mid in link.status_mids:
            link.status_mids.discard(mid)
            return
        pack = link.pending.pop(mid, None)
        if pack is None:
            return
        pack.mids.discard(mid)
        now = time.time()
        if not link.pending and link.awaiting_ack_since is not None:
            link.awaiting_ack_since = None
            self._unblock(link)
        if pack.mids:
            return  # a duplicate of this pack is still in flight
        if reason.is_failure:
            self._summary.denied_packs += 1
            log.warning("probe %s: broker refused pack %d: %s", link.probe_id, pack.number, reason)
        else:
            self._summary.acked_packs += 1
        for truth in pack.cycles:
            if truth.delivery != "acked":
                truth.delivery = "denied" if reason.is_failure else "acked"
                truth.acked_at_s = now

    # ---------------------------------------------------------- connection
    def _schedule_reconnect(self, link: _Link) -> None:
        network = self.scenario.network
        ceiling = min(network.reconnect_max_s, network.reconnect_base_s * 2**link.attempt)
        delay = ceiling / 2 + link.rng.uniform(0, ceiling / 2)  # "equal jitter"
        link.attempt += 1
        link.state = "waiting"
        link.next_attempt = time.monotonic() + delay
        link.awaiting_ack_since = None
        if link.blocked:
            self._unblock(link)

    def _connect(self, link: _Link) -> None:
        self._touched.add(link)
        link.state = "connecting"
        link.connecting_since = time.monotonic()
        try:
            link.client.reconnect()
        except (OSError, ssl.SSLError) as exc:
            self._summary.connect_failures += 1
            # A certificate problem will not go away by waiting: say it loudly.
            level = logging.WARNING if isinstance(exc, ssl.SSLError) else logging.INFO
            log.log(
                level,
                "probe %s: cannot connect to %s:%d: %s",
                link.probe_id,
                self.host,
                self.port,
                exc,
            )
            self._schedule_reconnect(link)

    def _go_offline(self, link: _Link) -> None:
        was = link.state
        link.state = "offline"
        if was in ("connected", "connecting"):
            self._touched.add(link)
            # The probe vanishes: the broker publishes its last will ({"online": false}).
            link.client.disconnect(reasoncode=_WILL_REASON)

    def _die(self, link: _Link) -> None:
        self._go_offline(link)
        link.state = "dead"
        log.info("probe %s: battery dead at %d", link.probe_id, link.next_t)

    def _unblock(self, link: _Link) -> None:
        link.blocked = False
        if link.deferred:
            link.deferred = False
            heapq.heappush(self._heap, (link.next_t, link.index))

    # ---------------------------------------------------------- publishing
    def _publish_status(self, link: _Link) -> None:
        battery = round(link.model.physics.battery_pct, 1)
        payload = status_payload(
            online=True,
            firmware=self.scenario.network.firmware,
            battery=battery,
            t=int(min(self._sim_now, link.next_t)),
        )
        self._touched.add(link)
        info = link.client.publish(
            status_topic(self.topic_prefix, link.probe_id), payload, qos=1, retain=True
        )
        link.status_mids.add(info.mid)

    def _flush(self, link: _Link) -> None:
        if not link.backlog:
            return
        cycles = list(link.backlog)
        link.backlog.clear()
        model = link.model
        topic = data_topic(self.topic_prefix, link.probe_id)
        by_cycle = {id(c.cycle): c for c in cycles}
        packs = split_into_packs(
            link.probe_id, [c.cycle for c in cycles], self.scenario.network.max_pack_bytes
        )
        now = time.time()
        self._touched.add(link)
        for pack_cycles, good in packs:
            wire = good
            link.pack_counter += 1
            truths = [by_cycle[id(c)] for c in pack_cycles]
            first_t = pack_cycles[0].t
            variant = model.malformed_variant(first_t)
            if variant is not None:
                wire, broken = malformed_pack(link.probe_id, pack_cycles, variant)
                for truth in truths:
                    truth.add_fault(f"malformed:{variant}", record=broken)
            copies = 2 if model.duplicate(first_t) else 1
            if copies == 2:
                for truth in truths:
                    truth.add_fault("duplicate")
            pack = _Pack(link.pack_counter, truths, wire)
            for _ in range(copies):
                info = link.client.publish(topic, wire, qos=1)
                pack.mids.add(info.mid)
                link.pending[info.mid] = pack
                self._summary.publishes += 1
            self._summary.packs += 1
            for truth in truths:
                truth.pack = pack.number
                truth.delivery = "published"
                truth.published_at_s = now

    def _buffer(self, link: _Link, truth: CycleTruth) -> None:
        link.backlog.append(truth)
        excess = link.unacked_cycles() - self.scenario.network.buffer_capacity
        while link.backlog and excess > 0:
            excess -= 1
            dropped = link.backlog.popleft()
            dropped.delivery = "dropped"
            self._summary.dropped_cycles += 1

    # ---------------------------------------------------------- the clock
    def _target(self, now: float) -> float:
        if self.speed == 0:
            target = self.start_s + self._manual_offset_s
        elif math.isinf(self.speed):
            target = float(self.end_s)
        else:
            target = self.start_s + (now - self._wall0) * self.speed
        return min(target, float(self.end_s))

    def _cycle(self, link: _Link, t: int) -> bool:
        """Run `link`'s cycle at `t`; False if it has to wait for its connection first."""
        model = link.model
        offline = link.manual_offline or model.scheduled_offline(t)
        if offline and link.state not in ("offline", "dead"):
            self._go_offline(link)
        elif not offline and link.state == "offline":
            link.blocked = True  # finish connecting before this cycle (deterministic packs)
            self._connect(link)
            if link.blocked:
                return False
        cycle: Cycle | None = model.sample(t)
        if cycle is None:
            self._die(link)
            return True
        if offline:
            cycle.faults.append("offline")
        truth = CycleTruth(cycle)
        self._truth.append(truth)
        self._summary.cycles += 1
        self._buffer(link, truth)
        if link.state == "connected":
            self._flush(link)
            if link.pending:
                # Firmware keeps its buffer and stays awake until the broker acknowledged.
                link.blocked = True
                link.awaiting_ack_since = time.monotonic()
        return True

    def _advance_clock(self, now: float) -> None:
        target = self._target(now)
        budget = _CYCLES_PER_TURN
        max_outstanding = max(500, 10 * len(self._links))
        outstanding = sum(len(link.pending) for link in self._links)
        while self._heap and budget > 0 and outstanding < max_outstanding:
            t, index = self._heap[0]
            if t > target or t >= self.end_s:
                break
            heapq.heappop(self._heap)
            link = self._links[index]
            if link.blocked:
                link.deferred = True  # re-queued by _unblock
                continue
            self._sim_now = max(self._sim_now, t)
            if not self._cycle(link, t):
                link.deferred = True
                continue
            budget -= 1
            outstanding += 1
            if link.state != "dead":
                link.next_t = t + link.model.params.interval_s
                heapq.heappush(self._heap, (link.next_t, index))
        if (not self._heap or self._heap[0][0] > target) and self._clock_done(target):
            self._sim_now = max(self._sim_now, target)

    # ---------------------------------------------------------- the loop
    def _housekeeping(self, now: float) -> None:
        while self._commands:
            self._commands.popleft()()
        started = 0
        scan = now >= self._next_scan  # timeouts and backoff are coarse: scan every 20 ms
        if scan:
            self._next_scan = now + 0.02
        for link in self._links if scan else ():
            if link.state == "idle" and started < _CONNECTS_PER_TURN:
                started += 1
                self._connect(link)
            elif link.state == "waiting" and now >= link.next_attempt:
                self._connect(link)
            elif (
                link.state == "connecting" and now - link.connecting_since > self.connect_timeout_s
            ):
                self._summary.connect_failures += 1
                log.info(
                    "probe %s: no CONNACK within %.1f s", link.probe_id, self.connect_timeout_s
                )
                self._schedule_reconnect(link)
            elif (
                link.awaiting_ack_since is not None
                and now - link.awaiting_ack_since > self.ack_timeout_s
            ):
                log.info(
                    "probe %s: no PUBACK within %.1f s, going on", link.probe_id, self.ack_timeout_s
                )
                link.awaiting_ack_since = None
                self._unblock(link)
        posted, self._post_connect = self._post_connect, []
        for link in posted:
            if link.state != "connected":
                continue
            self._publish_status(link)
            self._flush(link)
            if link.pending:
                link.awaiting_ack_since = time.monotonic()
            else:
                self._unblock(link)

    def _raise_fd_limit(self) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        needed = len(self._links) + 64
        if soft != resource.RLIM_INFINITY and soft < needed:
            new_soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
            if new_soft < needed:
                log.warning("only %d file descriptors for %d probes", new_soft, len(self._links))

    def _loop(self) -> None:
        self._raise_fd_limit()
        selector = selectors.DefaultSelector()
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        selector.register(wake_r, selectors.EVENT_READ, None)
        misc_every = 1.0
        next_misc = 0.0
        with self._lock:
            self._selector = selector
            self._wake_w = wake_w
            self._wall0 = time.monotonic()
            for link in self._links:
                link.blocked = True  # first cycle waits for the first connection attempt
                link.deferred = True
            self._running = True
        drain_deadline: float | None = None
        try:
            while True:
                with self._lock:
                    now = time.monotonic()
                    self._housekeeping(now)
                    if self._stop_requested:
                        self._finished = self._is_done()
                        break
                    self._advance_clock(now)
                    if now >= next_misc:
                        next_misc = now + misc_every
                        for link in self._links:
                            if link.sock is not None:
                                link.client.loop_misc()  # keepalive (PINGREQ)
                                self._touched.add(link)
                    if self._stop_when_done and (not self._heap or self._heap[0][0] >= self.end_s):
                        if self._is_done():
                            self._finished = True
                            break
                        if drain_deadline is None and self._clock_done(self.end_s - 1):
                            drain_deadline = now + self._drain_timeout_s
                        if drain_deadline is not None and now > drain_deadline:
                            log.warning("pending packs not acknowledged before the drain timeout")
                            break
                    timeout = self._select_timeout(now)
                    self._sync_write_interest(selector, every=False)
                for key, mask in selector.select(timeout):
                    link = key.data
                    if link is None:
                        with contextlib.suppress(OSError):
                            wake_r.recv(4096)
                        continue
                    with self._lock:
                        self._touched.add(link)
                        if mask & selectors.EVENT_READ and link.sock is not None:
                            self._read(link)
                        if mask & selectors.EVENT_WRITE and link.sock is not None:
                            link.client.loop_write()
        finally:
            with self._lock:
                self._shutdown(selector)
                self._wake_w = None
            wake_r.close()
            wake_w.close()
            self._running = False
            summary = self._summary
            summary.wall_s = time.monotonic() - self._wall0

    @staticmethod
    def _read(link: _Link) -> None:
        link.client.loop_read()
        # TLS: decrypted bytes may wait inside the SSL object, invisible to select().
        while isinstance(link.sock, ssl.SSLSocket) and link.sock.pending():
            link.client.loop_read()

    def _sync_write_interest(self, selector: selectors.BaseSelector, *, every: bool) -> None:
        """Paho writes at once when it can; what is left (or queued inside callbacks)
        needs the socket's write readiness."""
        links = self._links if every else self._touched
        for link in links:
            if link.sock is None:
                continue
            wanted = link.client.want_write()
            if wanted != link.write_interest:
                link.write_interest = wanted
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
                with contextlib.suppress(KeyError, ValueError):
                    selector.modify(link.sock, events, link)
        if not every:
            self._touched.clear()

    def _select_timeout(self, now: float) -> float:
        if self._commands or self._post_connect:
            return 0.0
        if self._heap and self._heap[0][0] <= self._target(now) and self._heap[0][0] < self.end_s:
            return 0.0  # more cycles due (or back-pressure): just poll the network
        timeout = 0.2
        if self._heap and 0 < self.speed < math.inf:
            due_in = (self._heap[0][0] - self._target(now)) / self.speed
            timeout = min(timeout, max(0.0, due_in))
        for link in self._links:
            if link.state == "waiting":
                timeout = min(timeout, max(0.0, link.next_attempt - now))
        return timeout

    def _shutdown(self, selector: selectors.BaseSelector) -> None:
        for link in self._links:
            if link.state in ("connected", "connecting"):
                link.state = "stopped"
                link.client.disconnect()
            elif link.state not in ("dead", "offline"):
                link.state = "stopped"
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(link.sock is not None for link in self._links):
            self._sync_write_interest(selector, every=True)
            for key, mask in selector.select(0.05):
                link = key.data
                if link is not None and link.sock is not None:
                    if mask & selectors.EVENT_WRITE:
                        link.client.loop_write()
                    if mask & selectors.EVENT_READ and link.sock is not None:
                        link.client.loop_read()
        for link in self._links:
            if link.sock is not None:
                with contextlib.suppress(OSError):
                    link.sock.close()
        selector.close()
        self._selector = None
