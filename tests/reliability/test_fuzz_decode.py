"""Hypothesis fuzzing of the decoder: whatever the topic and payload bytes, ``decode``
returns a :class:`Reading` or raises :class:`InvalidPayload` with a known reason —
never any other exception. Inputs: random bytes and topics, deep JSON, huge arrays,
wrong types, NaN/inf and out-of-range numbers, unicode, boundary values."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import InvalidPayload
from ingest.payload import Reading, decode
from tests.reliability.report import record

REASONS = {
    "bad_topic",
    "too_large",
    "not_json",
    "wrong_type",
    "wrong_version",
    "impossible_value",
    "non_finite",
    "topic_mismatch",
}
FUZZ = settings(
    max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
OUTCOMES: Counter[str] = Counter()

BASE: dict[str, Any] = {"v": 1, "user": 42, "device": "watch-1", "seq": 7, "ts": 1763900000000}
BODIES: dict[str, dict[str, Any]] = {
    "rr": {"rr_ms": [812, 790]},
    "hr": {"fs": 1, "bpm": [72, 73]},
    "ppg": {"fs": 64, "values": [0.1, 0.2]},
    "ecg": {"fs": 250, "values": [0.1, 0.2]},
    "accel": {"fs": 50, "x": [0.0], "y": [0.0], "z": [1.0]},
    "event": {"event": "sos"},
}
EDGE_NUMBERS = [
    0, -1, 1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63),
    249.999, 250, 2500, 2500.001, 19.99, 20, 250, 250.01, 16.0, 16.0001, -16.0001,
    1e-300, 1e308, 999_999_999_999, 1_000_000_000_000, 9_999_999_999_999, 10**13, 0.5,
]  # fmt: skip
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(EDGE_NUMBERS),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


def _outcome(topic: str | None, raw: bytes) -> None:
    try:
        reading = decode(topic, raw)
    except InvalidPayload as error:
        assert error.reason in REASONS, error.reason
        assert error.detail  # says what was wrong
        OUTCOMES[error.reason] += 1
        return
    assert isinstance(reading, Reading)
    OUTCOMES["reading"] += 1


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid payload with fields replaced, removed or added; topic agrees or not."""
    kind = draw(st.sampled_from(sorted(BODIES)))
    obj: dict[str, Any] = {**BASE, "kind": kind, **BODIES[kind]}
    for key in draw(st.lists(st.sampled_from(sorted(obj)), max_size=3)):
        if draw(st.booleans()):
            obj[key] = draw(json_values)
        else:
            obj.pop(key, None)
    if draw(st.booleans()):
        array = draw(st.lists(st.sampled_from(EDGE_NUMBERS) | st.floats(), max_size=50))
        obj[draw(st.sampled_from(["rr_ms", "bpm", "values", "x", "y", "z"]))] = array
    raw = orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS, default=str)
    user = obj.get("user") if draw(st.booleans()) else draw(st.integers(-5, 2**40))
    topic = f"vitals/v1/{user}/{obj.get('device')}/{obj.get('kind')}"
    return topic, raw


@FUZZ
@given(topic=st.one_of(st.none(), st.text(max_size=80)), raw=st.binary(max_size=300))
def test_random_bytes_and_topics(topic: str | None, raw: bytes) -> None:
    _outcome(topic, raw)


@FUZZ
@given(case=mutated())
def test_mutated_payloads(case: tuple[str, bytes]) -> None:
    _outcome(*case)


@FUZZ
@given(
    parts=st.lists(
        st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(["vitals", "v1"]),
        min_size=1,
        max_size=7,
    )
)
def test_unicode_topics(parts: list[str]) -> None:
    raw = orjson.dumps({**BASE, "kind": "rr", "rr_ms": [800]})
    _outcome("/".join(parts), raw)


NASTIES: list[bytes] = [
    b"[" * 100_000 + b"]" * 100_000,  # deep JSON
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b'{"v":1,"rr_ms":[NaN]}',
    b'{"v":1,"user":42,"device":"watch-1","seq":7,"ts":1763900000000,"kind":"rr","rr_ms":[1e400]}',
    b'{"v":1,"user":42,"device":"watch-1","seq":7,"ts":1763900000000,"kind":"rr","rr_ms":[-1e400]}',
    b'{"v":1,"user":1e400,"device":"watch-1","seq":7,"ts":1763900000000,"kind":"rr"}',
    orjson.dumps({**BASE, "kind": "rr", "rr_ms": [800] * 60_001}),  # huge array
    orjson.dumps({**BASE, "kind": "hr", "fs": 1, "bpm": [[72]] * 3}),
    orjson.dumps({**BASE, "kind": "rr", "rr_ms": [800, [800]]}),
    orjson.dumps({**BASE, "kind": "rr", "rr_ms": [800, "800"]}),
    orjson.dumps({**BASE, "kind": "rr", "rr_ms": [800, None]}),
    b'{"v":1,"user":42,"device":"watch-1","seq":7,"ts":1763900000000,"kind":"rr","rr_ms":['
    + str(2**70).encode()
    + b"]}",
    orjson.dumps({**BASE, "kind": ["rr"], "rr_ms": [800]}),  # unhashable kind
    orjson.dumps({**BASE, "kind": "event", "event": {"sos": 1}}),  # unhashable event
    orjson.dumps({**BASE, "kind": "rr", "seq": 2**64 - 1, "rr_ms": [800]}),  # > BIGINT
    orjson.dumps({**BASE, "user": 2**31, "kind": "rr", "rr_ms": [800]}),  # > INT
    b" " * 300_000,
    '{"v":1,"device":"\u00e9\u200b"}'.encode(),
    b"\xef\xbb\xbf{}",
    b"\xed\xa0\x80",  # lone surrogate, not UTF-8
]


@pytest.mark.parametrize("raw", NASTIES)
def test_hand_written_nasties(raw: bytes) -> None:
    _outcome("vitals/v1/42/watch-1/rr", raw)


def test_report_counts() -> None:
    """The tally of everything tried in this module, counted afresh here so that it does
    not depend on which tests ran before it (or on running alone): the fuzzers are
    derandomized, so the counts are the same every run."""
    OUTCOMES.clear()
    test_random_bytes_and_topics()
    test_mutated_payloads()
    test_unicode_topics()
    for raw in NASTIES:
        test_hand_written_nasties(raw)
    test_unicode_digits_as_topic_user()
    tried = sum(OUTCOMES.values())
    assert tried >= 4000, OUTCOMES
    assert OUTCOMES["reading"] > 0  # the generators reach valid payloads too
    record(
        "fuzzing",
        "decoder: random bytes/topics, mutated payloads, unicode, nasties",
        tried=tried,
        valid=OUTCOMES["reading"],
        refused=tried - OUTCOMES["reading"],
        lost=0,
    )


@FUZZ
@given(user=st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=11))
def test_unicode_digits_as_topic_user(user: str) -> None:
    """Superscripts and non-ASCII digits ('²', '١٢') are not a user id: refused, no crash."""
    raw = orjson.dumps({**BASE, "user": 12, "kind": "rr", "rr_ms": [800]})
    try:
        decode(f"vitals/v1/{user}/watch-1/rr", raw)
    except InvalidPayload as error:
        OUTCOMES[error.reason] += 1
        if not user.isascii():
            assert error.reason == "bad_topic"
        return
    assert user.isascii() and user.isdigit()
    OUTCOMES["reading"] += 1
