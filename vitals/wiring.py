"""Composition root: builds the pipeline pieces from :class:`Settings` (no logic here)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TextIO

from sqlalchemy.orm import Session, sessionmaker

from detectors import DEFAULT
from ingest.deadletters import DeadLetterLimits
from ingest.engine import Engine, EngineConfig
from ingest.metrics import Metrics
from ingest.processor import BatchProcessor, ReceiveWindow
from notifier.policy import policy_from_settings
from notifier.senders import sender_from_settings
from notifier.service import NotificationService
from vitals.settings import Settings


@dataclass
class Pipeline:
    processor: BatchProcessor
    notifier: NotificationService
    metrics: Metrics
    wake: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def start_notifier(self, clock: Callable[[], datetime] | None = None) -> threading.Thread:
        """Run the notifier loop in a thread (wall clock unless ``clock`` is given)."""
        thread = threading.Thread(
            target=self.notifier.run_forever,
            kwargs={"stop": self.stop, "wake": self.wake, "clock": clock or _wall_clock},
            name="notifier",
            daemon=True,
        )
        thread.start()
        return thread


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def build_pipeline(
    settings: Settings, sessions: sessionmaker[Session], *, console: TextIO | None = None
) -> Pipeline:
    metrics = Metrics()
    engine = Engine(
        EngineConfig(
            lateness_s=settings.window_lateness_seconds,
            detector=replace(DEFAULT, window_s=settings.window_seconds),
        )
    )
    wake = threading.Event()
    stop = threading.Event()
    processor = BatchProcessor(
        sessions,
        engine,
        metrics,
        on_alerts=lambda _ids: wake.set(),
        should_stop=stop.is_set,
        receive_window=ReceiveWindow(
            max_ahead_s=settings.max_reading_ahead_seconds,
            max_age_s=None
            if settings.max_reading_age_days is None
            else settings.max_reading_age_days * 86_400,
        ),
        dead_letter_limits=DeadLetterLimits(
            max_payload_bytes=settings.dead_letter_max_bytes,
            rows_per_hour=settings.dead_letter_quota_per_hour,
        ),
    )
    notifier = NotificationService(
        sessions, sender_from_settings(settings, console), policy_from_settings(settings)
    )
    return Pipeline(processor, notifier, metrics, wake, stop)
