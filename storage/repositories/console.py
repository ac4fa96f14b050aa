"""What the clinician console needs beyond alert history: the patient overview (latest
reading, last seen, open alerts by severity), comments and resolution notes on alerts, and
the heartbeat a running pipeline writes so that ``vitals status`` can tell "disconnected"."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

import vocabulary
from storage.errors import NotFound, StorageError
from storage.models import (
    AlertNote,
    AlertState,
    Device,
    HealthAlert,
    HealthReading,
    PipelineHeartbeat,
    User,
)
from storage.repositories.alerts import acknowledge_alert, record_event

COMMENT = "comment"
RESOLUTION = "resolution"
#: Longest comment or resolution note, in characters.
MAX_NOTE_CHARS = 2000
#: Severity order, most urgent first (the app's ENUM values).
SEVERITY_RANK = {name: rank + 1 for name, rank in vocabulary.SEVERITY_RANK.items()}  # 0: none


class InvalidNote(StorageError, ValueError):
    """An empty or oversized comment or resolution note."""


@dataclass(frozen=True)
class NoteRow:
    id: int
    kind: str
    author: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class PatientRow:
    """One line of the patient overview. ``arrhythmia`` None means the latest window was
    unreadable (or there is no reading), never "no arrhythmia"."""

    user_id: int
    name: str
    heart_rate: int | None
    hrv_ms: float | None
    stress_level: int | None
    arrhythmia: bool | None
    reading_at: datetime | None
    last_seen_at: datetime | None
    open_alerts: int
    worst_open_severity: str | None
    transmitting: bool


def _clean(body: str) -> str:
    text = body.strip()
    if not text:
        raise InvalidNote("the note is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise InvalidNote(f"the note has {len(text)} characters, at most {MAX_NOTE_CHARS}")
    return text


def _require_alert(session: Session, alert_id: int) -> HealthAlert:
    alert = session.get(HealthAlert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return alert


def add_comment(session: Session, alert_id: int, author: str, body: str, at: datetime) -> NoteRow:
    """Append a comment to the alert (also a ``commented`` lifecycle event)."""
    _require_alert(session, alert_id)
    note = AlertNote(alertId=alert_id, kind=COMMENT, author=author, body=_clean(body), createdAt=at)
    session.add(note)
    session.flush()
    record_event(session, alert_id, "commented", author, at)
    return _row(note)


def resolve_alert(
    session: Session, alert_id: int, author: str, body: str, at: datetime
) -> tuple[NoteRow, bool]:
    """Close the alert with a note: acknowledged (stops escalation), cleared if it was
    still active, a ``resolution`` note and a ``resolved`` event. Returns (the resolution
    note, changed); resolving twice keeps the first note (``changed`` False)."""
    _require_alert(session, alert_id)
    earlier = session.scalars(
        select(AlertNote)
        .where(AlertNote.alertId == alert_id, AlertNote.kind == RESOLUTION)
        .order_by(AlertNote.id)
    ).first()
    if earlier is not None:
        return _row(earlier), False
    text = _clean(body)
    acknowledge_alert(session, alert_id, author, at)
    session.execute(
        update(AlertState)
        .where(AlertState.alertId == alert_id, AlertState.clearedAt.is_(None))
        .values(clearedAt=at, nextEscalationAt=None)
    )
    note = AlertNote(alertId=alert_id, kind=RESOLUTION, author=author, body=text, createdAt=at)
    session.add(note)
    session.flush()
    record_event(session, alert_id, "resolved", author, at, detail=text)
    return _row(note), True


def notes_of(session: Session, alert_id: int) -> list[NoteRow]:
    """Comments and the resolution note of an alert, oldest first."""
    return [
        _row(note)
        for note in session.scalars(
            select(AlertNote)
            .where(AlertNote.alertId == alert_id)
            .order_by(AlertNote.createdAt, AlertNote.id)
        )
    ]


def _row(note: AlertNote) -> NoteRow:
    return NoteRow(
        id=note.id, kind=note.kind, author=note.author, body=note.body, created_at=note.createdAt
    )


def alert_owners(session: Session, alert_ids: Iterable[int]) -> dict[int, int]:
    """alert id -> user id for the alerts that exist."""
    ids = sorted(set(alert_ids))
    if not ids:
        return {}
    return dict(
        session.execute(
            select(HealthAlert.id, HealthAlert.userId).where(HealthAlert.id.in_(ids))
        ).all()
    )


def patient_overview(
    session: Session,
    *,
    visible_user_ids: frozenset[int] | None,
    now: datetime,
    silence: timedelta,
    search: str = "",
    limit: int = 500,
) -> list[PatientRow]:
    """The patients a key may see (all for ``None``), most urgent first: by the worst
    severity of their open alerts (active and unacknowledged), then by the number of them,
    then those not transmitting (no device message for ``silence``), then by name.
    ``search`` matches a case-insensitive part of the name."""
    users = select(User.id, User.name).order_by(User.id)
    if visible_user_ids is not None:
        users = users.where(User.id.in_(sorted(visible_user_ids)))
    if search.strip():
        users = users.where(func.lower(User.name).contains(search.strip().lower()))
    people = session.execute(users.limit(limit)).all()
    ids = [user_id for user_id, _ in people]
    if not ids:
        return []
    latest_at = (
        select(HealthReading.userId, func.max(HealthReading.createdAt).label("at"))
        .where(HealthReading.userId.in_(ids))
        .group_by(HealthReading.userId)
        .subquery()
    )
    latest: dict[int, HealthReading] = {}
    for found in session.scalars(
        select(HealthReading)
        .join(
            latest_at,
            (HealthReading.userId == latest_at.c.userId)
            & (HealthReading.createdAt == latest_at.c.at),
        )
        .order_by(HealthReading.id)
    ):
        latest[found.userId] = found
    seen = dict(
        session.execute(
            select(Device.userId, func.max(Device.lastSeenAt))
            .where(Device.userId.in_(ids))
            .group_by(Device.userId)
        ).all()
    )
    rank = case(
        *((HealthAlert.severity == name, value) for name, value in SEVERITY_RANK.items()),
        else_=0,
    )
    open_rows = session.execute(
        select(HealthAlert.userId, func.count(), func.max(rank))
        .join(AlertState, AlertState.alertId == HealthAlert.id)
        .where(
            HealthAlert.userId.in_(ids),
            AlertState.clearedAt.is_(None),
            HealthAlert.acknowledged.is_not(True),
        )
        .group_by(HealthAlert.userId)
    )
    by_rank = {value: name for name, value in SEVERITY_RANK.items()}
    open_alerts = {user_id: (int(n), by_rank.get(int(r or 0))) for user_id, n, r in open_rows}
    rows = []
    for user_id, name in people:
        reading = latest.get(user_id)
        last_seen = seen.get(user_id) or (reading.createdAt if reading else None)
        count, worst = open_alerts.get(user_id, (0, None))
        rows.append(
            PatientRow(
                user_id=user_id,
                name=name or "",
                heart_rate=reading.heartRate if reading else None,
                hrv_ms=float(reading.hrv) if reading and reading.hrv is not None else None,
                stress_level=reading.stressLevel if reading else None,
                arrhythmia=reading.arrhythmiaDetected if reading else None,
                reading_at=reading.createdAt if reading else None,
                last_seen_at=last_seen,
                open_alerts=count,
                worst_open_severity=worst,
                transmitting=last_seen is not None and now - last_seen <= silence,
            )
        )
    rows.sort(
        key=lambda r: (
            -SEVERITY_RANK.get(r.worst_open_severity or "", 0),
            -r.open_alerts,
            r.transmitting,
            r.name.lower(),
            r.user_id,
        )
    )
    return rows


# -- pipeline heartbeat ---------------------------------------------------------------


def beat(
    session: Session, *, name: str, broker: str, connected: bool, detail: str, at: datetime
) -> None:
    """Record that the pipeline ``name`` is alive and whether it is connected to ``broker``."""
    row = session.get(PipelineHeartbeat, name)
    if row is None:
        session.add(
            PipelineHeartbeat(
                name=name,
                broker=broker,
                connected=connected,
                detail=detail[:255] or None,
                startedAt=at,
                changedAt=at,
                updatedAt=at,
            )
        )
        return
    if row.connected != connected:
        row.changedAt = at
    row.broker = broker
    row.connected = connected
    row.detail = detail[:255] or None
    row.updatedAt = at


def restart_beat(session: Session, *, name: str, broker: str, at: datetime) -> None:
    """A pipeline (re)starts: not connected yet, started now."""
    beat(session, name=name, broker=broker, connected=False, detail="starting", at=at)
    row = session.get(PipelineHeartbeat, name)
    assert row is not None
    row.startedAt = at
    row.changedAt = at


def heartbeats(session: Session) -> list[PipelineHeartbeat]:
    return list(session.scalars(select(PipelineHeartbeat).order_by(PipelineHeartbeat.name)))
