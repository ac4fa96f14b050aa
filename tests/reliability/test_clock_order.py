"""Defined behaviour for late, out-of-order and duplicate input and for device clocks
that are off by minutes (documented in the README's "Reliability" section)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ingest.engine import Engine
from ingest.processor import BatchProcessor, Inbound
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import DeadLetter, HealthReading
from storage.repositories.devices import add_device
from storage.repositories.people import add_user
from tests.reliability.harness import T0_MS
from tests.reliability.report import record


def _setup(sessions: sessionmaker[Session], devices: tuple[str, ...] = ("co-watch",)) -> int:
    with sessions.begin() as session:
        user = add_user(session, open_id=f"clock-{'-'.join(devices)}")
        for device in devices:
            add_device(session, user_id=user.id, device_id=device)
        return user.id


def _rr_batches(
    user: int, device: str, minutes: int, *, start_ms: int = T0_MS, seed: int = 2
) -> list[Inbound]:
    """5 s RR batches with beat-to-beat variability, seq rising (trace lines, no topic)."""
    rng = np.random.default_rng(seed)
    rr = 800 + 40 * np.sin(np.arange(minutes * 90) / 3) + rng.normal(0, 15, minutes * 90)
    beat_ms = start_ms + np.cumsum(rr)
    out = []
    for seq, begin in enumerate(range(start_ms, start_ms + minutes * 60_000, 5000), start=1):
        chosen = (beat_ms >= begin) & (beat_ms < begin + 5000)
        payload: dict[str, Any] = {
            "v": 1, "user": user, "device": device, "seq": seq, "kind": "rr",
            "ts": round(float(beat_ms[chosen][0])),
            "rr_ms": [round(float(v), 1) for v in rr[chosen]],
        }  # fmt: skip
        out.append(Inbound(None, orjson.dumps(payload)))
    return out


def _readings(sessions: sessionmaker[Session]) -> list[tuple[object, ...]]:
    with sessions() as session:
        rows = session.execute(
            select(HealthReading.createdAt, HealthReading.heartRate, HealthReading.hrv).order_by(
                HealthReading.createdAt
            )
        ).all()
    return [(at, hr, round(float(hrv), 2) if hrv is not None else None) for at, hr, hrv in rows]


def _reasons(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(DeadLetter.reason)))


def test_out_of_order_batches_within_lateness_give_the_in_order_result(
    sessions: sessionmaker[Session], sqlite_url: str
) -> None:
    """Two consecutive RR batches swapped (as a broker may redeliver them): the windows
    hold the beats in time order, so RMSSD is the same as in order. Seqs are renumbered
    so that the later-sent batch is not taken for a redelivery."""
    user = _setup(sessions)
    batches = _rr_batches(user, "co-watch", 5)
    swapped = list(batches)
    for i in range(3, len(swapped) - 1, 12):  # one swap per minute, across batches
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    processor = BatchProcessor(sessions, Engine())
    for message in swapped:  # one message per batch: arrival order matters
        obj = orjson.loads(message.payload)
        obj["seq"] = swapped.index(message) + 1
        processor.handle([Inbound(None, orjson.dumps(obj))])
    processor.flush()

    reference = create_engine_from_url(sqlite_url.replace("vitals.db", "reference.db"))
    upgrade(reference)
    in_order = session_factory(reference)
    assert _setup(in_order) == user
    reference_processor = BatchProcessor(in_order, Engine())
    for message in batches:
        reference_processor.handle([message])
    reference_processor.flush()
    assert len(_readings(sessions)) == 5
    assert _readings(sessions) == _readings(in_order)
    assert _reasons(sessions) == []
    reference.dispose()
    record("clock and order", "RR batches swapped in arrival (within lateness)",
           tried=len(range(3, len(swapped) - 1, 12)), lost=0)  # fmt: skip


def test_duplicates_and_seq_below_the_high_water_mark_are_counted_not_stored(
    sessions: sessionmaker[Session],
) -> None:
    user = _setup(sessions)
    batches = _rr_batches(user, "co-watch", 3)
    processor = BatchProcessor(sessions, Engine())
    first = processor.handle(batches)
    again = processor.handle(batches[:10] + batches[-3:])  # redelivered
    assert first.accepted == len(batches) and first.duplicates == 0
    assert again.accepted == 0 and again.duplicates == 13
    # documented limit: a seq at or below the device's committed high-water mark is
    # taken for a redelivery even if its content is new (devices number in send order)
    renumbered = {**orjson.loads(batches[5].payload), "rr_ms": [900.0]}
    assert processor.handle([Inbound(None, orjson.dumps(renumbered))]).duplicates == 1
    processor.flush()
    assert len(_readings(sessions)) == 3  # stored once
    assert processor.metrics.value("vitals_duplicates_total") == 14
    record("clock and order", "duplicate (device, seq) redelivered", tried=13, lost=0)


def test_late_data_is_a_dead_letter_with_reason_late(sessions: sessionmaker[Session]) -> None:
    """A batch whose reading time is in a window already stored (older than the window
    plus the 10 s lateness) is kept as a dead letter 'late', never folded in."""
    user = _setup(sessions)
    batches = _rr_batches(user, "co-watch", 4)
    late = batches[2]  # minute 1, held back (buffered by the phone), sent last
    processor = BatchProcessor(sessions, Engine())
    processor.handle([b for b in batches if b is not late])
    resent = {**orjson.loads(late.payload), "seq": 1000}  # a seq above the high-water mark
    result = processor.handle([Inbound(None, orjson.dumps(resent))])
    assert result.dead_letters == 1 and result.accepted == 0
    assert _reasons(sessions) == ["late"]
    record("clock and order", "batch arriving after its window was stored", tried=1, lost=0)


def test_device_clock_minutes_ahead_makes_the_other_device_late_not_lost(
    sessions: sessionmaker[Session],
) -> None:
    """Watermarks are per user: a device whose clock runs 5 min ahead closes the user's
    windows early, and the other device's on-time data then arrives 'late'. It is kept
    as dead letters (raw bytes, reason 'late'), every message is accounted for."""
    user = _setup(sessions, ("skew-watch", "skew-strap"))
    good = _rr_batches(user, "skew-watch", 3)
    ahead = _rr_batches(user, "skew-strap", 3, start_ms=T0_MS + 5 * 60_000, seed=4)
    processor = BatchProcessor(sessions, Engine())
    total = accepted = dead = 0
    for a, b in zip(good, ahead, strict=True):
        result = processor.handle([b, a])
        total, accepted, dead = total + 2, accepted + result.accepted, dead + result.dead_letters
    assert accepted + dead == total
    assert dead >= len(good) - 2  # nearly all of the on-time device's data
    assert set(_reasons(sessions)) == {"late"}
    record("clock and order", "second device's clock 5 min ahead", tried=total,
           accepted=accepted, late_dead_letters=dead, lost=0)  # fmt: skip


@pytest.mark.parametrize("minutes", [-3, 7])
def test_device_clock_off_alone_shifts_reading_time_only(
    sessions: sessionmaker[Session], minutes: int
) -> None:
    """A single device off by minutes: its data is stored at its own (wrong) reading
    time, complete; the pipeline keeps reading time as sent (no wall-clock correction)."""
    user = _setup(sessions)
    batches = _rr_batches(user, "co-watch", 3, start_ms=T0_MS + minutes * 60_000)
    processor = BatchProcessor(sessions, Engine())
    assert processor.handle(batches).accepted == len(batches)
    processor.flush()
    times = [at for at, _, _ in _readings(sessions)]
    assert len(times) == 3
    assert int(times[0].timestamp() * 1000) == T0_MS + (minutes + 1) * 60_000  # type: ignore[attr-defined]
