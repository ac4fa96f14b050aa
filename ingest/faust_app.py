"""The Faust app of the scale-out path (``vitals worker``, or equivalently
``faust -A vitals.commands.worker worker``): agents that run the *same*
:class:`~ingest.processor.BatchProcessor` and :class:`~ingest.engine.Engine` as
``vitals run`` on the partitions a worker owns.

Where per-user detector state lives, and why
--------------------------------------------
In the database, not in a Faust table. ``BatchProcessor`` already commits, in **one**
transaction per batch, the batch's readings, alerts, dead letters, each touched user's
detector checkpoint (``detectorStates``) and each device's highest ``seq``. A Faust table
would be written to its changelog topic separately from that transaction, so a crash
between the two would leave alerts without the state that produced them (alerts doubled on
replay) or state without its alerts (alerts lost). With the checkpoint in the same
transaction, redelivery after a crash or a rebalance is harmless: messages at or below a
device's committed ``seq`` are dropped and the engine resumes from the checkpoint that
matches exactly the committed effects — exactly-once effects on at-least-once Kafka.

Rebalance
---------
Faust waits for the in-flight batch to be processed and acknowledged before it revokes
partitions. On revocation this worker then *forgets* everything it cached (user states,
restored users, device records and their last ``seq``): a partition that moves away and
later comes back is reloaded from the database, never from a stale cache. On assignment,
the users checkpointed in the new partitions are scheduled for the idle flush, so the last
window of a user who went silent around the rebalance is still closed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import faust
import orjson
from faust.types import TP, EventT, StreamT

from ingest.bridge import (
    DEAD_LETTER_TOPIC,
    DEFAULT_PARTITIONS,
    HEADER_DETAIL,
    HEADER_MQTT_TOPIC,
    HEADER_REASON,
    partition_for,
)
from ingest.processor import BatchProcessor, BatchResult, Inbound
from ingest.userstate import UserState
from storage.repositories.ingest import (
    DeadLetterRow,
    checkpointed_users,
    insert_dead_letters,
    load_checkpoints,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker consumes: topics, batching, idle flush (wall seconds)."""

    app_id: str = "vitals-worker"
    readings_topic: str = "vitals.readings"
    dead_topic: str = DEAD_LETTER_TOPIC
    partitions: int = DEFAULT_PARTITIONS
    batch_max: int = 2000
    batch_wait_s: float = 0.05
    idle_flush_s: float = 150.0
    datadir: Path = Path("faust-data")
    commit_interval_s: float = 1.0
    session_timeout_s: float = 10.0


class PartitionRuntime:
    """One :class:`BatchProcessor` behind a single thread, with the worker's partitions.

    Every call into the processor goes through one executor thread, so batches, idle
    flushes and the forgetting on revocation never interleave, and the event loop (Kafka
    heartbeats) never blocks on the database.
    """

    def __init__(self, processor: BatchProcessor, options: WorkerOptions) -> None:
        self.processor = processor
        self.options = options
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitals-batch")
        self.last_arrival: dict[int, float] = {}
        self.assigned: set[int] = set()  # partitions of the readings topic owned now
        self.results = BatchResult()
        self.batches = 0
        self.lock = threading.Lock()

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # -- batches ------------------------------------------------------------------------
    async def handle(self, batch: Sequence[Inbound]) -> BatchResult:
        result: BatchResult = await self._call(self.processor.handle, batch)
        now = time.monotonic()
        for user in result.users:
            self.last_arrival[user] = now
        with self.lock:
            self.batches += 1
            self.results.accepted += result.accepted
            self.results.duplicates += result.duplicates
            self.results.dead_letters += result.dead_letters
            self.results.readings += result.readings
            self.results.alerts_opened += result.alerts_opened
        return result

    async def flush_idle(self) -> BatchResult | None:
        now = time.monotonic()
        idle = [
            u for u, seen in self.last_arrival.items() if now - seen >= self.options.idle_flush_s
        ]
        if not idle:
            return None
        for user in idle:
            del self.last_arrival[user]
        result: BatchResult = await self._call(self._flush_users, idle)
        with self.lock:
            self.results.readings += result.readings
            self.results.alerts_opened += result.alerts_opened
        return result

    def _flush_users(self, user_ids: list[int]) -> BatchResult:
        processor = self.processor
        missing = set(user_ids) - processor.restored
        if missing:  # users owned since a rebalance, not seen yet: load their checkpoint
            with processor.sessions() as session:
                blobs = load_checkpoints(session, missing)
            processor.engine.restore(UserState.from_json(orjson.loads(b)) for b in blobs.values())
            processor.restored |= missing
        known = [user for user in user_ids if user in processor.engine.users]
        return processor.flush(known) if known else BatchResult()

    # -- rebalance ------------------------------------------------------------------------
    async def revoked(self, partitions: Iterable[int]) -> None:
        """Forget every cached state (runs after the in-flight batch, on the batch thread)."""
        gone = set(partitions)
        self.assigned -= gone
        await self._call(self._forget)
        log.info("partitions %s revoked: cached state dropped", sorted(gone))

    def _forget(self) -> None:
        self.processor.forget_all()
        self.last_arrival.clear()

    async def assigned_partitions(self, partitions: Iterable[int]) -> None:
        self.assigned = set(partitions)
        users = await self._call(self._users_of, self.assigned)
        now = time.monotonic()
        for user in users:
            self.last_arrival.setdefault(user, now)
        log.info(
            "partitions %s assigned (%d checkpointed users)", sorted(self.assigned), len(users)
        )

    def _users_of(self, partitions: set[int]) -> list[int]:
        if not partitions:
            return []
        with self.processor.sessions() as session:
            users = checkpointed_users(session)
        count = self.options.partitions
        return [user for user in users if partition_for(user, count) in partitions]

    async def store_dead_letters(self, rows: Sequence[DeadLetterRow]) -> None:
        def write() -> None:
            with self.processor.sessions.begin() as session:
                insert_dead_letters(session, rows)

        await self._call(write)

    def close(self) -> None:
        self.executor.shutdown(wait=True)


def _headers(event: EventT[Any]) -> dict[str, bytes]:
    raw: Any = event.message.headers or {}
    items = raw.items() if isinstance(raw, Mapping) else raw
    return {str(k): bytes(v) for k, v in items if v is not None}


def inbound_of(event: EventT[Any]) -> Inbound:
    """The Kafka record as the processor's :class:`Inbound` (MQTT topic from the header)."""
    topic = _headers(event).get(HEADER_MQTT_TOPIC)
    value = event.value if isinstance(event.value, bytes) else bytes(event.message.value or b"")
    return Inbound(None if topic is None else topic.decode(), value)


def dead_letter_of(event: EventT[Any], now: datetime) -> DeadLetterRow:
    headers = _headers(event)
    topic = headers.get(HEADER_MQTT_TOPIC)
    key = event.message.key
    user = int(key) if isinstance(key, bytes) and key.isdigit() else None
    return DeadLetterRow(
        now,
        None if topic is None else topic.decode()[:255],
        event.value if isinstance(event.value, bytes) else b"",
        headers.get(HEADER_REASON, b"unknown").decode(),
        headers.get(HEADER_DETAIL, b"").decode(),
        None,
        user,
    )


@dataclass
class WorkerApp:
    """The Faust app and the runtime its agents drive."""

    app: faust.App
    runtime: PartitionRuntime
    readings_agent: Any
    dead_letter_agent: Any


def create_app(
    processor: BatchProcessor,
    options: WorkerOptions | None = None,
    *,
    broker: str = "kafka://127.0.0.1:9092",
) -> WorkerApp:
    """Build the Faust app around ``processor`` (from :func:`vitals.wiring.build_pipeline`).

    ``broker`` is ``kafka://host[:port][;host:port]``; agent tests with Faust's
    ``test_context()`` never connect to it.
    """
    options = options or WorkerOptions()
    runtime = PartitionRuntime(processor, options)
    app = faust.App(
        options.app_id,
        broker=broker,
        store="memory://",
        web_enabled=False,
        datadir=str(options.datadir),
        topic_partitions=options.partitions,
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=options.commit_interval_s,
        broker_session_timeout=options.session_timeout_s,
        broker_heartbeat_interval=min(3.0, options.session_timeout_s / 3),
    )
    readings = app.topic(
        options.readings_topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=options.partitions,
    )
    dead = app.topic(
        options.dead_topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def process_readings(stream: StreamT[Any]) -> AsyncIterator[BatchResult]:
        async for events in cast("faust.Stream[bytes]", stream).take_events(
            options.batch_max, within=options.batch_wait_s
        ):
            yield await runtime.handle([inbound_of(event) for event in events])

    async def store_dead_letters(stream: StreamT[Any]) -> AsyncIterator[int]:
        async for events in cast("faust.Stream[bytes]", stream).take_events(500, within=0.5):
            now = datetime.now(UTC)
            await runtime.store_dead_letters([dead_letter_of(event, now) for event in events])
            yield len(events)

    readings_agent = app.agent(readings, name="vitals.readings-agent", sink=None)(process_readings)
    dead_letter_agent = app.agent(dead, name="vitals.deadletters-agent")(store_dead_letters)

    async def idle_flush() -> None:
        await runtime.flush_idle()

    app.timer(1.0)(idle_flush)

    async def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked: set[TP] = args[0]
        await runtime.revoked(
            tp.partition for tp in revoked if tp.topic == readings.get_topic_name()
        )

    async def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        assigned: set[TP] = args[0]
        await runtime.assigned_partitions(
            tp.partition for tp in assigned if tp.topic == readings.get_topic_name()
        )

    app.on_partitions_revoked.connect(on_revoked)
    app.on_partitions_assigned.connect(on_assigned)
    return WorkerApp(app, runtime, readings_agent, dead_letter_agent)
