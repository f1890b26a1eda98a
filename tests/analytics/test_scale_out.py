"""[analytics.scale_out]: partitions, the hand-off message, configuration problems and
the hand-off link's delivery rule against a real Mosquitto."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.analytics_helpers import write_config
from gwmon.analytics import check_config, partition_of
from gwmon.analytics._handoff import (
    MAX_HANDOFF_BYTES,
    HandoffLink,
    HandoffRejected,
    LinkSettings,
    decode_handoff,
    encode_handoff,
)
from gwmon.analytics._scale_out import OnHandoff, owned_registry
from gwmon.analytics._settings import load_settings
from gwmon.ingest import Reading, load_config, load_registry
from gwmon.ingest.devservers import MosquittoServer
from ingest_helpers import DEMO_REGISTRY


def test_partition_is_crc32_of_the_probe_id_and_stable() -> None:
    # Fixed values (CRC-32 of the UTF-8 id): every process, machine and Python agrees.
    assert [partition_of(p, 16) for p in ("LE-01", "LE-07", "WU-03", "TH-02")] == [0, 5, 0, 4]
    assert {partition_of(p, 1) for p in ("A", "B", "C")} == {0}


def test_owned_registry_keeps_exactly_the_owned_partitions(tmp_path: Path) -> None:
    registry = load_registry(DEMO_REGISTRY)
    config = write_config(tmp_path, analytics="[analytics.scale_out]\npartitions = 4\nowned = [1]")
    scale = load_settings(config).scale_out
    owned = owned_registry(registry, scale)
    assert set(owned.probes) == {p.probe_id for p in registry if partition_of(p.probe_id, 4) == 1}
    assert 0 < len(owned) < len(registry)


readings = st.builds(
    Reading,
    probe=st.text(min_size=1, max_size=128),
    quantity=st.sampled_from(["nitrate", "level", "depth", "temperature"]),
    time_ns=st.integers(-(2**63), 2**63 - 1),
    value=st.floats(allow_nan=False, allow_infinity=False),
    record_name=st.text(min_size=1, max_size=128),
    arrival_ns=st.integers(0, 2**63 - 1),
    censored=st.booleans(),
)


@given(st.lists(readings, max_size=20))
def test_handoff_round_trips_every_reading_exactly(batch: list[Reading]) -> None:
    payload = encode_handoff(batch, partitions=8, partition=3, sender="gwmon-a")
    handoff = decode_handoff(payload)
    assert (handoff.partitions, handoff.partition, handoff.sender) == (8, 3, "gwmon-a")
    assert handoff.readings == batch


def _body(**changes: object) -> bytes:
    body: dict[str, object] = {
        "v": 1,
        "partitions": 4,
        "partition": 1,
        "from": "gwmon-a",
        "readings": [["LE-07", "nitrate", 10, 51.3, "nitrate", 11, False]],
    }
    body.update(changes)
    return orjson.dumps(body)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a hand-off"),
        (_body(v=2), "not a hand-off"),
        (_body(partitions=0), "partitions"),
        (_body(partition=4), "partition"),
        (_body(partitions=True), "partitions"),
        (_body(readings={}), "readings must be a list"),
        (_body(readings=[[0] * 7] * 50_001), "readings must be a list"),
        (_body(readings=[["LE-07"]]), "list of 7"),
        (_body(readings=[["", "nitrate", 1, 1.0, "n", 1, False]]), "probe"),
        (_body(readings=[["P" * 129, "nitrate", 1, 1.0, "n", 1, False]]), "probe"),
        (_body(readings=[["P", "nitrate", 1.5, 1.0, "n", 1, False]]), "time_ns"),
        (_body(readings=[["P", "nitrate", 2**63, 1.0, "n", 1, False]]), "time_ns"),
        (_body(readings=[["P", "nitrate", 1, "1", "n", 1, False]]), "value"),
        (_body(readings=[["P", "nitrate", 1, True, "n", 1, False]]), "value"),
        (_body(readings=[["P", "nitrate", 1, 1.0, "n", -1, False]]), "arrival_ns"),
        (_body(readings=[["P", "nitrate", 1, 1.0, "n", 1, 0]]), "censored"),
        (_body(**{"from": None}), "from"),
        (b" " * (MAX_HANDOFF_BYTES + 1), "larger than"),
    ],
)
def test_handoff_rejects_what_gwmon_did_not_write(payload: bytes, reason: str) -> None:
    with pytest.raises(HandoffRejected, match=reason):
        decode_handoff(payload)


def _problems(tmp_path: Path, scale_out: str, mqtt_extra: str = 'shared_group = "g"') -> str:
    (tmp_path / "gwmon.toml").write_text(
        f"[mqtt]\n{mqtt_extra}\n[analytics]\nstate_dir = 'state'\n"
        f"[analytics.scale_out]\nenabled = true\n{scale_out}\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "gwmon.toml")
    return "\n".join(check_config(config, load_registry(DEMO_REGISTRY)))


def test_a_complete_scale_out_section_passes_the_check(tmp_path: Path) -> None:
    assert _problems(tmp_path, "partitions = 4\nowned = [0, 1]") == ""


@pytest.mark.parametrize(
    ("scale_out", "mqtt_extra", "expected"),
    [
        ("owned = []", 'shared_group = "g"', "key 'analytics.scale_out.owned': is empty"),
        ("partitions = 4\nowned = [4]", 'shared_group = "g"', "lists [4], outside 0 to 3"),
        ("owned = [1, 1]", 'shared_group = "g"', "lists [1] more than once"),
        ("owned = [0]", "", "key 'mqtt.shared_group': is not set"),
        ("owned = [0]\ntopic = 'a/+'", 'shared_group = "g"', "key 'analytics.scale_out.topic'"),
        ("owned = [0]\ntopic = 'gw/v1/x'", 'shared_group = "g"', "lies under the probes' topics"),
        ("owned = [0]\npassword_file = 'x'", 'shared_group = "g"', "without analytics.scale_out"),
    ],
)
def test_scale_out_problems_name_the_key_and_the_fix(
    tmp_path: Path, scale_out: str, mqtt_extra: str, expected: str
) -> None:
    problems = _problems(tmp_path, scale_out, mqtt_extra)
    assert expected in problems
    assert str(tmp_path / "gwmon.toml") in problems


def _link(
    mosquitto: MosquittoServer, client_id: str, topics: tuple[str, ...], sink: list[bytes]
) -> HandoffLink:
    config = load_config(_config_file(mosquitto, client_id))
    settings = LinkSettings(config.mqtt, client_id, None, None, topics)

    def received(topic: str, payload: bytes, done: Callable[[], None]) -> None:
        sink.append(payload)
        done()

    link = HandoffLink(settings, received)
    link.start()
    return link


def _config_file(mosquitto: MosquittoServer, client_id: str) -> Path:
    import tempfile  # noqa: PLC0415

    path = Path(tempfile.mkdtemp()) / "gwmon.toml"
    path.write_text(
        f'[mqtt]\nurl = "{mosquitto.url}"\nclient_id = "{client_id}"\nsession_expiry_s = 600\n',
        encoding="utf-8",
    )
    return path


def test_a_handoff_without_a_subscribed_owner_is_published_again_until_one_subscribes(
    mosquitto: MosquittoServer,
) -> None:
    sender_got: list[bytes] = []
    sender = _link(mosquitto, "gwmon-a-analytics", ("t/0",), sender_got)
    assert sender.subscribed.wait(10)
    sent = [sender.publish("t/1", b"for partition 1")]
    outcome: list[bool] = []
    waiter = threading.Thread(target=lambda: outcome.append(sender.wait_delivered(sent)))
    waiter.start()
    time.sleep(1.5)
    assert outcome == []  # nobody holds t/1: the broker said "no matching subscribers"
    owner_got: list[bytes] = []
    owner = _link(mosquitto, "gwmon-b-analytics", ("t/1",), owner_got)
    try:
        waiter.join(30)
        assert outcome == [True]
        deadline = time.monotonic() + 10
        while not owner_got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert owner_got[:1] == [b"for partition 1"]
    finally:
        owner.close()
        sender.close()


def test_handoffs_wait_in_the_owners_session_while_it_is_down(
    mosquitto: MosquittoServer,
) -> None:
    first: list[bytes] = []
    owner = _link(mosquitto, "gwmon-b-analytics", ("t/1",), first)
    assert owner.subscribed.wait(10)
    owner.close()  # persistent session: the subscription stays, messages queue
    sender = _link(mosquitto, "gwmon-a-analytics", (), [])
    try:
        assert sender.wait_delivered([sender.publish("t/1", b"queued")])
        later: list[bytes] = []
        owner = _link(mosquitto, "gwmon-b-analytics", ("t/1",), later)
        deadline = time.monotonic() + 10
        while not later and time.monotonic() < deadline:
            time.sleep(0.05)
        assert later == [b"queued"]
        assert first == []
    finally:
        owner.close()
        sender.close()


def test_after_a_shutdown_signal_handoffs_still_reach_a_subscribed_owner_but_not_wait_for_none(
    mosquitto: MosquittoServer,
) -> None:
    owner_got: list[bytes] = []
    owner = _link(mosquitto, "gwmon-b-analytics", ("t/1",), owner_got)
    sender = _link(mosquitto, "gwmon-a-analytics", (), [])
    try:
        assert owner.subscribed.wait(10)
        sender.stop()  # SIGTERM: the final flush's hand-offs must still go out
        assert sender.wait_delivered([sender.publish("t/1", b"final flush")])
        started = time.monotonic()
        assert not sender.wait_delivered([sender.publish("t/2", b"nobody owns t/2")])
        assert time.monotonic() - started < 5
        deadline = time.monotonic() + 10
        while not owner_got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert owner_got == [b"final flush"]
    finally:
        owner.close()
        sender.close()


class FakeLink:
    """Stands in for the MQTT link: records hand-offs, and the deliveries tracked
    (delivered once `broker_took` is set); received hand-offs are acknowledged
    (`acked`, in order) when the observer says they are done."""

    def __init__(self, topics: tuple[str, ...], on_message: OnHandoff) -> None:
        self.topics = topics
        self._on_message = on_message
        self.sent: list[tuple[str, bytes, int]] = []
        self.waited: list[list[tuple[str, bytes, int]]] = []
        self.broker_took = threading.Event()
        self.broker_took.set()
        self.acked: list[int] = []
        self.received: list[int] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def stop_receiving(self) -> None:
        pass

    def close(self) -> None:
        pass

    def publish(self, topic: str, payload: bytes) -> tuple[str, bytes, int]:
        self.sent.append((topic, payload, len(self.sent)))
        return self.sent[-1]

    def track(self, sent: list[tuple[str, bytes, int]]) -> Callable[[], bool]:
        self.waited.append(sent)
        return self.broker_took.is_set

    def on_message(self, topic: str, payload: bytes) -> int:
        """Hand a message to the observer; its number (for `acked`)."""
        number = len(self.received)
        self.received.append(number)
        self._on_message(topic, payload, lambda: self.acked.append(number))
        return number


def test_owned_readings_are_evaluated_here_and_the_rest_handed_off_per_partition(
    tmp_path: Path,
) -> None:
    from analytics.analytics_helpers import probe, reading, registry  # noqa: PLC0415
    from gwmon.analytics import build_partitioned_observer  # noqa: PLC0415

    ids = ["LE-01", "LE-07", "TH-02", "WU-03"]  # partitions (of 16) 0, 5, 4, 0
    reg = registry(*(probe(p) for p in ids))
    (tmp_path / "gwmon.toml").write_text(
        '[mqtt]\nclient_id = "gwmon-a"\nshared_group = "g"\n[influxdb]\nurl = "http://127.0.0.1:9"\n'
        "[analytics]\nstate_dir = 'state'\n[analytics.scale_out]\nenabled = true\nowned = [0, 1]\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "gwmon.toml")
    links: list[FakeLink] = []

    def make_link(topics: tuple[str, ...], on_message: Any) -> FakeLink:
        links.append(FakeLink(topics, on_message))
        return links[-1]

    obs = build_partitioned_observer(config, reg, make_link=make_link)
    try:
        assert links[0].topics == ("gwmon/v1/analytics/0", "gwmon/v1/analytics/1")
        batch = [reading(h, 20.0 + h, probe_id=p) for p in ids for h in range(3)]
        obs.batch_stored(batch)
        assert obs.settle()
        assert sorted(obs.inner._tracks) == ["LE-01", "WU-03"]
        assert obs.inner.stats.readings == 6
        handed = {topic: decode_handoff(payload) for topic, payload, _ in links[0].sent}
        assert sorted(handed) == ["gwmon/v1/analytics/4", "gwmon/v1/analytics/5"]
        assert handed["gwmon/v1/analytics/4"].readings == [r for r in batch if r.probe == "TH-02"]
        assert handed["gwmon/v1/analytics/5"].readings == [r for r in batch if r.probe == "LE-07"]
        assert links[0].waited == [links[0].sent]  # acknowledged after the broker took them
        # A hand-off from another process for an owned probe is evaluated here ...
        payload = encode_handoff(
            [reading(5, 25.0, probe_id="LE-01")], partitions=16, partition=0, sender="gwmon-b"
        )
        links[0].on_message("gwmon/v1/analytics/0", payload)
        assert obs.settle()
        assert obs.inner.stats.readings == 7
        # ... one for a probe of another partition, or another layout, is rejected.
        for wrong in (
            encode_handoff(
                [reading(6, 1.0, probe_id="LE-07")], partitions=16, partition=0, sender="b"
            ),
            encode_handoff(
                [reading(6, 1.0, probe_id="LE-01")], partitions=8, partition=0, sender="b"
            ),
        ):
            links[0].on_message("gwmon/v1/analytics/0", wrong)
        assert obs.settle()
        assert (obs.stats.rejected, obs.inner.stats.readings) == (2, 7)
    finally:
        obs.close()
