"""What Twilio tells us: a contact's reply (ACK stops escalation) and delivery statuses.

Both functions are idempotent: a webhook Twilio (or an attacker replaying a captured,
validly signed request) sends twice has no second effect.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from notifier.message import confirmation_text
from notifier.service import escalate_now
from storage.errors import InvalidPhoneNumber
from storage.models import User
from storage.repositories import notifications as repo
from storage.repositories.alerts import acknowledge_alert, record_event
from storage.repositories.people import mask_phone, normalize_e164

log = logging.getLogger(__name__)

PROVIDER = "twilio"
#: A reply acknowledges when it contains one of these words (any case, any other text).
ACK_WORDS = re.compile(r"\b(ack|ok|okay|yes)\b", re.IGNORECASE)
#: Twilio message statuses in lifecycle order; a callback never moves a row backwards
#: (callbacks can arrive out of order). Terminal statuses share the top rank.
STATUS_RANK = {
    "accepted": 1,
    "scheduled": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "delivered": 5,
    "undelivered": 5,
    "failed": 5,
    "canceled": 5,
    "read": 6,
}
FAILED_STATUSES = frozenset({"undelivered", "failed", "canceled"})


@dataclass(frozen=True)
class InboundOutcome:
    """The reply to send back (None: stay silent) and the alerts acknowledged."""

    reply: str | None
    acknowledged: list[int] = field(default_factory=list)


def is_acknowledgement(body: str) -> bool:
    """True for ``ACK``, ``ok``, ``Yes, on my way`` ...; False for ``no`` or ``ackward``."""
    return ACK_WORDS.search(body) is not None


def handle_inbound_sms(
    sessions: sessionmaker[Session], from_number: str, body: str, now: datetime
) -> InboundOutcome:
    """A text from ``from_number``: if it is an ACK from an emergency contact, acknowledge
    the open alerts that contact was texted about (actor ``contact:<id>``)."""
    try:
        phone = normalize_e164(from_number)
    except InvalidPhoneNumber:
        log.info("inbound SMS from a non-E.164 sender ignored")
        return InboundOutcome(reply=None)
    with sessions.begin() as session:
        contacts = repo.contacts_with_phone(session, phone)
        if not contacts:
            log.info("inbound SMS from unknown number %s ignored", mask_phone(phone))
            return InboundOutcome(reply=None)
        first = contacts[0]
        user = session.get(User, first.userId)
        user_name = user.name if user is not None else None
        if not is_acknowledgement(body):
            return InboundOutcome(
                reply=f"Reply ACK to acknowledge the alert for {user_name or 'the user'}."[:160]
            )
        acknowledged: list[int] = []
        for contact in contacts:
            for alert in repo.open_alerts_texted_to(session, contact.id):
                if acknowledge_alert(session, alert.id, f"contact:{contact.id}", now):
                    acknowledged.append(alert.id)
        log.info(
            "ACK from contact %d (%s): %d alert(s) acknowledged",
            first.id,
            mask_phone(phone),
            len(acknowledged),
        )
        return InboundOutcome(
            reply=confirmation_text(first.name, user_name, len(acknowledged)),
            acknowledged=acknowledged,
        )


def handle_status_callback(
    sessions: sessionmaker[Session],
    message_sid: str,
    status: str,
    error_code: str | None,
    now: datetime,
) -> bool:
    """Apply a delivery status to the row with ``message_sid``; True when it changed.

    ``delivered`` sets deliveredAt and records a ``delivered`` event; ``undelivered`` /
    ``failed`` record a ``failed`` event with the error code and make the next contact
    due at once (the text did not reach this one).
    """
    status = status.strip().lower()
    rank = STATUS_RANK.get(status)
    if rank is None:
        log.info("status callback with unknown status %r ignored", status[:20])
        return False
    with sessions.begin() as session:
        row = repo.notification_by_sid(session, message_sid)
        if row is None:
            log.info("status callback for unknown message %s ignored", message_sid[:40])
            return False
        if rank <= STATUS_RANK.get(row.status, 0):
            return False  # a replay, or older news arriving late
        row.status, row.updatedAt = status, now
        if status == "delivered":
            row.deliveredAt = now
            record_event(
                session,
                row.alertId,
                "delivered",
                PROVIDER,
                now,
                detail=f"contact {row.contactId} {message_sid}",
            )
        elif status in FAILED_STATUSES:
            row.lastError = f"Twilio status {status}, error code {error_code or 'none'}"
            record_event(
                session,
                row.alertId,
                "failed",
                PROVIDER,
                now,
                detail=f"contact {row.contactId} {status} code {error_code or 'none'}",
            )
            escalate_now(session, row, now)
        log.info("message %s of alert %d is now %s", message_sid, row.alertId, status)
        return True
