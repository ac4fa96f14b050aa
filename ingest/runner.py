"""The live loop of ``vitals run``: drain the bounded inbox in batches, commit each batch,
then acknowledge its messages; close the windows of users gone silent; stop cleanly."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from ingest.processor import BatchProcessor, Inbound

log = logging.getLogger(__name__)


class LiveRunner:
    def __init__(
        self,
        processor: BatchProcessor,
        inbox: queue.Queue[Inbound],
        ack: Callable[[Inbound], None],
        *,
        batch_max: int = 2000,
        batch_wait_s: float = 0.05,
        idle_flush_s: float = 150.0,
        device_reload_s: float = 30.0,
        connected: threading.Event | None = None,
        reconnect_grace_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``connected`` (the source's): while it is clear the broker is unreachable, and
        a user's silence is the outage's, not the user's: no window is closed for idling
        (data the broker kept for the session would arrive late and be refused).

        ``reconnect_grace_s``: for this long after each (re)connection, windows are held
        open whatever the watermarks say and nobody is idle: the persistent session's
        backlog may arrive after newer messages (a broker restart, or this process's), and
        it must not find its windows closed. Then the due windows close at once.
        ``clock`` times the grace (tests step it)."""
        self.processor = processor
        self.inbox = inbox
        self.ack = ack
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.idle_flush_s = idle_flush_s
        self.device_reload_s = device_reload_s
        self.connected = connected
        self.reconnect_grace_s = reconnect_grace_s
        self.clock = clock
        self.last_arrival: dict[int, float] = {}
        self._was_connected = False
        self._grace_until = 0.0

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set: the in-flight batch is finished, committed and acked;
        messages still queued are left unacknowledged for the broker to redeliver."""
        next_housekeeping = time.monotonic() + 1.0
        last_reload = time.monotonic()
        while not stop.is_set():
            self._track_connection(self.clock())
            batch = self._drain(stop)
            if batch:
                self.processor.metrics.queue_depth.set(self.inbox.qsize())
                result = self.processor.handle(batch)
                for message in batch:
                    self.ack(message)
                now = time.monotonic()
                for user in result.users:
                    self.last_arrival[user] = now
            now = time.monotonic()
            if self.processor.hold_windows:  # nobody is idle while the backlog may come
                self.last_arrival = dict.fromkeys(self.last_arrival, now)
            if now >= next_housekeeping:
                self._flush_idle(now)
                next_housekeeping = now + 1.0
            if now - last_reload >= self.device_reload_s:
                self.processor.reload_devices()
                last_reload = now
        log.info("stopped: last batch committed and acknowledged")

    def _track_connection(self, now: float) -> None:
        """Start a grace at each (re)connection; close the windows held once it ends."""
        connected = self.connected is None or self.connected.is_set()
        if connected and not self._was_connected and self.reconnect_grace_s > 0:
            self._grace_until = now + self.reconnect_grace_s
            log.info("connected: windows held for %.0f s (backlog grace)", self.reconnect_grace_s)
        self._was_connected = connected
        holding = self._holding(now)
        if self.processor.hold_windows and not holding:
            self.processor.hold_windows = False
            self.processor.close_due()
        self.processor.hold_windows = holding

    def _holding(self, now: float) -> bool:
        disconnected = self.connected is not None and not self.connected.is_set()
        return disconnected or now < self._grace_until

    def _drain(self, stop: threading.Event) -> list[Inbound]:
        try:
            first = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_max and not stop.is_set():
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self.inbox.get(timeout=max(remaining, 0.0))
                    if remaining > 0
                    else self.inbox.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _flush_idle(self, now: float) -> None:
        idle = [user for user, seen in self.last_arrival.items() if now - seen >= self.idle_flush_s]
        if idle:
            self.processor.flush(idle)
            for user in idle:
                del self.last_arrival[user]
