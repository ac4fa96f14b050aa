"""MQTT → Kafka bridge of the scale-out path (``vitals bridge``).

Messages come off the MQTT subscription exactly as for ``vitals run`` (:class:`MqttSource`,
QoS 1, persistent session, manual acknowledgement). Each payload is validated once with
:func:`ingest.payload.decode`:

- valid: its raw bytes are produced to the readings topic, keyed by user id, to the
  partition :func:`partition_for` gives (so every reading of a user lands in one partition,
  in arrival order, and the workers can tell which users a partition holds);
- invalid: its raw bytes go to the dead-letter topic with ``reason``/``detail`` headers.

The MQTT message is acknowledged only after Kafka acknowledged the produce (``acks=all``).
A crash between the two makes the broker redeliver, so Kafka may hold a payload twice;
the workers drop the second copy by its (device, seq), as ``vitals run`` does.

Device registration is *not* checked here (the bridge has no database); the worker's
:class:`~ingest.processor.BatchProcessor` checks it and stores the dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import TopicAlreadyExistsError  # type: ignore[import-untyped]
from aiokafka.partitioner import murmur2  # type: ignore[import-untyped]

from ingest.errors import IngestError, InvalidPayload
from ingest.kafka_topics import DEAD_LETTER_TOPIC
from ingest.payload import DEFAULT_LIMITS, Limits, decode
from ingest.processor import Inbound

log = logging.getLogger(__name__)

HEADER_MQTT_TOPIC = "mqtt-topic"
HEADER_REASON = "reason"
HEADER_DETAIL = "detail"

Headers = list[tuple[str, bytes]]


def bootstrap_servers(url: str) -> str:
    """``kafka://h1:9092;h2:9092`` (Faust style) or ``h1:9092,h2:9092`` → ``h1:9092,h2:9092``."""
    hosts = []
    for raw in url.replace(";", ",").split(","):
        part = raw.strip()
        if not part:
            continue
        parsed = urlsplit(part if "://" in part else f"kafka://{part}")
        if parsed.scheme != "kafka" or not parsed.hostname:
            raise IngestError(f"Kafka URL {url!r} must look like kafka://host:port")
        hosts.append(f"{parsed.hostname}:{parsed.port or 9092}")
    if not hosts:
        raise IngestError(f"Kafka URL {url!r} names no broker")
    return ",".join(hosts)


def partition_for(user_id: int, partitions: int) -> int:
    """Partition of a user: murmur2 of the decimal key, as Kafka's default partitioner."""
    return int(murmur2(str(user_id).encode()) & 0x7FFFFFFF) % partitions


async def ensure_topics(bootstrap: str, topics: dict[str, int]) -> None:
    """Create the topics that do not exist yet (``{name: partitions}``, replication 1 unless
    the broker's default applies); existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, n, 1) for name, n in topics.items() if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile
                await admin.create_topics(missing)
    finally:
        await admin.close()


@dataclass(frozen=True, slots=True)
class Routed:
    """Where one MQTT message goes in Kafka."""

    topic: str
    key: bytes | None
    user_id: int | None
    headers: Headers


def route(
    message: Inbound,
    readings_topic: str,
    dead_topic: str = DEAD_LETTER_TOPIC,
    limits: Limits = DEFAULT_LIMITS,
) -> Routed:
    """Validate one message: the readings topic keyed by user, or the dead-letter topic."""
    headers: Headers = []
    if message.topic is not None:
        headers.append((HEADER_MQTT_TOPIC, message.topic.encode()))
    try:
        reading = decode(message.topic, message.payload, limits)
    except InvalidPayload as error:
        headers += [
            (HEADER_REASON, error.reason.encode()),
            (HEADER_DETAIL, error.detail[:2000].encode()),
        ]
        key = None if error.user_id is None else str(error.user_id).encode()
        return Routed(dead_topic, key, error.user_id, headers)
    return Routed(readings_topic, str(reading.user_id).encode(), reading.user_id, headers)


@dataclass
class BridgeStats:
    forwarded: int = 0
    dead_letters: int = 0
    batches: int = 0
    produce_errors: int = 0


class KafkaBridge:
    """Take messages off the MQTT inbox, produce them, acknowledge each once Kafka did.

    Produces are pipelined: the bridge does not wait for one batch's acknowledgement
    before sending the next (Mosquitto lets only ~20 unacknowledged QoS 1 messages be in
    flight to a subscriber, so waiting would cap throughput at 20 per round trip). Each
    MQTT message is acknowledged from its produce future's completion. A produce that
    fails after the client's own retries stops the bridge (``failed`` is set, exit code
    1): its message stays unacknowledged and the broker redelivers it to the restarted
    bridge's persistent session.

    Parameters
    ----------
    inbox
        Filled by :class:`~ingest.mqtt_source.MqttSource` (or a test).
    ack
        Acknowledges one message to the MQTT broker (``MqttSource.ack``).
    bootstrap
        Kafka bootstrap servers, ``host:port[,host:port]``.
    """

    def __init__(
        self,
        inbox: queue.Queue[Inbound],
        ack: Callable[[Inbound], None],
        bootstrap: str,
        *,
        readings_topic: str,
        dead_topic: str = DEAD_LETTER_TOPIC,
        limits: Limits = DEFAULT_LIMITS,
        batch_max: int = 2000,
        max_pending: int = 20_000,
    ) -> None:
        self.inbox = inbox
        self.ack = ack
        self.bootstrap = bootstrap
        self.readings_topic = readings_topic
        self.dead_topic = dead_topic
        self.limits = limits
        self.batch_max = batch_max
        self.max_pending = max_pending
        self.stats = BridgeStats()
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self._pending: set[asyncio.Future[Any]] = set()

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set or a produce fails (blocking; runs its own event loop)."""
        asyncio.run(self.run_async(stop))

    async def run_async(self, stop: threading.Event) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", linger_ms=1, request_timeout_ms=30_000
        )
        await producer.start()
        try:
            partitions = len(await producer.partitions_for(self.readings_topic))
            self.ready.set()
            loop = asyncio.get_running_loop()
            while not stop.is_set() and self.failed is None:
                batch = await loop.run_in_executor(None, self._drain)
                for message in batch:
                    await self._send(producer, message, partitions)
                while len(self._pending) > self.max_pending and self.failed is None:
                    await asyncio.wait(self._pending, return_when=asyncio.FIRST_COMPLETED)
            if self._pending:  # finish what is in flight: acknowledged or left to redeliver
                await asyncio.wait(self._pending)
        finally:
            await producer.stop()
        if self.failed is not None:
            log.error("bridge stopped: a Kafka produce failed (%s)", self.failed)
        else:
            log.info("bridge stopped: %s", self.stats)

    async def _send(self, producer: AIOKafkaProducer, message: Inbound, partitions: int) -> None:
        where = route(message, self.readings_topic, self.dead_topic, self.limits)
        partition = None
        if where.topic == self.readings_topic and where.user_id is not None:
            partition = partition_for(where.user_id, partitions)
        future: asyncio.Future[Any] = await producer.send(
            where.topic, message.payload, key=where.key, partition=partition, headers=where.headers
        )
        dead = where.topic != self.readings_topic
        self._pending.add(future)

        def done(finished: asyncio.Future[Any]) -> None:
            self._pending.discard(finished)
            error = None if finished.cancelled() else finished.exception()
            if finished.cancelled() or error is not None:
                self.stats.produce_errors += 1
                self.failed = self.failed or error or asyncio.CancelledError()
                return
            self.ack(message)
            if dead:
                self.stats.dead_letters += 1
            else:
                self.stats.forwarded += 1

        future.add_done_callback(done)

    def _drain(self) -> list[Inbound]:
        """What the inbox holds now (waits up to 0.2 s for the first message)."""
        try:
            batch = [self.inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < self.batch_max:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        self.stats.batches += 1
        return batch
