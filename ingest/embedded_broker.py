"""An in-process MQTT broker (amqtt) for the embedded default: ``vitals demo`` needs no
Mosquitto. amqtt moves only ~700 QoS 1 messages/s, which is right for a demo of a few
wearers; load and benchmarks go through Mosquitto."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

from amqtt.broker import Broker

from ingest.errors import IngestError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedBroker:
    """amqtt on 127.0.0.1 in a background thread with its own event loop."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mqtt-broker", daemon=True
        )
        self._broker: Broker | None = None
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.ERROR)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            future.result(timeout=15)
        except Exception as error:
            raise IngestError(f"embedded MQTT broker failed to start: {error}") from error

    async def _start(self) -> None:
        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        self._broker = Broker(config)
        await self._broker.start()

    def stop(self) -> None:
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(timeout=15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
