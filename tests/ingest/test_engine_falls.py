"""The engine folds each user's accelerometer chunks of a batch as one run; the fall
alerts it emits come out exactly where folding chunk by chunk would put them: in
the order of the chunks that completed them, with other users' SOS in between."""

from __future__ import annotations

import orjson

from detectors.falls import FallState, fall_step
from ingest.engine import Engine
from ingest.payload import Reading, decode
from ingest.topics import topic_for
from tests.detectors.accel_signals import chunks, make_activity

T0_MS = 1_763_900_000_000


def accel_messages(user: int, seed: int, offset_ms: int) -> list[tuple[int, Reading]]:
    trace = make_activity("fall_forward", 50.0, seed, duration_s=70.0)
    out = []
    for seq, (start, x, y, z) in enumerate(chunks(trace, 1.0, T0_MS + offset_ms), start=1):
        payload = {
            "v": 1, "user": user, "device": f"d{user}", "seq": seq, "ts": start,
            "kind": "accel", "fs": 50, "x": x.tolist(), "y": y.tolist(), "z": z.tolist(),
        }  # fmt: skip
        out.append((start, decode(topic_for(user, f"d{user}", "accel"), orjson.dumps(payload))))
    return out


def test_fall_alerts_keep_the_order_of_the_chunks_that_completed_them() -> None:
    # user 2's chunks arrive first, but user 1's fall completes first
    streams = {1: accel_messages(1, 12, 300), 2: accel_messages(2, 15, 0)}
    # reference: each user folded chunk by chunk; when (in arrival order) a fall opens
    arrivals = sorted(
        (start, user, i) for user, msgs in streams.items() for i, (start, _) in enumerate(msgs)
    )
    opened_at: dict[int, int] = {}
    states = {user: FallState() for user in streams}
    for rank, (_, user, i) in enumerate(arrivals):
        r = streams[user][i][1]
        states[user], actions = fall_step(states[user], r.ts_ms, r.fs_hz, r.x, r.y, r.z)
        if actions:
            opened_at[user] = rank
    assert opened_at[1] < opened_at[2]
    # an SOS of a third user arrives right after the chunk that completes user 1's fall
    sos_rank = opened_at[1]
    sos_payload = {"v": 1, "user": 3, "device": "d3", "seq": 1, "ts": 0, "kind": "event",
                   "event": "sos"}  # fmt: skip
    readings = [streams[user][i][1] for _, user, i in arrivals]
    effects = Engine().process(readings)  # without the SOS: completion order, not user order
    assert [user for user, _ in effects.actions] == [1, 2]
    sos_payload["ts"] = readings[sos_rank].ts_ms
    sos = decode(topic_for(3, "d3", "event"), orjson.dumps(sos_payload))
    readings.insert(sos_rank + 1, sos)

    effects = Engine().process(readings)  # one batch: both users' chunks deferred as runs
    order = [(user, action.alert_type) for user, action in effects.actions]
    assert order[:3] == [(1, "fall_detected"), (3, "sos"), (2, "fall_detected")]


def test_the_engine_gives_the_fall_detector_the_registered_placement() -> None:
    engine = Engine()
    engine.placements = {"d1": "waist"}  # the processor fills it from the devices table
    msgs = accel_messages(1, 12, 0)[:3] + accel_messages(2, 15, 0)[:3]
    engine.process([reading for _, reading in msgs])
    assert engine.users[1].fall.placement == "waist"
    assert engine.users[2].fall.placement == ""  # not registered with a placement
