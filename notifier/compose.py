"""What each message says, from the database: the facts of an alert for its texts and
calls (the values frozen at alert time, the contact's zone, the wearer's latest location,
the alert link) and the follow-up texts. The wording itself is :mod:`notifier.message`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.machine import ONCALL, Purpose, SendSms, contact_id_of
from notifier.message import AlertFacts, all_clear_text, render_alert_text, responding_text
from notifier.policy import NotificationPolicy
from storage.models import AlertEvent, AlertState, EmergencyContact, HealthAlert, User, UserLocation
from storage.repositories import notifications as repo


def alert_facts(
    session: Session,
    policy: NotificationPolicy,
    *,
    alert: HealthAlert,
    state: AlertState,
    contact: EmergencyContact | None,
    level: int,
    tried: tuple[str, ...] = (),
) -> AlertFacts:
    """The facts a text or call about ``alert`` to ``contact`` states. Where the wearer is
    (their phone's latest fix) is said for falls and SOS (``policy.fast_kinds``)."""
    user = session.get(User, alert.userId)
    fix = session.get(UserLocation, alert.userId)
    return AlertFacts(
        user_id=alert.userId,
        user_name=user.name if user is not None else None,
        kind=state.kind,
        severity=alert.severity,
        at=alert.createdAt or state.onsetAt,
        heart_rate_bpm=(
            state.heartRateAtAlert if state.heartRateAtAlert is not None else alert.heartRate
        ),
        stress_level=(
            state.stressLevelAtAlert if state.stressLevelAtAlert is not None else alert.stressLevel
        ),
        time_zone=repo.contact_time_zone(session, contact.id) if contact else None,
        escalation_level=level,
        tried=tried,
        location=(
            (fix.lat, fix.lon, fix.accM)
            if fix is not None and state.kind in policy.fast_kinds
            else None
        ),
        link=alert_link(policy.public_base_url, alert.id),
    )


def sms_body(
    session: Session,
    policy: NotificationPolicy,
    *,
    alert: HealthAlert,
    state: AlertState,
    contact: EmergencyContact | None,
    effect: SendSms,
    tried: tuple[str, ...],
) -> str:
    """The text of one ``SendSms`` effect: the alert, "… is responding", or the all-clear."""
    user = session.get(User, alert.userId)
    user_name = user.name if user is not None else None
    zone = repo.contact_time_zone(session, contact.id) if contact is not None else None
    if effect.purpose is Purpose.RESPONDING:
        return responding_text(acknowledger_name(session, alert.id), user_name, state.kind)
    if effect.purpose is Purpose.ALL_CLEAR:
        return all_clear_text(user_name, state.kind, alert.createdAt or state.onsetAt, zone)
    facts = alert_facts(
        session, policy, alert=alert, state=state, contact=contact, level=effect.index or 0,
        tried=tried,
    )  # fmt: skip
    return render_alert_text(facts)


def acknowledger(session: Session, alert_id: int) -> str:
    """Who acknowledged ``alert_id`` (``contact:<id>``, ``clinician:<key>``, ...)."""
    actor = session.scalar(
        select(AlertEvent.actor)
        .where(AlertEvent.alertId == alert_id, AlertEvent.eventType == "acknowledged")
        .order_by(AlertEvent.id)
        .limit(1)
    )
    return actor or "unknown"


def acknowledger_name(session: Session, alert_id: int) -> str | None:
    """The name to put in "… is responding": the contact's name, or a role."""
    actor = acknowledger(session, alert_id)
    contact_id = contact_id_of(actor)
    if contact_id is not None:
        contact = session.get(EmergencyContact, contact_id)
        return contact.name if contact is not None and contact.name else "A contact"
    if actor == ONCALL:
        return "The on-call nurse"
    if actor.startswith("clinician"):
        return "A clinician"
    return None


def alert_link(public_base_url: str | None, alert_id: int) -> str | None:
    """The alert on the clinicians' page (``host/?alert={id}``: the page ``/`` exists, it
    opens the alert from the query), without ``https://`` (phones make a link of a bare
    host name, and the text keeps 8 characters), when the API has a public URL."""
    if not public_base_url:
        return None
    host = public_base_url.rstrip("/").removeprefix("https://").removeprefix("http://")
    return f"{host}/?alert={alert_id}"
