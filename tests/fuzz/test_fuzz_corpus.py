"""Every payload of the fuzz corpus through the decoders, with the outcome its manifest
entry names (reason of a whole-message rejection, or what is kept and what refused)."""

from __future__ import annotations

import time

import pytest

from fuzz.corpus_cases import CORPUS_DIR, MANIFEST, NOW_S, PROBE, CorpusCase, corpus_cases
from gwmon.ingest import DecodedPack, PayloadRejected, StatusUpdate, decode_pack, decode_status

CASES = corpus_cases()
# Generous: before the bounds, one record of the corpus took 35 s of CPU (issue 14.1).
DECODE_BOUND_S = 1.0


def decode(case: CorpusCase) -> DecodedPack | StatusUpdate:
    if case.topic == "status":
        return decode_status(PROBE, case.payload, now_s=NOW_S)
    return decode_pack(PROBE, case.payload, now_s=NOW_S)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_corpus_case_has_the_outcome_its_manifest_names(case: CorpusCase) -> None:
    started = time.process_time()
    try:
        result = decode(case)
    except PayloadRejected as exc:
        assert exc.reason == case.whole_message_reason, exc.detail
        assert exc.detail
        return
    finally:
        assert time.process_time() - started < DECODE_BOUND_S
    assert case.whole_message_reason is None, f"accepted: {result}"
    expect = case.expect
    if isinstance(result, StatusUpdate):
        status = expect["status"]
        assert (result.online, result.firmware, result.battery, result.time_from_probe) == (
            status["online"],
            status["firmware"],
            status["battery"],
            status["time_from_probe"],
        )
        assert result.time_ns == status.get("time_ns", int(NOW_S * 1e9))
        return
    assert len(result.readings) == expect["readings"]
    assert len(result.sequence) == expect["sequence"]
    assert [(r.index, r.reason.value) for r in result.rejections] == case.record_rejections
    for rejection in result.rejections:
        assert rejection.detail
        assert len(rejection.record) <= 500
    if "values" in expect:
        assert [[r.quantity, r.value, r.censored] for r in result.readings] == expect["values"]
    if "time_ns" in expect:
        assert [r.time_ns for r in result.readings] == expect["time_ns"]


def test_manifest_and_corpus_folder_agree() -> None:
    listed = [case["file"] for case in MANIFEST["cases"]]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(path.name for path in CORPUS_DIR.iterdir())
    for case in MANIFEST["cases"]:
        assert case["topic"] in {"data", "status"}
        assert case["why"]
        assert case["source"]
