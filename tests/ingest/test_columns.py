"""The batch decoder into columns equals the per-message decoder on every message:
an accepted message is a row with the same fields and the same float64 values (bit for
bit), a refused one is a reject with the same reason, detail, device and user."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.columns import ReadingColumns, decode_batch
from ingest.errors import InvalidPayload
from ingest.payload import Reading, decode
from ingest.processor import Inbound
from tests.reliability.test_fuzz_decode import BASE, EDGE_NUMBERS, NASTIES, mutated

BATCHES = settings(
    max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def _accel(n: int = 25, **changes: Any) -> dict[str, Any]:
    xyz = {axis: [0.01 * i + 0.5 for i in range(n)] for axis in "xyz"}
    return {**BASE, "kind": "accel", "fs": 25, **xyz, **changes}


@st.composite
def accel_payloads(draw: st.DrawFn) -> tuple[str | None, bytes]:
    """Accelerometer chunks, mostly valid, some with one axis value, length, rate or
    header field changed: the fast path's checks at every boundary."""
    n = draw(st.integers(1, 40))
    obj = _accel(n, seq=draw(st.integers(0, 50)), user=draw(st.sampled_from([42, 43])))
    what = draw(st.sampled_from(["ok", "ok", "value", "length", "fs", "field", "topic"]))
    if what == "value":
        axis = draw(st.sampled_from("xyz"))
        obj[axis][draw(st.integers(0, n - 1))] = draw(
            st.sampled_from([*EDGE_NUMBERS, True, None, "1.0", [1.0], 15.999, -16.0, 16.0])
        )
    elif what == "length":
        obj[draw(st.sampled_from("xyz"))].append(0.5)
    elif what == "fs":
        obj["fs"] = draw(st.sampled_from([24.9, 25, 25.0, 200, 200.5, True, "25", None]))
    elif what == "field":
        key = draw(st.sampled_from(["v", "user", "device", "seq", "ts", "kind"]))
        obj[key] = draw(st.sampled_from([1.0, True, None, "x", -1, 0, 2**63, "bad id!"]))
    topic = None
    if what == "topic":
        topic = draw(
            st.sampled_from(
                [f"vitals/v1/{obj['user']}/watch-1/accel", "vitals/v1/7/watch-1/accel", "x/y"]
            )
        )
    return topic, orjson.dumps(obj)


def _row_equals(columns: ReadingColumns, row: int, reading: Reading) -> None:
    assert columns.user_id[row] == reading.user_id
    assert columns.device_id[row] == reading.device_id
    assert columns.seq[row] == reading.seq
    assert columns.ts_ms[row] == reading.ts_ms
    assert columns.kind[row] == reading.kind
    assert columns.event[row] == reading.event
    assert columns.fs_hz[row] == reading.fs_hz
    assert int(columns.end_ms[row]) == reading.end_ms
    assert columns.values_of(row).tobytes() == reading.values.astype(np.float64).tobytes()
    xyz = columns.xyz_of(row)
    assert xyz.shape == (reading.x.size, 3)
    for axis, expected in enumerate((reading.x, reading.y, reading.z)):
        assert xyz[:, axis].tobytes() == expected.astype(np.float64).tobytes()


def _check(messages: list[tuple[str | None, bytes]]) -> None:
    batch = [Inbound(topic, raw) for topic, raw in messages]
    columns, rejects = decode_batch(batch)
    refused = {reject.source: reject.error for reject in rejects}
    assert sorted(refused) == [r.source for r in rejects]  # in arrival order
    assert sorted(columns.source) == columns.source
    assert set(columns.source).isdisjoint(refused)
    rows = {source: row for row, source in enumerate(columns.source)}
    for index, (topic, raw) in enumerate(messages):
        try:
            reading = decode(topic, raw)
        except InvalidPayload as error:
            got = refused[index]
            assert (got.reason, got.detail, got.device_id, got.user_id) == (
                error.reason,
                error.detail,
                error.device_id,
                error.user_id,
            )
            continue
        _row_equals(columns, rows[index], reading)


@BATCHES
@given(messages=st.lists(accel_payloads() | mutated(), min_size=1, max_size=12))
def test_batches_decode_as_each_message_alone(messages: list[tuple[str | None, bytes]]) -> None:
    _check(messages)


def test_nasties_and_valid_accel_in_one_batch() -> None:
    valid = [(None, orjson.dumps(_accel(25, seq=s))) for s in range(3)]
    infinite = b'{"v":1,"user":42,"device":"watch-1","seq":9,"ts":1763900000000,'
    infinite += b'"kind":"accel","fs":25,"x":[1e400],"y":[0.0],"z":[1.0]}'
    nasty = [("vitals/v1/42/watch-1/rr", raw) for raw in NASTIES]
    _check([valid[0], *nasty, valid[1], (None, infinite), valid[2]])


def test_take_keeps_rows_and_their_samples() -> None:
    messages = [
        Inbound(None, orjson.dumps(_accel(3, seq=1))),
        Inbound(None, orjson.dumps({**BASE, "kind": "rr", "rr_ms": [800.0, 810.0]})),
        Inbound(None, orjson.dumps(_accel(5, seq=2, fs=50))),
    ]
    columns, rejects = decode_batch(messages)
    assert not rejects
    picked = columns.take([2, 1])
    assert picked.source == [2, 1]
    assert picked.xyz_of(0).tobytes() == columns.xyz_of(2).tobytes()
    assert picked.values_of(1).tolist() == [800.0, 810.0]
    assert picked.xyz_of(1).shape == (0, 3)
    assert picked.end_ms.tolist() == [columns.end_ms[2], columns.end_ms[1]]
