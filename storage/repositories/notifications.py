"""SMS notifications: one ``smsNotifications`` row per (alert, contact), claimed before
the provider is called, and the queries the notifier and the API need.

Row statuses: ``sending`` (claimed, API call under way), ``retrying`` (a transient
error; ``nextAttemptAt`` says when), ``unconfirmed`` (the call may have reached the
provider: look it up before any resend), ``unknown`` (could not be confirmed and was not
resent), ``cancelled`` (alert acknowledged or cleared before a retry), ``failed``, and
the provider's own ``accepted``/``queued``/``sent``/``delivered``/``undelivered``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy import true as sa_true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from storage.models import (
    AlertEvent,
    AlertState,
    ContactSetting,
    EmergencyContact,
    HealthAlert,
    InboundMessage,
    SmsNotification,
)
from storage.repositories.people import mask_phone
from vocabulary import OutboxStatus, Severity

CLAIMED = OutboxStatus.CLAIMED
RETRYING = OutboxStatus.RETRYING
UNCONFIRMED = OutboxStatus.UNCONFIRMED


@dataclass(frozen=True)
class Delivery:
    """The delivery state of one text, as the API shows it (the phone masked)."""

    notification_id: int
    alert_id: int
    contact_id: int
    contact_name: str | None
    phone_masked: str
    escalation_level: int
    status: str
    provider_sid: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    channel: str = "sms"
    purpose: str = "alert"
    round: int = 1
    recipient: str = ""


def deliveries_of_alert(session: Session, alert_id: int) -> list[Delivery]:
    """Every message about ``alert_id`` (texts, calls, follow-ups; the on-call number has
    no contact: its ``contact_id`` is 0 and its name ``on-call``), in the order sent."""
    rows = session.execute(
        select(SmsNotification, EmergencyContact)
        .outerjoin(EmergencyContact, EmergencyContact.id == SmsNotification.contactId)
        .where(SmsNotification.alertId == alert_id)
        .order_by(SmsNotification.escalationLevel, SmsNotification.id)
    ).all()
    return [
        Delivery(
            notification_id=n.id,
            alert_id=n.alertId,
            contact_id=n.contactId or 0,
            contact_name=c.name if c is not None else "on-call",
            phone_masked=mask_phone(c.phone) if c is not None else "on-call",
            escalation_level=n.escalationLevel,
            status=n.status,
            provider_sid=n.providerSid,
            attempts=n.attempts,
            last_error=n.lastError,
            created_at=n.createdAt,
            sent_at=n.sentAt,
            delivered_at=n.deliveredAt,
            next_attempt_at=n.nextAttemptAt,
            channel=n.channel,
            purpose=n.purpose,
            round=n.round,
            recipient=n.recipient,
        )
        for n, c in rows
    ]


def claim_notification(
    session: Session,
    *,
    alert_id: int,
    contact_id: int | None,
    user_id: int,
    escalation_level: int,
    body: str,
    at: datetime,
    recipient: str | None = None,
    channel: str = "sms",
    purpose: str = "alert",
    round_no: int = 1,
) -> SmsNotification | None:
    """Insert the (alert, recipient, channel, purpose, round) row in status ``sending``;
    None when it exists already (another run claimed this message: it must not be sent
    twice). Commit before sending. ``recipient`` defaults to ``contact:<contact_id>``."""
    row = SmsNotification(
        alertId=alert_id,
        contactId=contact_id,
        userId=user_id,
        recipient=recipient or f"contact:{contact_id}",
        channel=channel,
        purpose=purpose,
        round=round_no,
        escalationLevel=escalation_level,
        status=CLAIMED,
        body=body,
        attempts=0,
        createdAt=at,
        updatedAt=at,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def notification_by_sid(session: Session, provider_sid: str) -> SmsNotification | None:
    return session.scalars(
        select(SmsNotification).where(SmsNotification.providerSid == provider_sid)
    ).first()


def notified_contact_ids(session: Session, alert_id: int) -> set[int]:
    """Contacts that already have a message (in any state) about ``alert_id``."""
    return {
        contact_id
        for contact_id in session.scalars(
            select(SmsNotification.contactId).where(SmsNotification.alertId == alert_id)
        )
        if contact_id is not None
    }


def messages_of_alert(session: Session, alert_id: int) -> list[SmsNotification]:
    """Every message (texts, calls, follow-ups, any state) about ``alert_id``, in order."""
    return list(
        session.scalars(
            select(SmsNotification)
            .where(SmsNotification.alertId == alert_id)
            .order_by(SmsNotification.id)
        )
    )


def alerts_needing_follow_up(
    session: Session,
    now: datetime | None,
    *,
    actor: str,
    acked_marker: str,
    cleared_marker: str,
) -> list[int]:
    """Alerts with an alert message sent, acknowledged (without ``acked_marker`` event) or
    cleared (at or before ``now`` when given; without ``cleared_marker``): their follow-up
    texts ("X is responding", all-clear) are due."""
    cleared_by = (
        AlertState.clearedAt <= now if now is not None else AlertState.clearedAt.is_not(None)
    )
    sent = exists().where(
        SmsNotification.alertId == HealthAlert.id,
        SmsNotification.purpose == "alert",
        SmsNotification.sentAt.is_not(None),
    )

    def marked(marker: str) -> ColumnElement[bool]:
        return exists().where(
            AlertEvent.alertId == HealthAlert.id,
            AlertEvent.actor == actor,
            AlertEvent.eventType == marker,
        )

    query = (
        select(HealthAlert.id)
        .join(AlertState, AlertState.alertId == HealthAlert.id)
        .where(
            sent,
            or_(
                and_(HealthAlert.acknowledged.is_(True), ~marked(acked_marker)),
                and_(cleared_by, ~marked(cleared_marker)),
            ),
        )
        .order_by(HealthAlert.id)
    )
    return list(session.scalars(query))


def first_text_due_at(
    session: Session,
    *,
    severities: Collection[str],
    always_kinds: Collection[str],
    never_kinds: Collection[str],
    actor: str,
) -> datetime | None:
    """When the oldest alert still awaiting its first text was raised (it was open then,
    whether or not it has cleared since: a replay stores later clearings early)."""
    has_text = exists().where(SmsNotification.alertId == HealthAlert.id)
    handled = exists().where(AlertEvent.alertId == HealthAlert.id, AlertEvent.actor == actor)
    oldest: datetime | None = session.scalar(
        select(func.min(HealthAlert.createdAt))
        .join(AlertState, AlertState.alertId == HealthAlert.id)
        .where(
            or_(AlertState.clearedAt.is_(None), AlertState.clearedAt > HealthAlert.createdAt),
            HealthAlert.acknowledged.is_not(True),
            or_(HealthAlert.severity.in_(list(severities)), AlertState.kind.in_(always_kinds)),
            AlertState.kind.not_in(list(never_kinds)),
            ~has_text,
            ~handled,
        )
    )
    return oldest


def follow_up_due_at(
    session: Session, *, actor: str, acked_marker: str, cleared_marker: str
) -> datetime | None:
    """When the earliest pending all-clear became due (its alert's clearing time), or the
    earliest pending "is responding" (its acknowledgement time)."""
    sent = exists().where(
        SmsNotification.alertId == AlertState.alertId,
        SmsNotification.purpose == "alert",
        SmsNotification.sentAt.is_not(None),
    )

    def marked(marker: str) -> ColumnElement[bool]:
        mark = aliased(AlertEvent)
        return exists().where(
            mark.alertId == AlertState.alertId, mark.actor == actor, mark.eventType == marker
        )

    cleared: datetime | None = session.scalar(
        select(func.min(AlertState.clearedAt)).where(
            sent, AlertState.clearedAt.is_not(None), ~marked(cleared_marker)
        )
    )
    acked: datetime | None = session.scalar(
        select(func.min(AlertEvent.createdAt))
        .join(AlertState, AlertState.alertId == AlertEvent.alertId)
        .where(AlertEvent.eventType == "acknowledged", sent, ~marked(acked_marker))
    )
    times = [t for t in (cleared, acked) if t is not None]
    return min(times) if times else None


def next_due_at(session: Session) -> datetime | None:
    """The earliest time the notifier has work: an escalation step or a retry."""
    escalation: datetime | None = session.scalar(
        select(func.min(AlertState.nextEscalationAt))
        .join(HealthAlert, HealthAlert.id == AlertState.alertId)
        .where(AlertState.clearedAt.is_(None), HealthAlert.acknowledged.is_not(True))
    )
    retry: datetime | None = session.scalar(
        select(func.min(SmsNotification.nextAttemptAt)).where(
            SmsNotification.status.in_([RETRYING, UNCONFIRMED])
        )
    )
    times = [t for t in (escalation, retry) if t is not None]
    return min(times) if times else None


def orphaned_claims(session: Session) -> list[SmsNotification]:
    """Rows claimed whose API call never recorded an outcome (the process died)."""
    return list(
        session.scalars(
            select(SmsNotification)
            .where(SmsNotification.status == CLAIMED, SmsNotification.providerSid.is_(None))
            .order_by(SmsNotification.id)
        )
    )


def due_notifications(
    session: Session, now: datetime, statuses: Collection[str] = (RETRYING, UNCONFIRMED)
) -> list[SmsNotification]:
    """Rows in ``statuses`` whose ``nextAttemptAt`` has come."""
    return list(
        session.scalars(
            select(SmsNotification)
            .where(
                SmsNotification.status.in_(list(statuses)),
                SmsNotification.nextAttemptAt <= now,
            )
            .order_by(SmsNotification.nextAttemptAt, SmsNotification.id)
        )
    )


def texts_since(session: Session, user_id: int, since: datetime) -> int:
    """Texts about ``user_id``'s alerts created at or after ``since`` (the rate limit)."""
    return int(
        session.scalar(
            select(func.count(SmsNotification.id)).where(
                SmsNotification.userId == user_id, SmsNotification.createdAt >= since
            )
        )
        or 0
    )


def oldest_text_since(session: Session, user_id: int, since: datetime) -> datetime | None:
    """When the oldest text about ``user_id``'s alerts at or after ``since`` was claimed."""
    oldest: datetime | None = session.scalar(
        select(func.min(SmsNotification.createdAt)).where(
            SmsNotification.userId == user_id, SmsNotification.createdAt >= since
        )
    )
    return oldest


def alerts_awaiting_first_text(
    session: Session,
    *,
    severities: Collection[str],
    always_kinds: Collection[str],
    never_kinds: Collection[str],
    actor: str,
    now: datetime | None = None,
) -> list[tuple[HealthAlert, AlertState]]:
    """Open (at ``now``, when given), unacknowledged alerts that qualify (severity in
    ``severities`` or kind in ``always_kinds``, kind not in ``never_kinds``) and that the
    notifier (``actor``) has not handled yet: no text claimed and no event of that actor.
    Oldest first."""
    has_text = exists().where(SmsNotification.alertId == HealthAlert.id)
    handled = exists().where(AlertEvent.alertId == HealthAlert.id, AlertEvent.actor == actor)
    created = HealthAlert.createdAt <= now if now is not None else sa_true()
    query = (
        select(HealthAlert, AlertState)
        .join(AlertState, AlertState.alertId == HealthAlert.id)
        .where(
            created,
            _open_at(now),
            HealthAlert.acknowledged.is_not(True),
            or_(HealthAlert.severity.in_(list(severities)), AlertState.kind.in_(always_kinds)),
            AlertState.kind.not_in(list(never_kinds)),
            ~has_text,
            ~handled,
        )
        .order_by(HealthAlert.createdAt, HealthAlert.id)
    )
    return [(alert, state) for alert, state in session.execute(query).all()]


def _open_at(now: datetime | None) -> ColumnElement[bool]:
    """Not cleared (at ``now``: a replay may have stored a clearing later in reading
    time than the notifier's clock)."""
    if now is None:
        return AlertState.clearedAt.is_(None)
    return or_(AlertState.clearedAt.is_(None), AlertState.clearedAt > now)


def due_escalations(
    session: Session, now: datetime, horizon: datetime | None = None
) -> list[tuple[HealthAlert, AlertState]]:
    """Open (at ``horizon``, when given: see :func:`_open_at`), unacknowledged alerts
    whose ``nextEscalationAt`` has come. Order of
    priority (what a held-back budget is spent on first): alerts never texted yet
    (deferred by the rate limit), then critical ones, then by due time."""
    has_text = exists().where(SmsNotification.alertId == HealthAlert.id)
    query = (
        select(HealthAlert, AlertState)
        .join(AlertState, AlertState.alertId == HealthAlert.id)
        .where(
            AlertState.nextEscalationAt <= now,
            _open_at(horizon),
            HealthAlert.acknowledged.is_not(True),
        )
        .order_by(
            case((has_text, 1), else_=0),
            case((HealthAlert.severity == Severity.CRITICAL, 0), else_=1),
            AlertState.nextEscalationAt,
            AlertState.alertId,
        )
    )
    return [(alert, state) for alert, state in session.execute(query).all()]


def contacts_with_phone(session: Session, phone: str) -> list[EmergencyContact]:
    """Emergency contacts (of any user) with this E.164 number."""
    return list(
        session.scalars(
            select(EmergencyContact)
            .where(EmergencyContact.phone == phone)
            .order_by(EmergencyContact.id)
        )
    )


@dataclass(frozen=True)
class TextedAlert:
    """An unacknowledged alert a contact was sent a message about, and when."""

    alert: HealthAlert
    contact: EmergencyContact
    cleared: bool
    last_sent_at: datetime


def unacknowledged_alerts_texted_to(
    session: Session, contact_ids: Collection[int], before: datetime
) -> list[TextedAlert]:
    """Unacknowledged alerts about which one of ``contact_ids`` was sent an alert message
    (text or call) at or before ``before``, the most recently messaged first."""
    if not contact_ids:
        return []
    last_sent = func.max(SmsNotification.sentAt).label("last_sent")
    query = (
        select(HealthAlert, EmergencyContact, AlertState.clearedAt, last_sent)
        .join(AlertState, AlertState.alertId == HealthAlert.id)
        .join(SmsNotification, SmsNotification.alertId == HealthAlert.id)
        .join(EmergencyContact, EmergencyContact.id == SmsNotification.contactId)
        .where(
            SmsNotification.contactId.in_(list(contact_ids)),
            SmsNotification.purpose == "alert",
            SmsNotification.sentAt <= before,
            HealthAlert.acknowledged.is_not(True),
        )
        .group_by(HealthAlert.id, EmergencyContact.id, AlertState.clearedAt)
        .order_by(last_sent.desc(), HealthAlert.id.desc())
    )
    return [
        TextedAlert(alert, contact, cleared_at is not None and cleared_at <= before, sent_at)
        for alert, contact, cleared_at, sent_at in session.execute(query).all()
        if sent_at is not None
    ]


def open_alerts_texted_to(session: Session, contact_id: int) -> list[HealthAlert]:
    """Open, unacknowledged alerts about which ``contact_id`` was texted, newest first."""
    query = (
        select(HealthAlert)
        .join(AlertState, AlertState.alertId == HealthAlert.id)
        .join(
            SmsNotification,
            and_(
                SmsNotification.alertId == HealthAlert.id,
                SmsNotification.contactId == contact_id,
                SmsNotification.purpose == "alert",
            ),
        )
        .where(AlertState.clearedAt.is_(None), HealthAlert.acknowledged.is_not(True))
        .distinct()
        .order_by(HealthAlert.createdAt.desc(), HealthAlert.id.desc())
    )
    return list(session.scalars(query))


def record_inbound(
    session: Session, provider_sid: str, contact_id: int | None, at: datetime
) -> InboundMessage | None:
    """Record an inbound message/keypress id once (outcome ``received``: set it when
    known); None when it was seen before (a replayed webhook: ignore it)."""
    row = InboundMessage(
        providerSid=provider_sid[:64], contactId=contact_id, outcome="received", receivedAt=at
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def contact_time_zone(session: Session, contact_id: int) -> str | None:
    """The contact's IANA time zone from ``contactSettings``, if known."""
    setting = session.get(ContactSetting, contact_id)
    return setting.timeZone if setting is not None else None
