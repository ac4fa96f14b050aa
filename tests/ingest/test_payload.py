"""Decoding at the edge: every contract example decodes; every bad input is refused with
a reason code that names what was wrong."""

from __future__ import annotations

import gzip

import numpy as np
import orjson
import pytest

from ingest.errors import InvalidPayload
from ingest.payload import decode
from ingest.topics import parse_topic, topic_for

TS = 1763900000000


def _msg(kind: str = "rr", **body: object) -> tuple[str, bytes]:
    payload: dict[str, object] = {
        "v": 1,
        "user": 42,
        "device": "watch-7f3a",
        "seq": 1187,
        "ts": TS,
        "kind": kind,
    }
    payload.update(body)
    return topic_for(42, "watch-7f3a", kind), orjson.dumps(payload)


CONTRACT_EXAMPLES = [
    _msg("rr", rr_ms=[812, 790, 805]),
    _msg("hr", fs=1, bpm=[72, 73, 73]),
    _msg("ppg", fs=64, values=[0.1] * 64),
    _msg("ecg", fs=250, values=[0.01] * 250),
    _msg("accel", fs=50, x=[0.0] * 50, y=[0.0] * 50, z=[1.0] * 50),
    _msg("event", event="sos"),
    _msg("event", event="cancel"),
    _msg("event", event="manual"),
]


@pytest.mark.parametrize(("topic", "raw"), CONTRACT_EXAMPLES)
def test_contract_examples_decode(topic: str, raw: bytes) -> None:
    reading = decode(topic, raw)
    assert (reading.user_id, reading.device_id, reading.seq, reading.ts_ms) == (
        42,
        "watch-7f3a",
        1187,
        TS,
    )
    assert reading.kind == topic.rsplit("/", 1)[1]


def test_rr_end_time_is_the_last_beat() -> None:
    reading = decode(*_msg("rr", rr_ms=[812, 790, 805]))
    assert reading.values.dtype == np.float64
    assert reading.end_ms == TS + 790 + 805


def test_accel_end_time_from_rate() -> None:
    reading = decode(*_msg("accel", fs=50, x=[0.0] * 50, y=[0.0] * 50, z=[1.0] * 50))
    assert reading.end_ms == TS + 980


BAD = [
    ("not_json", topic_for(42, "watch-7f3a", "rr"), b"{not json"),
    ("not_json", topic_for(42, "watch-7f3a", "rr"), b'{"v":1,"rr_ms":[NaN]}'),
    ("wrong_type", *_msg("rr", rr_ms="812")),
    ("wrong_type", *_msg("rr", rr_ms=[812, True])),
    ("wrong_type", *_msg("rr", rr_ms=[812, "790"])),
    ("wrong_type", *_msg("rr", rr_ms=[[812]])),
    ("wrong_type", *_msg("rr", rr_ms=[])),
    ("wrong_type", topic_for(42, "watch-7f3a", "rr"), b"[1,2,3]"),
    ("wrong_version", *_msg("rr", v=2, rr_ms=[800])),
    ("wrong_type", *_msg("rr", seq="7", rr_ms=[800])),
    ("impossible_value", *_msg("rr", rr_ms=[812, 3000])),
    ("impossible_value", *_msg("rr", rr_ms=[812, 120])),
    ("impossible_value", *_msg("hr", fs=1, bpm=[72, 300])),
    ("impossible_value", *_msg("hr", fs=1, bpm=[12])),
    ("impossible_value", *_msg("accel", fs=10, x=[0.0], y=[0.0], z=[1.0])),
    ("impossible_value", *_msg("accel", fs=50, x=[40.0], y=[0.0], z=[1.0])),
    ("wrong_type", *_msg("accel", fs=50, x=[0.0, 0.1], y=[0.0], z=[1.0])),
    ("impossible_value", *_msg("rr", ts=1763900000, rr_ms=[800])),
    ("wrong_type", *_msg("event", event="panic")),
    ("bad_topic", "vitals/v2/42/watch-7f3a/rr", _msg("rr", rr_ms=[800])[1]),
    ("bad_topic", "vitals/v1/abc/watch-7f3a/rr", _msg("rr", rr_ms=[800])[1]),
    ("bad_topic", "vitals/v1/42/watch-7f3a/temperature", _msg("rr", rr_ms=[800])[1]),
    ("topic_mismatch", topic_for(43, "watch-7f3a", "rr"), _msg("rr", rr_ms=[800])[1]),
    ("topic_mismatch", topic_for(42, "watch-7f3a", "hr"), _msg("rr", rr_ms=[800])[1]),
    ("too_large", topic_for(42, "watch-7f3a", "rr"), b" " * (300 * 1024)),
    ("too_large", *_msg("ppg", fs=64, values=[0.1] * 70_000)),
]


@pytest.mark.parametrize(("reason", "topic", "raw"), BAD)
def test_bad_input_refused_with_reason(reason: str, topic: str, raw: bytes) -> None:
    with pytest.raises(InvalidPayload) as error:
        decode(topic, raw)
    assert error.value.reason == reason
    assert error.value.detail  # says what was wrong


def test_refusal_names_the_value_and_device() -> None:
    with pytest.raises(InvalidPayload) as error:
        decode(*_msg("rr", rr_ms=[812, 3000]))
    assert "3000" in error.value.detail and "rr_ms" in error.value.detail
    assert (error.value.device_id, error.value.user_id) == ("watch-7f3a", 42)


def test_trace_line_without_topic() -> None:
    _, raw = _msg("rr", rr_ms=[800, 810])
    assert decode(None, raw).user_id == 42
    assert gzip.decompress(gzip.compress(raw)) == raw


@pytest.mark.parametrize(
    ("topic", "ok"),
    [
        ("vitals/v1/42/watch-7f3a/rr", True),
        ("vitals/v1/42/watch-7f3a/rr/extra", False),
        ("vitals/v1/042/watch-7f3a/rr", False),
        ("vitals/v1/42/-bad/rr", False),
        ("vitals/v1/42/+/rr", False),
    ],
)
def test_parse_topic(topic: str, ok: bool) -> None:
    if ok:
        assert str(parse_topic(topic)) == topic
    else:
        with pytest.raises(InvalidPayload):
            parse_topic(topic)
