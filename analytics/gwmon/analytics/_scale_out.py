"""Analytics over the `gwmon run` processes of one MQTT 5 shared subscription group.

The shared group spreads the probes' messages over the processes as the broker likes,
but each probe's state (history, alarms, alerts) must live in exactly one of them. So
the probes fall into `partitions` by CRC-32 of the probe id (stable across processes,
machines and Python versions, unlike `hash()`), and each process owns the partitions
listed in its `[analytics.scale_out] owned` (configured ownership: the lists of all
processes together cover every partition once). `PartitionedObserver` is the
`BatchObserver` of each process:

- readings of owned probes go straight to the process's `AnalyticsObserver`, which holds
  only the owned probes (stale checks, trend alerts and ack polls included);
- readings of other probes, after InfluxDB stored them (the ingest calls observers only
  with stored readings, so refused ones never travel), are published as one hand-off
  per partition at QoS 1 to `<topic>/<partition>`; the ingest acknowledges the batch's
  own messages only when the broker has taken each hand-off for a subscriber and the
  batch's owned readings are evaluated (`batch_done`, in the background while the
  ingest goes on), so a crash in between redelivers, stores again (idempotent) and
  hands off again;
- the owner's `HandoffLink` subscribes to its partitions' topics with a persistent
  session; each hand-off is evaluated (and committed to the state file) before it is
  acknowledged to the broker. While the owner is down its session queues them;
- owned readings, the process's own and the hand-offs', wait `reorder_hold_s` after
  they reached the ingest that stored them before they are evaluated, so that a
  probe's packs split over the group are evaluated in measurement order (a late one
  means a replay of the probe, and short-lived flags and alerts withdrawn again).

Duplicates and order: QoS 1 redelivery, a message redelivered to another group member
and late (buffered) readings all reach the owner as readings in any order; the
observer's replay makes alarms a function of the set of readings, and an exact
duplicate changes nothing.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from gwmon.analytics._book import AlertBook
from gwmon.analytics._handoff import (
    HandoffLink,
    HandoffRejected,
    LinkSettings,
    decode_handoff_columns,
    encode_handoff_rows,
    handoff_rows,
)
from gwmon.analytics._hold import Released, ReorderHold, packs_of
from gwmon.analytics._model import Alert, AlertListener
from gwmon.analytics._observer import AnalyticsObserver
from gwmon.analytics._settings import AnalyticsSettings, ScaleOutSettings, load_settings
from gwmon.analytics._stats import AnalyticsStats
from gwmon.config import ConfigProblem, config_error, read_secret_file
from gwmon.ingest import (
    GwmonConfig,
    Reading,
    ReadingColumns,
    Registry,
    topic_root,
)
from gwmon.storage import InfluxClient

logger = logging.getLogger("gwmon.analytics.scale_out")

_READINGS_PER_HANDOFF = 10_000


def partition_of(probe_id: str, partitions: int) -> int:
    """The partition of a probe: CRC-32 of its UTF-8 id, modulo `partitions`."""
    return zlib.crc32(probe_id.encode("utf-8")) % partitions


def partition_topic(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


def scale_out_problems(settings: AnalyticsSettings, config: GwmonConfig) -> list[ConfigProblem]:
    """What is wrong with [analytics.scale_out] (only checked when it is enabled)."""
    scale = settings.scale_out
    source = config.source
    key = "analytics.scale_out"
    problems: list[ConfigProblem] = []
    if not settings.enabled:
        problems.append(ConfigProblem(source, f"{key}.enabled", "needs analytics.enabled = true"))
    if not config.mqtt.shared_group:
        problems.append(
            ConfigProblem(
                source,
                "mqtt.shared_group",
                "is not set: scale-out splits analytics over the processes of one shared "
                "subscription group; set the same shared_group in each of them",
            )
        )
    if not scale.owned:
        problems.append(
            ConfigProblem(
                source,
                f"{key}.owned",
                f"is empty: list this process's partitions (0 to {scale.partitions - 1}); "
                "the lists of all processes must cover every partition exactly once",
            )
        )
    outside = sorted({p for p in scale.owned if p >= scale.partitions})
    if outside:
        problems.append(
            ConfigProblem(
                source,
                f"{key}.owned",
                f"lists {outside}, outside 0 to {scale.partitions - 1} "
                f"(partitions = {scale.partitions})",
            )
        )
    twice = sorted({p for p in scale.owned if scale.owned.count(p) > 1})
    if twice:
        problems.append(ConfigProblem(source, f"{key}.owned", f"lists {twice} more than once"))
    problems.extend(_topic_problems(scale, config, f"{key}.topic"))
    if scale.password_file is not None and scale.username is None:
        problems.append(
            ConfigProblem(
                source, f"{key}.password_file", "is set without analytics.scale_out.username"
            )
        )
    return problems


def _topic_problems(scale: ScaleOutSettings, config: GwmonConfig, key: str) -> list[ConfigProblem]:
    topic = scale.topic
    if topic.endswith("/") or topic.startswith("$") or any(c in topic for c in "+#"):
        return [
            ConfigProblem(
                config.source,
                key,
                "must not start with '$', end with '/' or contain '+' or '#' "
                "(e.g. 'gwmon/v1/analytics')",
            )
        ]
    # The probes' tree belongs to the probes (their ACL and the wire contract).
    root = topic_root(config.mqtt.topic_prefix)
    if topic == root or topic.startswith(root + "/"):
        return [
            ConfigProblem(
                config.source,
                key,
                f"lies under the probes' topics ({root}/...); use e.g. 'gwmon/v1/analytics'",
            )
        ]
    return []


@dataclass
class ScaleOutStats:
    """Readings handed to other owners, hand-offs received (and their readings), and
    hand-off messages rejected (not gwmon's, or for another partition layout)."""

    handed_off: int = 0
    received: int = 0
    received_readings: int = 0
    rejected: int = 0
    errors: int = 0


def owned_registry(registry: Registry, scale: ScaleOutSettings) -> Registry:
    """The probes this process evaluates."""
    owned = set(scale.owned)
    probes = {
        probe_id: probe
        for probe_id, probe in registry.probes.items()
        if partition_of(probe_id, scale.partitions) in owned
    }
    return Registry(probes=probes, path=registry.path)


class PartitionedObserver:
    """The `BatchObserver` of one process of a scaled-out group (see module docstring);
    `book`, `add_listener` and the rest are those of the inner `AnalyticsObserver`.

    It finishes batches in the background (`gwmon.ingest.DefersAcks`): `batch_stored`
    publishes the hand-offs and queues the owned readings; `batch_done()` gives the
    check that the ingest acknowledges the batch's messages by. The owned readings (of
    the batch and of received hand-offs) go to the evaluation thread: those that
    continue a probe where the readings already released for evaluation end (at most
    1.5 expected intervals after the newest of them), or lie before that end (late
    ones: waiting cannot help them), are evaluated at once; those after a gap wait up
    to `hold_s` for the readings of the gap, which another process of the group may
    have stored and handed off (the group splits each probe's messages over its
    processes; one process gets them in order). So a probe's readings are mostly
    evaluated in measurement order, without the replay a late reading costs, and a
    reading after a real gap waits `hold_s` once.
    """

    # The evaluation reads nothing from InfluxDB and uses clients of its own.
    overlaps_next_write = True

    def __init__(
        self,
        inner: AnalyticsObserver,
        scale: ScaleOutSettings,
        link_of: MakeLink,
        *,
        hold_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.scale = scale
        self.owned = frozenset(scale.owned)
        self.stats = ScaleOutStats()
        self.sender = inner.config.mqtt.client_id
        self.hold_s = scale.reorder_hold_s if hold_s is None else hold_s
        steps_ns = {
            probe.probe_id: int(probe.expected_interval_s * 1.5 * 1e9) for probe in inner.registry
        }
        self._hold = ReorderHold(self._evaluate, steps_ns, self.hold_s, clock=clock)
        self._check: Callable[[], bool] | None = None
        topics = tuple(partition_topic(scale.topic, p) for p in sorted(self.owned))
        self.link = link_of(topics, self._on_handoff)
        self.link.start()
        logger.info(
            "analytics scale-out: %d of %d partitions owned (%s), %d probes evaluated here, "
            "readings held %.1f s for the hand-offs",
            len(self.owned),
            scale.partitions,
            ", ".join(map(str, sorted(self.owned))),
            len(inner.registry),
            self.hold_s,
        )

    # -- the inner observer's public API ---------------------------------------------------------
    @property
    def book(self) -> AlertBook:
        return self.inner.book

    @property
    def analytics_stats(self) -> AnalyticsStats:
        return self.inner.stats

    def add_listener(self, listener: AlertListener) -> None:
        self.inner.add_listener(listener)

    def open_alerts(self) -> list[Alert]:
        return self.inner.open_alerts()

    def acknowledge(
        self, alert_id: str, *, by: str, comment: str | None, at: datetime | None = None
    ) -> Alert:
        return self.inner.acknowledge(alert_id, by=by, comment=comment, at=at)

    # -- BatchObserver -----------------------------------------------------------------------------
    def batch_stored(self, readings: Sequence[Reading]) -> None:
        # By message (the ingest's columns): no `Reading` object per reading.
        own: list[ReadingColumns] = []
        others: dict[int, list[ReadingColumns]] = {}
        partitions = self.scale.partitions
        owned = self.owned
        for pack in packs_of(readings):
            partition = partition_of(pack.probe, partitions)
            if partition in owned:
                own.append(pack)
            else:
                others.setdefault(partition, []).append(pack)
        sent = []
        for partition, group in sorted(others.items()):
            rows = handoff_rows(group)
            for start in range(0, len(rows), _READINGS_PER_HANDOFF):
                chunk = rows[start : start + _READINGS_PER_HANDOFF]
                payload = encode_handoff_rows(
                    chunk, partitions=partitions, partition=partition, sender=self.sender
                )
                sent.append(
                    self.link.publish(partition_topic(self.scale.topic, partition), payload)
                )
                self.stats.handed_off += len(chunk)
        checks = []
        if sent:
            checks.append(self.link.track(sent))
        if own:
            checks.append(self._hold.hold(own).evaluated.is_set)
        self._check = _all_of(checks)

    def batch_done(self) -> Callable[[], bool] | None:
        """The check of the batch `batch_stored` was last given: True once its hand-offs
        are with the broker and its owned readings evaluated (and committed)."""
        check, self._check = self._check, None
        return check

    def tick(self, now_s: float) -> None:
        self.inner.tick(now_s)

    def settle(self, timeout: float = 60.0) -> bool:
        """Evaluate every reading waiting now, without the hold; True when done."""
        return self._hold.settle(timeout)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every reading released for evaluation is evaluated (held ones stay
        held); True when so."""
        return self._hold.wait_idle(timeout)

    def stop(self) -> None:
        """Shutdown signal: hand-offs of the final flush still wait a little for the
        broker, but no longer for a partition without an owner."""
        self.link.stop()

    def close(self) -> None:
        # No more hand-offs in; what waits is evaluated now (acknowledging its batches
        # and hand-offs), then the link sees its last hand-offs through and goes.
        self.link.stop()
        self.link.stop_receiving()
        if not self.settle():
            logger.error("analytics did not finish the readings waiting for evaluation")
        self._hold.close()
        self.link.close()
        self.inner.close()
        logger.info(
            "analytics scale-out stopped: handed off %d readings; received %d hand-offs "
            "(%d readings), rejected %d, failed %d; evaluated %d readings in %d releases, "
            "%d replays, %d flags",
            self.stats.handed_off,
            self.stats.received,
            self.stats.received_readings,
            self.stats.rejected,
            self.stats.errors,
            self.inner.stats.readings,
            self._hold.releases,
            self.inner.stats.replays,
            self.inner.stats.flags,
        )

    def _evaluate(self, readings: Released) -> None:
        try:
            self.inner.batch_stored(readings)
        except Exception:
            # As the ingest does with a failing observer: counted, logged, acknowledged
            # (the readings are in InfluxDB; analytics can be re-run from there).
            self.stats.errors += 1
            logger.exception("analytics failed on %d readings", len(readings))

    # -- hand-offs from the other processes (the link's worker thread) ---------------------------
    def _on_handoff(self, topic: str, payload: bytes, done: Callable[[], None]) -> None:
        try:
            handoff = decode_handoff_columns(payload)
            if handoff.partitions != self.scale.partitions:
                msg = (
                    f"sent by {handoff.sender} with partitions = {handoff.partitions}, here "
                    f"{self.scale.partitions}: every process needs the same "
                    "[analytics.scale_out] partitions"
                )
                raise HandoffRejected(msg)
            wrong = {
                pack.probe
                for pack in handoff.packs
                if partition_of(pack.probe, self.scale.partitions) not in self.owned
            }
            if handoff.partition not in self.owned or wrong:
                msg = f"holds probes of partitions not owned here ({sorted(wrong)[:5]})"
                raise HandoffRejected(msg)
        except HandoffRejected as exc:
            self.stats.rejected += 1
            logger.error("hand-off on %s rejected: %s", topic, exc)
            done()
            return
        self.stats.received += 1
        self.stats.received_readings += handoff.count
        self._hold.hold(list(handoff.packs), done)


def _all_of(checks: list[Callable[[], bool]]) -> Callable[[], bool] | None:
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda: all(check() for check in checks)


OnHandoff = Callable[[str, bytes, Callable[[], None]], None]


class Link(Protocol):
    """What the observer needs of the MQTT side (`HandoffLink`)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def stop_receiving(self) -> None: ...

    def close(self) -> None: ...

    def publish(self, topic: str, payload: bytes) -> tuple[str, bytes, int]: ...

    def track(self, sent: list[tuple[str, bytes, int]]) -> Callable[[], bool]: ...


MakeLink = Callable[[tuple[str, ...], OnHandoff], Link]


class LinkFactory:
    """Makes the process's `HandoffLink` from the config. Reads the password file at
    once (ValueError naming the key and file)."""

    def __init__(self, config: GwmonConfig, scale: ScaleOutSettings) -> None:
        mqtt_settings = config.mqtt
        self.mqtt = mqtt_settings
        self.client_id = scale.client_id or f"{mqtt_settings.client_id}-analytics"
        if scale.username is not None:
            self.username: str | None = scale.username
            self.password = (
                read_secret_file(
                    _resolved(config, scale.password_file), "analytics.scale_out.password_file"
                )
                if scale.password_file is not None
                else None
            )
        else:
            self.username = mqtt_settings.username
            self.password = mqtt_settings.resolved_password()

    def __call__(self, topics: tuple[str, ...], on_message: OnHandoff) -> HandoffLink:
        settings = LinkSettings(
            mqtt=self.mqtt,
            client_id=self.client_id,
            username=self.username,
            password=self.password,
            topics=topics,
        )
        return HandoffLink(settings, on_message)


def _resolved(config: GwmonConfig, path: Path) -> Path:
    return path if path.is_absolute() else config.base_dir / path


def build_partitioned_observer(
    config: GwmonConfig,
    registry: Registry,
    *,
    settings: AnalyticsSettings | None = None,
    make_link: MakeLink | None = None,
) -> PartitionedObserver:
    """The observer of one process of a scaled-out group. Its analytics observer has an
    InfluxDB client of its own: hand-offs are evaluated on the link's thread.
    `make_link` replaces the MQTT link (tests). Raises ConfigError when
    [analytics.scale_out] is wrong."""
    settings = settings or load_settings(config)
    problems = scale_out_problems(settings, config)
    if problems:
        raise config_error(problems, source=config.source)
    scale = settings.scale_out
    try:
        factory = LinkFactory(config, scale)
    except ValueError as exc:
        raise config_error(
            [ConfigProblem(config.source, "analytics.scale_out.password_file", str(exc))],
            source=config.source,
        ) from None
    inner = AnalyticsObserver(
        config, owned_registry(registry, scale), InfluxClient(config.influxdb), settings=settings
    )
    return PartitionedObserver(inner, scale, make_link or factory)
