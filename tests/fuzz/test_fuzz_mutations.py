"""The bulk of the generated cases, cheaply: seeded byte-level mutations (AFL-style:
delete, insert, flip, duplicate, splice, number blow-up, cut) of well-formed probe
packs, status messages and the corpus, decoded in-process. Zero unhandled exceptions;
each outcome counted by reason (tests/fuzz/tally.py). The seed is fixed, so a failure
names its case number and payload and reruns identically.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable

import pytest

from fuzz import tally
from fuzz.corpus_cases import NOW_S, PROBE, corpus_cases
from gwmon.ingest import (
    CANONICAL_QUANTITIES,
    DecodedPack,
    PayloadRejected,
    Reason,
    decode_pack,
    decode_status,
)

SEED = 13
PACK_CASES = 4_000
STATUS_CASES = 1_000
REASONS = {reason.value for reason in Reason}
SEED_LIMIT_BYTES = 4_096  # the 64 KiB corpus cases are the corpus test's; keep this cheap
INSERTS = [
    b'"', b"{", b"}", b"[", b"]", b",", b":", b"\\", b"\\u0000", b"\\ud800", b"\x00", b"\xff",
    b"\xc0\xaf", b"\xef\xbb\xbf", b"1e999", b"-1e309", b"NaN", b"Infinity", b"-0", b"1" * 45,
    b"null", b"true", b'"bn":"LE-08:"', b'"t":-1e10', b'"v":', b'"vs":"<0.5"', b"\n", b" ",
]  # fmt: skip
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def probe_pack(rng: random.Random) -> bytes:
    """A pack as firmware sends it: sequence number, then readings, sometimes backfill."""
    base = 1_764_140_400 + rng.randrange(0, 3_000_000)
    records: list[dict[str, object]] = [{"bn": f"{PROBE}:", "bt": base, "n": "seq", "v": 7}]
    for cycle in range(rng.randint(1, 3)):
        offset = {"t": -900 * cycle} if cycle else {}
        records += [
            {**offset, "n": "nitrate", "u": "mg/L", "v": round(rng.uniform(0, 120), 2)},
            {**offset, "n": "level", "u": "m", "v": round(rng.uniform(80, 140), 3)},
            {**offset, "n": "temperature", "u": "Cel", "v": 10.4},
        ]
    if rng.random() < 0.3:
        records.append({"n": "nitrate", "u": "mg/L", "vs": "<0.5"})
    separators = (",", ":") if rng.random() < 0.5 else (", ", ": ")
    return json.dumps(records, separators=separators).encode()


def status_message(rng: random.Random) -> bytes:
    status = {"online": rng.random() < 0.8, "firmware": "1.4.2", "battery": 87.5, "t": 1764140400}
    return json.dumps({key: value for key, value in status.items() if rng.random() < 0.9}).encode()


def mutate(data: bytes, rng: random.Random, splices: list[bytes]) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(buffer) + 1)
        operation = rng.randrange(7)
        if operation == 0:  # delete a span
            del buffer[position : position + rng.randint(1, 8)]
        elif operation == 1:  # insert something a parser must handle
            buffer[position:position] = rng.choice(INSERTS)
        elif operation == 2 and buffer:  # flip bits of one byte
            index = min(position, len(buffer) - 1)
            buffer[index] ^= rng.randrange(1, 256)
        elif operation == 3:  # duplicate a span (duplicate keys, repeated records)
            span = bytes(buffer[position : position + rng.randint(1, 40)])
            buffer[position:position] = span
        elif operation == 4:  # splice in a piece of another payload
            other = rng.choice(splices)
            start = rng.randrange(len(other) + 1)
            buffer[position:position] = other[start : start + rng.randint(1, 60)]
        elif operation == 5:  # blow up one number literal
            numbers = list(NUMBER.finditer(bytes(buffer)))
            if numbers:
                found = rng.choice(numbers)
                huge = rng.choice([b"1e400", b"-1" + b"0" * 50, b"9" * 19, b"0.000001e-330"])
                buffer[found.start() : found.end()] = huge
        else:  # cut short (a message torn in transport)
            del buffer[position:]
    return bytes(buffer)


def seeds(topic: str, make: Callable[[random.Random], bytes], rng: random.Random) -> list[bytes]:
    """The corpus cases of `topic` (small ones) and well-formed messages to mutate."""
    corpus = [
        case.payload
        for case in corpus_cases()
        if case.topic == topic and len(case.payload) <= SEED_LIMIT_BYTES
    ]
    return corpus + [make(rng) for _ in range(40)]


def test_mutated_packs_are_decoded_or_refused_with_a_reason() -> None:
    rng = random.Random(SEED)
    pool = seeds("data", probe_pack, rng)
    for case in range(PACK_CASES):
        payload = mutate(rng.choice(pool), rng, pool)
        try:
            result = decode_pack(PROBE, payload, now_s=NOW_S)
        except PayloadRejected as exc:
            assert exc.reason.value in REASONS and exc.detail, (case, payload)
            tally.record("senml_mutated", exc.reason.value)
            continue
        except Exception:  # noqa: BLE001 - the case is what the failure must show
            pytest.fail(f"case {case}: unhandled exception for {payload!r}")
        assert isinstance(result, DecodedPack)
        tally.record("senml_mutated", "kept" if result.readings else "nothing_kept")
        for reading in result.readings:
            assert reading.quantity in CANONICAL_QUANTITIES, (case, payload)
            assert math.isfinite(reading.value) and abs(reading.value) <= 1e14, (case, payload)
        for rejection in result.rejections:
            assert rejection.reason.value in REASONS and rejection.detail, (case, payload)
            tally.record("senml_mutated", f"record:{rejection.reason.value}", case=False)


def test_mutated_status_messages_are_decoded_or_refused_with_a_reason() -> None:
    rng = random.Random(SEED + 1)
    pool = seeds("status", status_message, rng)
    for case in range(STATUS_CASES):
        payload = mutate(rng.choice(pool), rng, pool)
        try:
            update = decode_status(PROBE, payload, now_s=NOW_S)
        except PayloadRejected as exc:
            assert exc.reason.value in REASONS and exc.detail, (case, payload)
            tally.record("status_mutated", exc.reason.value)
            continue
        except Exception:  # noqa: BLE001 - the case is what the failure must show
            pytest.fail(f"case {case}: unhandled exception for {payload!r}")
        assert isinstance(update.online, bool), (case, payload)
        assert update.firmware is None or len(update.firmware) <= 64, (case, payload)
        assert update.battery is None or 0 <= update.battery <= 100, (case, payload)
        tally.record("status_mutated", "kept")
