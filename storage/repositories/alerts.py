"""Alert lifecycle: open (idempotent on the alert's natural key), update, clear and
acknowledge, each recorded as an ``alertEvents`` row with its actor.

The natural key of an alert is (userId, kind, onsetAt): ``kind`` is the app's alertType,
or ``sos``, which the app's ENUM lacks (its healthAlerts row has alertType NULL). Times
are reading time, so replaying a trace reproduces the same history and never duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.errors import NotFound
from storage.models import ALERT_TYPES, AlertEvent, AlertState, HealthAlert

DETECTOR = "detector"


@dataclass(frozen=True)
class AlertChange:
    """What a detector decided about one user's alert of one kind."""

    user_id: int
    kind: str
    severity: str
    onset_at: datetime
    at: datetime
    message: str
    heart_rate: int | None = None
    stress_level: int | None = None


def record_event(
    session: Session,
    alert_id: int,
    event_type: str,
    actor: str,
    at: datetime,
    *,
    detail: str = "",
) -> None:
    session.add(
        AlertEvent(
            alertId=alert_id, eventType=event_type, actor=actor, detail=detail or None, createdAt=at
        )
    )


def _state(session: Session, change: AlertChange) -> AlertState | None:
    return session.scalars(
        select(AlertState).where(
            AlertState.userId == change.user_id,
            AlertState.kind == change.kind,
            AlertState.onsetAt == change.onset_at,
        )
    ).one_or_none()


def open_alert(session: Session, change: AlertChange) -> tuple[int, bool]:
    """Create the alert unless it exists; return (alert id, created?)."""
    existing = _state(session, change)
    if existing is not None:
        return existing.alertId, False
    alert = HealthAlert(
        userId=change.user_id,
        alertType=change.kind if change.kind in ALERT_TYPES else None,
        severity=change.severity,
        message=change.message,
        heartRate=change.heart_rate,
        stressLevel=change.stress_level,
        acknowledged=False,
        createdAt=change.at,
    )
    session.add(alert)
    session.flush()
    session.add(
        AlertState(
            alertId=alert.id,
            userId=change.user_id,
            kind=change.kind,
            onsetAt=change.onset_at,
            lastSeenAt=change.at,
            escalationLevel=0,
            heartRateAtAlert=change.heart_rate,
            stressLevelAtAlert=change.stress_level,
        )
    )
    record_event(session, alert.id, "created", DETECTOR, change.at, detail=change.message)
    return alert.id, True


def update_alert(session: Session, change: AlertChange) -> int:
    """The condition persists: refresh severity, message and values of the open alert
    (creating it if the open was never stored, e.g. after a restore)."""
    state = _state(session, change)
    if state is None:
        alert_id, _ = open_alert(session, change)
        return alert_id
    alert = session.get(HealthAlert, state.alertId)
    assert alert is not None  # foreign key
    if change.at <= state.lastSeenAt:
        return state.alertId  # a redelivered update has no second effect
    escalated = alert.severity != change.severity
    alert.severity = change.severity
    alert.message = change.message
    alert.heartRate = change.heart_rate
    alert.stressLevel = change.stress_level
    state.lastSeenAt = change.at
    if escalated:
        record_event(
            session, alert.id, "severity_changed", DETECTOR, change.at, detail=change.severity
        )
    return state.alertId


def clear_alert(session: Session, change: AlertChange) -> int | None:
    """The condition is over: mark the alert cleared (stops escalation)."""
    state = _state(session, change)
    if state is None or state.clearedAt is not None:
        return None
    state.clearedAt = change.at
    state.nextEscalationAt = None
    record_event(session, state.alertId, "cleared", DETECTOR, change.at, detail=change.message)
    return state.alertId


def acknowledge_alert(session: Session, alert_id: int, actor: str, at: datetime) -> bool:
    """Mark the alert acknowledged by ``actor`` (a clinician key, a contact); stops
    escalation. Returns False when it already was acknowledged."""
    alert = session.get(HealthAlert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    if alert.acknowledged:
        return False
    alert.acknowledged = True
    session.execute(
        update(AlertState).where(AlertState.alertId == alert_id).values(nextEscalationAt=None)
    )
    record_event(session, alert_id, "acknowledged", actor, at)
    return True


def open_alerts_of_user(session: Session, user_id: int) -> list[HealthAlert]:
    """The user's alerts that are neither cleared nor acknowledged, newest first."""
    query = (
        select(HealthAlert)
        .join(AlertState, AlertState.alertId == HealthAlert.id)
        .where(
            HealthAlert.userId == user_id,
            AlertState.clearedAt.is_(None),
            HealthAlert.acknowledged.is_not(True),
        )
        .order_by(HealthAlert.createdAt.desc(), HealthAlert.id.desc())
    )
    return list(session.scalars(query))
