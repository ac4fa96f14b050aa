"""Hypothesis fuzzing of a running BatchProcessor on the real MariaDB: every message of
every generated batch ends as a stored reading, a counted duplicate or a dead letter
with a reason (counts add up against the tables), no batch raises, and memory stays
bounded. A database error is *not* retried here (``should_stop`` is true), so an input
that the database refuses (a poison pill that would stall the live pipeline) fails."""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ingest.engine import Engine
from ingest.processor import BatchProcessor, Inbound
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import DeadLetter
from storage.repositories.devices import add_device
from storage.repositories.people import add_user
from tests.conftest import scratch_database
from tests.reliability.harness import T0_MS
from tests.reliability.report import record
from tests.reliability.test_fuzz_decode import EDGE_NUMBERS, json_values

pytestmark = [pytest.mark.mariadb]

DEVICES = {"fz-watch-a": 1, "fz-watch-b": 2}  # device -> user (created in this order)
_SEQ = itertools.count(1000)  # above the random seqs of the malformed cases
TALLY: dict[str, int] = {"messages": 0, "accepted": 0, "duplicates": 0, "dead": 0, "batches": 0}


@pytest.fixture(scope="module")
def fuzz_db() -> Iterator[sessionmaker[Session]]:
    with scratch_database("vitals_fz") as url:
        engine = create_engine_from_url(url)
        upgrade(engine)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            for device, user in DEVICES.items():
                created = add_user(session, open_id=f"fuzz-{user}")
                assert created.id == user
                add_device(session, user_id=user, device_id=device)
        yield sessions
        engine.dispose()


@pytest.fixture(scope="module")
def processor(fuzz_db: sessionmaker[Session]) -> BatchProcessor:
    return BatchProcessor(fuzz_db, Engine(), should_stop=lambda: True)


@st.composite
def message(draw: st.DrawFn) -> Inbound:
    choice = draw(st.integers(0, 9))
    device = draw(st.sampled_from(sorted(DEVICES)))
    user = DEVICES[device]
    if choice == 0:
        return Inbound(draw(st.text(max_size=40)), draw(st.binary(max_size=200)))
    if choice >= 6:  # well-formed, in order: these should be accepted
        seq = next(_SEQ)
        payload = {
            "v": 1,
            "user": user,
            "device": device,
            "seq": seq,
            "kind": "rr",
            "ts": T0_MS + 5000 * seq,
            "rr_ms": draw(st.lists(st.floats(400, 1500), min_size=1, max_size=8)),
        }
        return Inbound(f"vitals/v1/{user}/{device}/rr", orjson.dumps(payload))  # fmt: skip
    kind = draw(st.sampled_from(["rr", "hr", "accel", "event"]))
    bodies: dict[str, dict[str, Any]] = {
        "rr": {"rr_ms": draw(st.lists(st.floats(200, 2600), min_size=1, max_size=20))},
        "hr": {"fs": 1, "bpm": draw(st.lists(st.integers(15, 260), min_size=1, max_size=10))},
        "accel": {"fs": 25, "x": [0.0] * 25, "y": [0.0] * 25, "z": [1.0] * 25},
        "event": {"event": draw(st.sampled_from(["sos", "cancel", "manual", "x"]))},
    }
    body = bodies[kind]
    obj: dict[str, Any] = {
        "v": 1,
        "user": user,
        "device": device,
        "seq": draw(st.integers(0, 400) | st.sampled_from([2**63, 2**64 - 1])),
        "ts": T0_MS + draw(st.integers(-600_000, 3_600_000)),
        "kind": kind,
        **body,
    }
    if choice == 1:  # forged: another user's id in topic and payload
        obj["user"] = 3 - user
    if choice == 2:
        obj[draw(st.sampled_from(sorted(obj)))] = draw(json_values)
    if choice == 3:
        obj["user"] = draw(st.sampled_from(EDGE_NUMBERS))
    if choice == 4:  # a trace line: no topic
        return Inbound(None, orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS))
    topic_user = obj["user"] if choice != 5 else draw(st.integers(1, 2**32))
    topic = f"vitals/v1/{topic_user}/{device}/{kind}"
    return Inbound(topic, orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS))


@settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(batch=st.lists(message(), min_size=1, max_size=40))
def test_every_message_is_stored_counted_or_dead_lettered(
    processor: BatchProcessor, fuzz_db: sessionmaker[Session], batch: list[Inbound]
) -> None:
    with fuzz_db() as session:
        dead_before = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
    result = processor.handle(batch)
    assert result.accepted + result.duplicates + result.dead_letters == len(batch)
    with fuzz_db() as session:
        dead_after = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
        reasons = session.scalars(select(DeadLetter.reason).distinct()).all()
    assert dead_after - dead_before == result.dead_letters
    assert all(reasons)
    for key, value in (
        ("messages", len(batch)),
        ("accepted", result.accepted),
        ("duplicates", result.duplicates),
        ("dead", result.dead_letters),
        ("batches", 1),
    ):
        TALLY[key] += value


def test_memory_stays_bounded_under_a_flood(processor: BatchProcessor) -> None:
    """2,000 batches of garbage and forged messages: traced peak under 30 MB, and no
    per-user state grows from refused input."""
    users_before = set(processor.engine.users)
    junk = [
        Inbound("vitals/v1/1/fz-watch-a/rr", b"{" * 2000),
        Inbound("vitals/v1/2/fz-watch-a/rr", orjson.dumps({"v": 1, "user": 2})),
        Inbound("vitals/v1/1/ghost/rr", b"[]" * 100),
        Inbound(None, orjson.dumps({"v": 1, "user": 99, "device": "x", "seq": 1})),
    ] * 25
    tracemalloc.start()
    try:
        for _ in range(20):
            result = processor.handle(junk)
            assert result.dead_letters == len(junk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 30 * 1024 * 1024, peak
    assert set(processor.engine.users) == users_before
    TALLY["messages"] += 20 * len(junk)
    TALLY["dead"] += 20 * len(junk)
    TALLY["batches"] += 20


def test_report_counts() -> None:
    assert TALLY["batches"] >= 150 and TALLY["accepted"] > 0 and TALLY["dead"] > 0
    assert TALLY["messages"] == TALLY["accepted"] + TALLY["duplicates"] + TALLY["dead"]
    record(
        "fuzzing",
        "BatchProcessor on MariaDB: generated batches incl. forged users",
        **{**TALLY, "lost": 0},
    )
