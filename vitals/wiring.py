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
from notifier.policy import NotificationPolicy, status_callback_url
from notifier.senders import OutboxSender, SmsSender, TwilioSender
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


def policy_from_settings(settings: Settings) -> NotificationPolicy:
    """The policy the settings describe (escalation, rate limit, high_stress, on-call)."""
    return NotificationPolicy(
        text_high_stress=settings.text_high_stress,
        escalation_delay_s=float(settings.escalation_delay_seconds),
        critical_escalation_delay_s=float(settings.escalation_critical_delay_seconds),
        fast_escalation_delay_s=float(settings.escalation_fast_delay_seconds),
        text_rounds=settings.escalation_text_rounds,
        call_contacts=settings.escalation_call_contacts,
        oncall_phone=settings.oncall_phone,
        max_texts_per_user_per_hour=settings.sms_per_user_per_hour,
        status_callback_url=status_callback_url(settings.public_base_url),
        public_base_url=settings.public_base_url,
    )


def sender_from_settings(settings: Settings, console: TextIO | None = None) -> SmsSender:
    """TwilioSender when credentials are set, else an OutboxSender on settings' path."""
    if settings.twilio_enabled:
        assert settings.twilio_account_sid is not None
        assert settings.twilio_auth_token is not None
        return TwilioSender(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            api_base_url=settings.twilio_api_base_url,
        )
    return OutboxSender(settings.sms_outbox_path, console=console)
