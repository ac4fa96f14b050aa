"""``vitals run``: the live pipeline against the configured broker and database."""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import threading
from types import FrameType
from urllib.parse import urlsplit

from paho.mqtt.enums import MQTTProtocolVersion
from prometheus_client import start_http_server
from sqlalchemy.engine import make_url

from ingest.broker_queue import broker_queue_warning
from ingest.mqtt_source import MqttSource
from ingest.processor import Inbound
from ingest.runner import LiveRunner
from vitals.commands.common import Subparsers, add_command, open_database
from vitals.commands.liveness import Heartbeat
from vitals.settings import Settings
from vitals.wiring import build_pipeline

log = logging.getLogger("vitals.run")


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "run",
        _run,
        "run the live pipeline against the configured MQTT broker and database",
        "Subscribe to vitals/v1/# (QoS 1, persistent session), store readings and "
        "alerts, text contacts. SIGTERM/SIGINT finish the batch in flight and exit 0. "
        "While the broker is unreachable it logs so and retries; `vitals status` shows it.",
        database=True,
    )
    parser.add_argument(
        "--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port"
    )


def _run(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    pipeline = build_pipeline(settings, sessions)
    inbox: queue.Queue[Inbound] = queue.Queue(maxsize=settings.mqtt_queue_size)
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    source = MqttSource(
        settings.mqtt_url,
        inbox,
        client_id=settings.mqtt_client_id,
        username=settings.mqtt_username,
        password=password,
        ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
        protocol=MQTTProtocolVersion.MQTTv5
        if settings.mqtt_protocol == "5"
        else MQTTProtocolVersion.MQTTv311,
    )
    if args.metrics_port:
        start_http_server(args.metrics_port, addr="127.0.0.1", registry=pipeline.metrics.registry)
    stop = pipeline.stop

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the batch in flight", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    warning = broker_queue_warning(settings.mqtt_url, settings.mqtt_broker_config)
    if warning is not None:
        log.warning("%s", warning)
    pipeline.start_notifier()
    broker = _safe_url(settings.mqtt_url)
    log.info("vitals run: %s -> %s (connecting)", broker, _safe_url(settings.database_url))
    Heartbeat(
        sessions,
        name=settings.mqtt_client_id,
        broker=broker,
        connected=source.connected,
        stop=stop,
    ).start()
    source.start()
    runner = LiveRunner(
        pipeline.processor,
        inbox,
        source.ack,
        idle_flush_s=settings.idle_flush_seconds,
        connected=source.connected,
        reconnect_grace_s=settings.reconnect_grace_seconds,
    )
    failures: list[BaseException] = []

    def work() -> None:
        try:
            runner.run(stop)
        except BaseException as error:
            failures.append(error)
            log.exception("ingest worker failed; unacknowledged messages stay with the broker")
            stop.set()

    worker = threading.Thread(target=work, name="ingest")
    worker.start()
    while worker.is_alive():
        worker.join(timeout=0.5)
    source.stop()
    if failures:
        log.error("vitals run: exiting with status 1 so that a supervisor restarts it")
        return 1
    log.info("vitals run: stopped cleanly %s", pipeline.metrics.summary())
    return 0


def _safe_url(url: str) -> str:
    if url.startswith(("mqtt", "tcp", "ssl")):
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}".rstrip(":")
    return make_url(url).render_as_string(hide_password=True)
