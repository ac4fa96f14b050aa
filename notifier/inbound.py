"""What Twilio tells us: a contact's reply (an explicit ACK stops escalation), a keypress
on an alert call, and delivery statuses of texts and calls.

Every handler is idempotent: a webhook Twilio (or an attacker replaying a captured,
validly signed request) sends twice has no second effect. Inbound ``MessageSid`` /
``CallSid`` values are recorded in ``inboundMessages`` (unique) and a repeat is ignored.

Which alert a reply acknowledges
--------------------------------
Only alerts the replying number was sent an alert message about **before the reply
arrived** (a reply cannot acknowledge an alert raised later). One number can be a contact
of several wearers (a daughter of two parents): the reply acknowledges the **most recently
messaged** alert, and the other open alerts *of the same wearer* texted to that number
(one person responding to a wearer covers them all), never another wearer's. The
confirmation names the wearer, and says when another wearer's alert is still open ("reply
ACK again"). An ACK for an alert that cleared before anyone acknowledged it is recorded
(``cleared_ack``, ThingsBoard's CLEARED_ACK) within a day of the text.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from notifier.gsm7 import SEGMENT_CHARS, to_gsm7
from notifier.machine import NOT_REACHED, STATUS_RANK, Channel, status_advances
from notifier.message import MAX_NAME_CHARS, help_text
from notifier.service import escalate_now
from storage.errors import InvalidPhoneNumber
from storage.models import EmergencyContact, HealthAlert, User
from storage.repositories import notifications as repo
from storage.repositories.alerts import acknowledge_alert, record_event
from storage.repositories.people import mask_phone, normalize_e164
from vocabulary import ProviderStatus

log = logging.getLogger(__name__)

PROVIDER = "twilio"
#: Whole-message answers that acknowledge: one or more of these phrases and nothing else
#: (case, spaces and punctuation ignored, except that a "?" makes it a question).
ACK_PHRASES = ("ack", "1", "ok", "okay", "yes", "y", "on it", "on my way", "omw", "coming")
_ACK_MESSAGE = re.compile(r"(?:(?:" + "|".join(re.escape(p) for p in ACK_PHRASES) + r")\s*)+")
_PUNCTUATION = re.compile("[" + re.escape(string.punctuation.replace("?", "")) + "]")
#: How long after its text a cleared, never-acknowledged alert can still be acknowledged.
CLEARED_ACK_WINDOW = timedelta(hours=24)
#: Kept for callers of the old name; the ranking lives in :mod:`notifier.machine`.
__all__ = ["STATUS_RANK", "handle_inbound_sms", "handle_keypress", "handle_status_callback"]


@dataclass(frozen=True)
class InboundOutcome:
    """The reply to send back (None: stay silent) and the alerts acknowledged."""

    reply: str | None
    acknowledged: list[int] = field(default_factory=list)
    replayed: bool = False


def is_acknowledgement(body: str) -> bool:
    """True for ``ACK``, ``ok!``, ``Yes``, ``1``, ``ok on my way``; False for a question
    (``is she ok?``, ``Yes?``), ``not ok``, ``no``, ``ackward`` or anything else."""
    if "?" in body:
        return False
    words = " ".join(_PUNCTUATION.sub(" ", body).lower().split())
    return _ACK_MESSAGE.fullmatch(words) is not None


def _name(value: str | None, fallback: str) -> str:
    return to_gsm7(value or "").strip()[:MAX_NAME_CHARS] or fallback


def _user_name(session: Session, user_id: int) -> str:
    user = session.get(User, user_id)
    return _name(user.name if user is not None else None, "the user")


def handle_inbound_sms(
    sessions: sessionmaker[Session],
    from_number: str,
    body: str,
    now: datetime,
    message_sid: str = "",
) -> InboundOutcome:
    """A text from ``from_number`` (``message_sid``: Twilio's id, recorded once)."""
    try:
        phone = normalize_e164(from_number)
    except InvalidPhoneNumber:
        log.info("inbound SMS from a non-E.164 sender ignored")
        return InboundOutcome(reply=None)
    with sessions.begin() as session:
        contacts = repo.contacts_with_phone(session, phone)
        first = contacts[0] if contacts else None
        inbound = (
            repo.record_inbound(session, message_sid, first.id if first else None, now)
            if message_sid
            else None
        )
        if message_sid and inbound is None:
            log.info("inbound SMS %s seen before; ignored", message_sid[:40])
            return InboundOutcome(reply=None, replayed=True)
        if first is None:
            log.info("inbound SMS from unknown number %s ignored", mask_phone(phone))
            if inbound is not None:
                inbound.outcome = "unknown_number"
            return InboundOutcome(reply=None)
        texted = repo.unacknowledged_alerts_texted_to(session, [c.id for c in contacts], now)
        about = texted[0].alert.userId if texted else first.userId
        if not is_acknowledgement(body):
            if inbound is not None:
                inbound.outcome = "help"
            return InboundOutcome(reply=help_text(_user_name(session, about)))
        outcome = _acknowledge(session, texted, first, now)
        if inbound is not None:
            inbound.outcome = outcome.kind
        log.info(
            "ACK from %s: %d alert(s) acknowledged (%s)",
            mask_phone(phone),
            len(outcome.acknowledged),
            outcome.kind,
        )
        return InboundOutcome(reply=outcome.reply, acknowledged=outcome.acknowledged)


@dataclass(frozen=True)
class _Ack:
    kind: str
    reply: str
    acknowledged: list[int]


def _acknowledge(
    session: Session, texted: list[repo.TextedAlert], first: EmergencyContact, now: datetime
) -> _Ack:
    open_alerts = [t for t in texted if not t.cleared]
    if open_alerts:
        target = open_alerts[0]
        user_id = target.alert.userId
        acknowledged = [
            t.alert.id
            for t in open_alerts
            if t.alert.userId == user_id
            and acknowledge_alert(session, t.alert.id, f"contact:{t.contact.id}", now)
        ]
        greeting = _greeting(target.contact.name)
        user = _user_name(session, user_id)
        noun = "Alert" if len(acknowledged) == 1 else f"{len(acknowledged)} alerts"
        reply = f"{greeting} {noun} for {user} acknowledged; others are told you are on it."
        others = sorted({t.alert.userId for t in open_alerts if t.alert.userId != user_id})
        if others:
            other = _user_name(session, others[0])
            reply += f" An alert for {other} is still open: reply ACK again for it."
        return _Ack("acknowledged", reply[: 2 * 153], acknowledged)
    recent = [t for t in texted if t.cleared and now - t.last_sent_at <= CLEARED_ACK_WINDOW]
    if recent:
        target = recent[0]
        alert_id = target.alert.id
        actor = f"contact:{target.contact.id}"
        acknowledge_alert(session, alert_id, actor, now)
        record_event(
            session, alert_id, "cleared_ack", actor, now, detail="acknowledged after it cleared"
        )
        user = _user_name(session, target.alert.userId)
        greeting = _greeting(target.contact.name)
        reply = f"{greeting} The alert for {user} had already cleared; your answer is recorded."
        return _Ack("cleared_ack", reply[:SEGMENT_CHARS], [alert_id])
    user = _user_name(session, first.userId)
    reply = f"{_greeting(first.name)} There is no open alert for {user} to acknowledge."
    return _Ack("nothing_open", reply[:SEGMENT_CHARS], [])


def _greeting(contact_name: str | None) -> str:
    name = to_gsm7(contact_name or "").strip()[:MAX_NAME_CHARS]
    return f"Thank you, {name}." if name else "Thank you."


def handle_keypress(
    sessions: sessionmaker[Session], call_sid: str, digits: str, now: datetime
) -> str:
    """A key pressed during an alert call (Twilio ``<Gather>``): "1" acknowledges the
    call's alert. Returns what the call says next."""
    with sessions.begin() as session:
        if repo.record_inbound(session, f"{call_sid}:gather", None, now) is None:
            return "Goodbye."
        row = repo.notification_by_sid(session, call_sid)
        if row is None or row.channel != "call":
            return "Sorry, this call is not known. Goodbye."
        alert = session.get(HealthAlert, row.alertId)
        user = _user_name(session, row.userId)
        if digits.strip() != "1":
            return f"Not acknowledged. The alert for {user} stays open. Goodbye."
        if alert is None or alert.acknowledged:
            return f"Someone is already responding to the alert for {user}. Thank you. Goodbye."
        acknowledge_alert(session, row.alertId, row.recipient, now)
        log.info("alert %d acknowledged by keypress on call %s", row.alertId, call_sid[:40])
        return f"Thank you. The alert for {user} is acknowledged; others will be told. Goodbye."


def handle_status_callback(
    sessions: sessionmaker[Session],
    message_sid: str,
    status: str,
    error_code: str | None,
    now: datetime,
) -> bool:
    """Apply a delivery status (a text's ``MessageStatus`` or a call's ``CallStatus``) to
    the row with that SID; True when it changed.

    ``delivered`` sets deliveredAt and records a ``delivered`` event; an answered call
    (``in-progress``) records ``call_answered``; a text ``undelivered`` / ``failed`` or a
    call ``busy`` / ``no-answer`` / ``failed`` records a ``failed`` event with the error
    code and makes the next escalation step due at once (the recipient was not reached).
    """
    status = status.strip().lower()
    if status not in STATUS_RANK:
        log.info("status callback with unknown status %r ignored", status[:20])
        return False
    with sessions.begin() as session:
        row = repo.notification_by_sid(session, message_sid)
        if row is None:
            log.info("status callback for unknown message %s ignored", message_sid[:40])
            return False
        if not status_advances(row.status, status):
            return False  # a replay, or older news arriving late
        row.status, row.updatedAt = status, now
        who = f"contact {row.contactId}" if row.contactId is not None else row.recipient
        if status == ProviderStatus.DELIVERED:
            row.deliveredAt = now
            record_event(
                session, row.alertId, "delivered", PROVIDER, now, detail=f"{who} {message_sid}"
            )
        elif status == ProviderStatus.IN_PROGRESS and row.channel == Channel.CALL:
            row.deliveredAt = now
            record_event(
                session, row.alertId, "call_answered", PROVIDER, now, detail=f"{who} {message_sid}"
            )
        elif status in NOT_REACHED:
            row.lastError = f"Twilio status {status}, error code {error_code or 'none'}"
            record_event(
                session,
                row.alertId,
                "failed",
                PROVIDER,
                now,
                detail=f"{who} {status} code {error_code or 'none'}",
            )
            escalate_now(session, row, now)
        log.info("message %s of alert %d is now %s", message_sid, row.alertId, status)
        return True
