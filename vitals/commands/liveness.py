"""The heartbeat of ``vitals run``: every few seconds, whether the pipeline is connected to
its broker, logged while it is not (with the retry) and written to ``pipelineHeartbeats``
so that ``vitals status`` can say "disconnected" from another shell."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage.repositories.console import beat, restart_beat

log = logging.getLogger("vitals.run")

#: Seconds between heartbeats (``vitals status`` calls one older than 30 s "not running").
BEAT_S = 5.0


class Heartbeat:
    """A daemon thread: records ``connected`` every :data:`BEAT_S` seconds and logs a
    warning (every beat) while the broker cannot be reached."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        name: str,
        broker: str,
        connected: threading.Event,
        stop: threading.Event,
    ) -> None:
        self.sessions = sessions
        self.name = name
        self.broker = broker
        self.connected = connected
        self.stop = stop
        self.thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        with self.sessions.begin() as session:
            restart_beat(session, name=self.name, broker=self.broker, at=datetime.now(UTC))
        self.thread.start()

    def _run(self) -> None:
        started = datetime.now(UTC)
        while not self.stop.wait(BEAT_S):
            now = datetime.now(UTC)
            up = self.connected.is_set()
            if not up:
                waited = int((now - started).total_seconds())
                log.warning(
                    "broker %s unreachable (not connected for %d s); retrying every 1-30 s",
                    self.broker,
                    waited,
                )
            else:
                started = now
            detail = "" if up else "broker unreachable; retrying"
            try:
                with self.sessions.begin() as session:
                    beat(
                        session,
                        name=self.name,
                        broker=self.broker,
                        connected=up,
                        detail=detail,
                        at=now,
                    )
            except SQLAlchemyError as error:
                log.warning("heartbeat not stored: %s", type(error).__name__)
        with self.sessions.begin() as session:
            beat(
                session,
                name=self.name,
                broker=self.broker,
                connected=False,
                detail="stopped",
                at=datetime.now(UTC),
            )
