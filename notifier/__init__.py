"""Notifier: SMS text rendering, recipients, Twilio sender, retries, escalation, ACK and
status webhooks.

Composition (at the entry point)::

    sender = sender_from_settings(settings)
    service = NotificationService(sessions, sender, policy_from_settings(settings))
    service.run_forever(stop, wake=wake)          # or service.process_due(now) in replays

The FastAPI router of the webhooks is in :mod:`notifier.webhooks` (imports fastapi).
"""

from notifier.errors import (
    NotifierConfigError,
    NotifierError,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from notifier.message import AlertFacts, render_alert_text
from notifier.policy import NotificationPolicy, policy_from_settings, status_callback_url
from notifier.senders import (
    OutboxSender,
    SendResult,
    SentMessageLookup,
    SmsSender,
    TwilioSender,
    sender_from_settings,
)
from notifier.service import NotificationService, ProcessReport

__all__ = [
    "AlertFacts",
    "NotificationPolicy",
    "NotificationService",
    "NotifierConfigError",
    "NotifierError",
    "OutboxSender",
    "PermanentSendError",
    "ProcessReport",
    "SendError",
    "SendResult",
    "SentMessageLookup",
    "SmsSender",
    "TransientSendError",
    "TwilioSender",
    "policy_from_settings",
    "render_alert_text",
    "sender_from_settings",
    "status_callback_url",
]
