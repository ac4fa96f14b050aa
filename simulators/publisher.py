"""Publish a trace to an MQTT broker as its devices would: QoS 1, one topic per payload
(``vitals/v1/{user}/{device}/{kind}``), optionally paced in reading time."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators.errors import SimulatorError


@dataclass
class PublishReport:
    messages: int = 0
    skipped: int = 0  # lines without user/device/kind: no topic can be made for them
    wall_s: float = 0.0


def connect_publisher(
    url: str, *, username: str | None = None, password: str | None = None
) -> mqtt.Client:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise SimulatorError(f"broker URL {url!r} must start with mqtt:// or mqtts://")
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"vitals-sim-{uuid.uuid4().hex[:10]}"
    )
    if username:
        client.username_pw_set(username, password)
    if parts.scheme == "mqtts":
        client.tls_set()
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    try:
        client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    except OSError as error:
        raise SimulatorError(f"cannot reach broker {url}: {error}") from error
    client.loop_start()
    return client


def publish_trace(
    lines: Iterable[bytes],
    url: str,
    *,
    speed: float | None = None,
    username: str | None = None,
    password: str | None = None,
) -> PublishReport:
    """Publish every line; ``speed`` paces reading time at N× real time (None: at once)."""
    client = connect_publisher(url, username=username, password=password)
    report = PublishReport()
    started = time.perf_counter()
    first_ts: int | None = None
    pending = []
    try:
        for line in lines:
            try:
                obj = orjson.loads(line)
                topic = f"vitals/v1/{int(obj['user'])}/{obj['device']}/{obj['kind']}"
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                report.skipped += 1
                continue
            if speed is not None and isinstance(obj.get("ts"), int):
                first_ts = obj["ts"] if first_ts is None else first_ts
                due = started + (obj["ts"] - first_ts) / 1000.0 / speed
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            pending.append(client.publish(topic, line, qos=1))
            report.messages += 1
            if len(pending) >= 5000:
                for info in pending:
                    info.wait_for_publish(timeout=60)
                pending.clear()
        for info in pending:
            info.wait_for_publish(timeout=60)
    finally:
        client.disconnect()
        client.loop_stop()
    report.wall_s = time.perf_counter() - started
    return report
