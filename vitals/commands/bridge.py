"""``vitals bridge``: MQTT → Kafka, the front of the scale-out path."""

from __future__ import annotations

import argparse
import asyncio
import logging
import queue
import signal
import threading
from types import FrameType

from ingest.kafka_topics import DEAD_LETTER_TOPIC, DEFAULT_PARTITIONS
from ingest.mqtt_source import MqttSource
from ingest.processor import Inbound
from vitals.commands.common import Subparsers, add_command
from vitals.extras import require_extra
from vitals.settings import Settings

log = logging.getLogger("vitals.bridge")


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "bridge",
        _bridge,
        "forward MQTT readings to Kafka for `vitals worker` (scale-out)",
        "Subscribe to vitals/v1/# like `vitals run` (QoS 1, persistent session), "
        "validate each payload, produce valid ones to VITALS_KAFKA_TOPIC keyed by user id "
        "and invalid ones to the dead-letter topic; acknowledge MQTT only after Kafka did. "
        "Creates the topics when missing. SIGTERM/SIGINT finish the batch in flight.",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=DEFAULT_PARTITIONS,
        help="partitions of the readings topic when it is created (default %(default)s)",
    )
    parser.add_argument(
        "--dead-topic", default=DEAD_LETTER_TOPIC, help="dead-letter topic (%(default)s)"
    )
    parser.add_argument(
        "--client-id", help="MQTT persistent-session client id (default VITALS_MQTT_CLIENT_ID)"
    )


def _bridge(args: argparse.Namespace, settings: Settings) -> int:
    require_extra("scaleout")
    from ingest.bridge import KafkaBridge, bootstrap_servers, ensure_topics  # noqa: PLC0415

    bootstrap = bootstrap_servers(settings.kafka_url)
    asyncio.run(
        ensure_topics(bootstrap, {settings.kafka_topic: args.partitions, args.dead_topic: 1})
    )
    inbox: queue.Queue[Inbound] = queue.Queue(maxsize=settings.mqtt_queue_size)
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    source = MqttSource(
        settings.mqtt_url,
        inbox,
        client_id=args.client_id or settings.mqtt_client_id,
        username=settings.mqtt_username,
        password=password,
        ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
    )
    bridge = KafkaBridge(
        inbox,
        source.ack,
        bootstrap,
        readings_topic=settings.kafka_topic,
        dead_topic=args.dead_topic,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the batch in flight", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = threading.Thread(target=bridge.run, args=(stop,), name="bridge")
    worker.start()
    while not bridge.ready.wait(0.5):
        if not worker.is_alive():
            log.error("bridge: Kafka producer did not start")
            return 1
    source.start()  # only once Kafka is reachable: nothing is taken from MQTT before
    log.info("vitals bridge: %s -> %s topic %s", settings.mqtt_url, bootstrap, settings.kafka_topic)
    while worker.is_alive():
        worker.join(timeout=0.5)
    source.stop()
    if bridge.failed is not None:
        return 1  # restart me: unacknowledged messages come back from the MQTT session
    log.info("vitals bridge: stopped cleanly %s", bridge.stats)
    return 0
