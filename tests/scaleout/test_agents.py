"""Faust agents with ``test_context()`` (no broker): the readings agent runs the same
BatchProcessor as ``vitals run``; a partition that moves away and comes back is reloaded
from the database; invalid payloads routed by the bridge end up as dead-letter rows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ingest.bridge import (
    HEADER_MQTT_TOPIC,
    bootstrap_servers,
    partition_for,
    route,
)
from ingest.engine import Engine
from ingest.errors import IngestError
from ingest.faust_app import WorkerApp, WorkerOptions, create_app
from ingest.processor import BatchProcessor, Inbound
from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import DeadLetter, HealthAlert
from storage.repositories.devices import add_device
from storage.repositories.people import add_user
from tests.ingest.traces import rest_trace, stored_counts

DEVICE = "agent-watch-1"


@pytest.fixture
def sessions(sqlite_url: str) -> sessionmaker[Session]:
    """SQLite only: MariaDB with concurrent workers is covered by test_kafka_failover."""
    engine = create_engine_from_url(sqlite_url)
    upgrade(engine)
    return session_factory(engine)


@pytest.fixture
def user_id(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-agent")
        add_device(session, user_id=user.id, device_id=DEVICE)
        return user.id


def _worker(sessions: sessionmaker[Session], tmp_path: Path, name: str) -> WorkerApp:
    options = WorkerOptions(
        app_id=f"vitals-test-{name}", datadir=tmp_path / name, batch_wait_s=0.01
    )
    return create_app(BatchProcessor(sessions, Engine()), options)


async def _put(agent: Any, pairs: list[tuple[str, bytes]], user: int) -> None:
    for topic, raw in pairs:
        await agent.put(raw, key=str(user).encode(), headers={HEADER_MQTT_TOPIC: topic.encode()})


async def _until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "agent did not finish in time"
        await asyncio.sleep(0.02)


def test_readings_agent_runs_the_pipeline_and_drops_redelivered_messages(
    sessions: sessionmaker[Session], user_id: int, tmp_path: Path
) -> None:
    pairs = rest_trace(user_id, DEVICE, minutes=14, hr_bpm=134, seed=3)
    worker = _worker(sessions, tmp_path, "one")

    async def scenario() -> None:
        async with worker.readings_agent.test_context() as agent:
            await _put(agent, pairs, user_id)
            await _put(agent, pairs[: len(pairs) // 2], user_id)  # Kafka redelivery
            await _until(lambda: worker.runtime.results.duplicates == len(pairs) // 2)
        await worker.runtime.flush_idle()  # nothing idle yet: no flush

    asyncio.run(scenario())
    results = worker.runtime.results
    assert results.accepted == len(pairs)
    readings, distinct, alerts = stored_counts(sessions)
    assert readings == distinct and 12 <= readings <= 14  # closed minutes, each once
    assert alerts == 1  # > 120 bpm at rest for 10 min: high_heart_rate, once
    with sessions() as session:
        assert session.scalars(select(HealthAlert.alertType)).all() == ["high_heart_rate"]


def test_a_partition_that_comes_back_is_reloaded_not_served_from_a_stale_cache(
    sessions: sessionmaker[Session], user_id: int, tmp_path: Path
) -> None:
    """Worker A processes the first third and loses the partition; B processes the second
    third; A gets the partition back and Kafka redelivers from B's last committed offset
    minus a few messages. A must resume from B's checkpoint and B's lastSeq."""
    pairs = rest_trace(user_id, DEVICE, minutes=15, hr_bpm=134, seed=5)
    third = len(pairs) // 3
    first, second = _worker(sessions, tmp_path, "a"), _worker(sessions, tmp_path, "b")
    partition = partition_for(user_id, first.runtime.options.partitions)

    async def scenario() -> None:
        async with first.readings_agent.test_context() as agent_a:
            await first.runtime.assigned_partitions([partition])
            await _put(agent_a, pairs[:third], user_id)
            await _until(lambda: first.runtime.results.accepted == third)
            await first.runtime.revoked([partition])
            assert not first.runtime.processor.engine.users  # cache forgotten
            async with second.readings_agent.test_context() as agent_b:
                await second.runtime.assigned_partitions([partition])
                assert user_id in second.runtime.last_arrival  # scheduled for idle flush
                await _put(agent_b, pairs[third : 2 * third], user_id)
                await _until(lambda: second.runtime.results.accepted == third)
                await second.runtime.revoked([partition])
            await first.runtime.assigned_partitions([partition])
            await _put(agent_a, pairs[2 * third - 5 :], user_id)
            await _until(lambda: first.runtime.results.duplicates == 5)
            await _until(lambda: first.runtime.results.accepted == len(pairs) - third)

    asyncio.run(scenario())
    readings, distinct, alerts = stored_counts(sessions)
    assert readings == distinct and 13 <= readings <= 15
    assert alerts == 1


def test_dead_letter_agent_stores_what_the_bridge_refused(
    sessions: sessionmaker[Session], user_id: int, tmp_path: Path
) -> None:
    worker = _worker(sessions, tmp_path, "dead")
    topic = f"vitals/v1/{user_id}/{DEVICE}/rr"
    good = {"v": 1, "user": user_id, "device": DEVICE, "ts": 1763900000000, "kind": "rr"}
    refused = [
        Inbound(topic, b"\xff\xfe garbage"),
        Inbound(topic, orjson.dumps({**good, "seq": 1, "rr_ms": [800, 4000]})),
    ]
    routed = [route(message, "vitals.readings") for message in refused]
    assert [r.topic for r in routed] == ["vitals.deadletters"] * 2

    async def scenario() -> None:
        async with worker.dead_letter_agent.test_context() as agent:
            for message, where in zip(refused, routed, strict=True):
                await agent.put(message.payload, key=where.key, headers=dict(where.headers))
            await _until(lambda: _dead_count(sessions) == 2)

    asyncio.run(scenario())
    with sessions() as session:
        rows = session.execute(
            select(DeadLetter.reason, DeadLetter.payload, DeadLetter.topic)
        ).all()
    assert sorted(r.reason for r in rows) == ["impossible_value", "not_json"]
    assert {bytes(r.payload) for r in rows} == {m.payload for m in refused}
    assert {r.topic for r in rows} == {topic}


def _dead_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(DeadLetter)) or 0


def test_route_keys_valid_payloads_by_user() -> None:
    raw = orjson.dumps(
        {
            "v": 1,
            "user": 42,
            "device": "w-1",
            "seq": 7,
            "ts": 1763900000000,
            "kind": "rr",
            "rr_ms": [800, 810],
        }
    )
    where = route(Inbound("vitals/v1/42/w-1/rr", raw), "vitals.readings")
    assert (where.topic, where.key, where.user_id) == ("vitals.readings", b"42", 42)
    mismatch = route(Inbound("vitals/v1/43/w-1/rr", raw), "vitals.readings")
    assert mismatch.topic == "vitals.deadletters"
    assert dict(mismatch.headers)["reason"] == b"topic_mismatch"


def test_partitions_and_bootstrap_urls() -> None:
    spread = {partition_for(user, 8) for user in range(1, 200)}
    assert spread == set(range(8))  # every partition gets users
    assert partition_for(12345, 8) == partition_for(12345, 8)
    assert bootstrap_servers("kafka://a:9092;b:9093") == "a:9092,b:9093"
    assert bootstrap_servers("c") == "c:9092"
    with pytest.raises(IngestError, match="http://x"):
        bootstrap_servers("http://x")
