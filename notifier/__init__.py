"""Notifier: SMS text rendering, recipients, Twilio sender, retries, escalation, ACK replies
and status callbacks (their HTTP router is in the composition root).

Composition (at the entry point)::

    sender = TwilioSender(...) or OutboxSender(path)      # vitals.wiring.sender_from_settings
    service = NotificationService(sessions, sender, NotificationPolicy(...))
    # vitals.wiring.policy_from_settings builds the policy from the typed settings
    service.run_forever(stop, wake=wake)          # or service.process_due(now) in replays

The notifier never reads settings: the composition root (:mod:`vitals.wiring`) builds the
policy and the sender from them. The webhooks' FastAPI router is
:mod:`vitals.api.webhooks`; it calls :mod:`notifier.inbound`.
"""

from notifier.errors import (
    NotifierConfigError,
    NotifierError,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from notifier.message import AlertFacts, render_alert_text
from notifier.policy import NotificationPolicy, status_callback_url
from notifier.senders import (
    OutboxSender,
    SendResult,
    SentMessageLookup,
    SmsSender,
    TwilioSender,
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
    "render_alert_text",
    "status_callback_url",
]
