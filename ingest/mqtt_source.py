"""MQTT subscription on paho-mqtt (callback API v2): persistent session, QoS 1, manual
acknowledgement, reconnect with backoff, TLS and username/password.

The message callback only hands the raw message to a bounded queue; decoding and
detection run in the worker, so the network loop never blocks on them. A full queue
blocks the callback, and because messages are acknowledged only after their batch is
committed, the broker's in-flight window throttles the publisher side: backpressure, not
unbounded memory.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.errors import IngestError
from ingest.processor import Inbound
from ingest.topics import SUBSCRIPTION

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise IngestError(f"broker URL {url!r} must start with mqtt:// or mqtts://")
        tls = parts.scheme in ("mqtts", "ssl")
        return cls(parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls)


class MqttSource:
    """Subscribe to ``vitals/v1/#`` and feed :class:`Inbound` messages to ``inbox``."""

    def __init__(
        self,
        url: str,
        inbox: queue.Queue[Inbound],
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
        topic: str = SUBSCRIPTION,
    ) -> None:
        self.address = BrokerAddress.parse(url)
        self.inbox = inbox
        self.topic = topic
        self.connected = threading.Event()
        clean: bool | None = False if protocol != MQTTProtocolVersion.MQTTv5 else None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean,
            protocol=protocol,
            manual_ack=True,
        )
        if username:
            self.client.username_pw_set(username, password)
        if self.address.tls:
            self.client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        properties = None
        if self.client.protocol == MQTTProtocolVersion.MQTTv5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 7 * 24 * 3600  # persistent session
        self.client.connect_async(
            self.address.host,
            self.address.port,
            keepalive=30,
            clean_start=False if properties is not None else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def ack(self, message: Inbound) -> None:
        if isinstance(message.token, int):
            self.client.ack(message.token, 1)

    # -- callbacks (network thread) ----------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        client.subscribe(self.topic, qos=1)
        log.info(
            "connected to %s:%d (session present: %s)",
            self.address.host,
            self.address.port,
            flags.session_present,
        )
        self.connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.connected.clear()
        if reason.is_failure:
            log.warning("disconnected from broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.inbox.put(Inbound(message.topic, bytes(message.payload), message.mid))
