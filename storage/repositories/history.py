"""Alert history for clinicians: filtered alert lists with keyset pagination, one alert with
its lifecycle and texts, readings series for charts, and rows for CSV export (the CSV
formatting itself is the API's: :mod:`vitals.api.alerts_csv`).

Lists are ordered newest first by (createdAt, id) and paged with a keyset cursor on that
pair, never with OFFSET: a page is ``WHERE createdAt < c OR (createdAt = c AND id < i)``,
which reads only the rows it returns from the ``(userId, createdAt)`` index (InnoDB
appends the primary key to every secondary index, so the index is ordered by
(userId, createdAt, id)) and does not move when alerts are inserted meanwhile.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from storage.errors import NotFound, StorageError
from storage.models import (
    AlertEvent,
    AlertState,
    EmergencyContact,
    HealthAlert,
    HealthReading,
    SmsNotification,
    User,
)
from storage.repositories.people import mask_phone
from vocabulary import AlertKind

#: Largest page of an alert list.
MAX_PAGE_SIZE = 500


class InvalidCursor(StorageError, ValueError):
    """A pagination cursor that this module did not produce."""


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to list. ``None`` means "any".

    ``visible_user_ids`` restricts the list to a clinician's patients (``None`` for an
    admin); ``kinds`` holds alertType values or ``sos`` (alertType NULL).
    """

    visible_user_ids: frozenset[int] | None = None
    user_id: int | None = None
    kinds: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    acknowledged: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: True: the condition is over (alertStates.clearedAt set); False: still active.
    cleared: bool | None = None


@dataclass(frozen=True)
class AlertRow:
    id: int
    user_id: int
    user_name: str
    kind: str
    severity: str | None
    message: str | None
    heart_rate: int | None
    stress_level: int | None
    acknowledged: bool
    created_at: datetime
    cleared_at: datetime | None


@dataclass(frozen=True)
class AlertPage:
    items: list[AlertRow]
    next_cursor: str | None


@dataclass(frozen=True)
class EventRow:
    event_type: str
    actor: str
    detail: str | None
    created_at: datetime


@dataclass(frozen=True)
class SmsRow:
    contact_name: str
    phone_masked: str
    escalation_level: int
    status: str
    attempts: int
    sent_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class AlertDetail:
    alert: AlertRow
    events: list[EventRow] = field(default_factory=list)
    sms: list[SmsRow] = field(default_factory=list)


@dataclass(frozen=True)
class ReadingPoint:
    """One point of a chart: the raw reading, or the mean of a bucket of ``count`` readings
    starting at ``at``."""

    at: datetime
    heart_rate_bpm: float | None
    hrv_rmssd_ms: float | None
    stress_level: float | None
    #: True irregular (AF-like), False regular, None unreadable: no rhythm verdict (too
    #: noisy or too few beats), never shown as "no arrhythmia"
    arrhythmia: bool | None
    count: int


@dataclass(frozen=True)
class ReadingSeries:
    points: list[ReadingPoint]
    bucket_seconds: int  # 0 when the points are the raw readings


def encode_cursor(created_at: datetime, alert_id: int) -> str:
    """An opaque cursor for the row (created_at, alert_id)."""
    micros = int(created_at.timestamp() * 1_000_000)
    raw = f"{micros}.{alert_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (createdAt, id) a cursor stands for; :class:`InvalidCursor` when it is not one."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
        micros_text, id_text = raw.split(".")
        micros, alert_id = int(micros_text), int(id_text)
        moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError) as error:
        raise InvalidCursor(f"cursor {cursor!r} is not a cursor returned by this API") from error
    if alert_id < 0:
        raise InvalidCursor(f"cursor {cursor!r} is not a cursor returned by this API")
    return moment, alert_id


def _conditions(flt: AlertFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [HealthAlert.createdAt.is_not(None)]
    if flt.visible_user_ids is not None:
        where.append(HealthAlert.userId.in_(sorted(flt.visible_user_ids)))
    if flt.user_id is not None:
        where.append(HealthAlert.userId == flt.user_id)
    if flt.kinds:
        types = [kind for kind in flt.kinds if kind != AlertKind.SOS]
        by_type: list[ColumnElement[bool]] = []
        if types:
            by_type.append(HealthAlert.alertType.in_(types))
        if AlertKind.SOS in flt.kinds:
            by_type.append(HealthAlert.alertType.is_(None))
        where.append(or_(*by_type))
    if flt.severities:
        where.append(HealthAlert.severity.in_(flt.severities))
    if flt.acknowledged is not None:
        where.append(HealthAlert.acknowledged.is_(flt.acknowledged))
    if flt.cleared is not None:
        cleared_ids = select(AlertState.alertId).where(AlertState.clearedAt.is_not(None))
        in_cleared = HealthAlert.id.in_(cleared_ids)
        where.append(in_cleared if flt.cleared else ~in_cleared)
    if flt.since is not None:
        where.append(HealthAlert.createdAt >= flt.since)
    if flt.until is not None:
        where.append(HealthAlert.createdAt < flt.until)
    return where


def alert_query(flt: AlertFilter, *, limit: int, cursor: str | None = None) -> Select[Any]:
    """The id query of one page (exposed so the benchmark can EXPLAIN it)."""
    where = _conditions(flt)
    if cursor is not None:
        at, alert_id = decode_cursor(cursor)
        where.append(
            or_(
                HealthAlert.createdAt < at,
                and_(HealthAlert.createdAt == at, HealthAlert.id < alert_id),
            )
        )
    return (
        select(HealthAlert.id)
        .where(*where)
        .order_by(HealthAlert.createdAt.desc(), HealthAlert.id.desc())
        .limit(limit)
    )


def list_alerts(
    session: Session, flt: AlertFilter, *, limit: int = 50, cursor: str | None = None
) -> AlertPage:
    """One page of alerts, newest first; ``next_cursor`` is None on the last page."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise StorageError(f"page size {limit} is outside 1..{MAX_PAGE_SIZE}")
    ids: list[int] = list(session.scalars(alert_query(flt, limit=limit + 1, cursor=cursor)))
    rows = _rows(session, ids[:limit])
    more = len(ids) > limit
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return AlertPage(items=rows, next_cursor=next_cursor)


def iter_alerts(session: Session, flt: AlertFilter, *, max_rows: int) -> Iterator[AlertRow]:
    """Every matching alert, newest first, at most ``max_rows`` (for CSV export)."""
    cursor: str | None = None
    sent = 0
    while sent < max_rows:
        page = list_alerts(session, flt, limit=min(MAX_PAGE_SIZE, max_rows - sent), cursor=cursor)
        yield from page.items
        sent += len(page.items)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _rows(session: Session, ids: Sequence[int]) -> list[AlertRow]:
    """Full rows for the ids, in the given order (three primary-key lookups)."""
    if not ids:
        return []
    query = (
        select(HealthAlert, AlertState.kind, AlertState.clearedAt, User.name)
        .outerjoin(AlertState, AlertState.alertId == HealthAlert.id)
        .outerjoin(User, User.id == HealthAlert.userId)
        .where(HealthAlert.id.in_(ids))
    )
    by_id: dict[int, AlertRow] = {}
    for alert, kind, cleared_at, user_name in session.execute(query):
        assert alert.createdAt is not None  # filtered by the query
        by_id[alert.id] = AlertRow(
            id=alert.id,
            user_id=alert.userId,
            user_name=user_name or "",
            kind=kind or alert.alertType or AlertKind.SOS.value,
            severity=alert.severity,
            message=alert.message,
            heart_rate=alert.heartRate,
            stress_level=alert.stressLevel,
            acknowledged=bool(alert.acknowledged),
            created_at=alert.createdAt,
            cleared_at=cleared_at,
        )
    return [by_id[alert_id] for alert_id in ids if alert_id in by_id]


def alert_owner(session: Session, alert_id: int) -> int:
    """The user id of an alert; :class:`NotFound` when there is no such alert."""
    user_id = session.scalar(select(HealthAlert.userId).where(HealthAlert.id == alert_id))
    if user_id is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return user_id


def alert_detail(session: Session, alert_id: int) -> AlertDetail:
    """The alert, its lifecycle events (oldest first) and its texts (phones masked)."""
    rows = _rows(session, [alert_id])
    if not rows:
        raise NotFound(f"alert {alert_id} does not exist")
    events = [
        EventRow(event_type=e.eventType, actor=e.actor, detail=e.detail, created_at=e.createdAt)
        for e in session.scalars(
            select(AlertEvent)
            .where(AlertEvent.alertId == alert_id)
            .order_by(AlertEvent.createdAt, AlertEvent.id)
        )
    ]
    sms = [
        SmsRow(
            contact_name=name or "",
            phone_masked=mask_phone(phone),
            escalation_level=note.escalationLevel,
            status=note.status,
            attempts=note.attempts,
            sent_at=note.sentAt,
            delivered_at=note.deliveredAt,
            last_error=note.lastError,
        )
        for note, name, phone in session.execute(
            select(SmsNotification, EmergencyContact.name, EmergencyContact.phone)
            .join(EmergencyContact, EmergencyContact.id == SmsNotification.contactId)
            .where(SmsNotification.alertId == alert_id)
            .order_by(SmsNotification.escalationLevel, SmsNotification.id)
        )
    ]
    return AlertDetail(alert=rows[0], events=events, sms=sms)


def user_exists(session: Session, user_id: int) -> bool:
    return session.scalar(select(User.id).where(User.id == user_id)) is not None


def _bucket_index(session: Session, start_s: int, bucket_s: int) -> ColumnElement[int]:
    """The bucket number of ``healthReadings.createdAt`` in SQL, per dialect (both store
    UTC): ``floor((epoch seconds - start_s) / bucket_s)``, with SQL integer division."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        epoch = cast(func.strftime("%s", HealthReading.createdAt), Integer)
    else:
        epoch = cast(func.unix_timestamp(HealthReading.createdAt), Integer)
    return (epoch - start_s) // bucket_s


def _float(value: Decimal | float | int | None) -> float | None:
    return None if value is None else round(float(value), 2)


def readings_series(
    session: Session, user_id: int, since: datetime, until: datetime, *, max_points: int
) -> ReadingSeries:
    """The user's readings in [since, until) for a chart, at most ``max_points`` points.

    When the range holds more readings, they are averaged in equal time buckets of
    ``ceil((until - since) / max_points)`` seconds (the database does the grouping, over
    the ``(userId, createdAt)`` index); a bucket is marked ``arrhythmia`` if any of its
    readings is, regular if none is and one is regular, and ``None`` (unreadable) when no
    reading of the bucket has a rhythm verdict (SQL ``MAX`` skips NULLs).
    """
    if max_points < 2:
        raise StorageError(f"max_points {max_points} must be at least 2")
    in_range = (
        HealthReading.userId == user_id,
        HealthReading.createdAt >= since,
        HealthReading.createdAt < until,
        HealthReading.createdAt.is_not(None),
    )
    count = session.scalar(select(func.count()).select_from(HealthReading).where(*in_range)) or 0
    if count <= max_points:
        raw = session.scalars(
            select(HealthReading).where(*in_range).order_by(HealthReading.createdAt)
        )
        points = [
            ReadingPoint(
                at=r.createdAt,
                heart_rate_bpm=_float(r.heartRate),
                hrv_rmssd_ms=_float(r.hrv),
                stress_level=_float(r.stressLevel),
                arrhythmia=r.arrhythmiaDetected,
                count=1,
            )
            for r in raw
            if r.createdAt is not None
        ]
        return ReadingSeries(points=points, bucket_seconds=0)
    span_s = int((until - since).total_seconds())
    bucket_s = max(1, -(-span_s // max_points))
    start_s = int(since.timestamp())
    bucket_index = _bucket_index(session, start_s, bucket_s)
    query = (
        select(
            bucket_index,
            func.avg(HealthReading.heartRate),
            func.avg(HealthReading.hrv),
            func.avg(HealthReading.stressLevel),
            func.max(cast(HealthReading.arrhythmiaDetected, Integer)),
            func.count(),
        )
        .where(*in_range)
        .group_by(bucket_index)
        .order_by(bucket_index)
    )
    points = [
        ReadingPoint(
            at=datetime.fromtimestamp(start_s + int(index) * bucket_s, tz=UTC),
            heart_rate_bpm=_float(hr),
            hrv_rmssd_ms=_float(hrv),
            stress_level=_float(stress),
            arrhythmia=None if arrhythmia is None else bool(arrhythmia),
            count=int(n),
        )
        for index, hr, hrv, stress, arrhythmia, n in session.execute(query)
    ]
    return ReadingSeries(points=points, bucket_seconds=bucket_s)
