"""Writes of the ingest pipeline: batched, idempotent on natural keys, one transaction
per batch (the caller's ``session.begin()``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.orm import Session

from storage.models import Base, DeadLetter, DetectorState, Device, HealthReading

#: DECIMAL(5,2) holds at most 999.99 ms of RMSSD.
HRV_MAX = Decimal("999.99")


@dataclass(frozen=True, slots=True)
class ReadingRow:
    user_id: int
    created_at: datetime
    heart_rate: int | None
    hrv_ms: float | None
    stress_level: int | None
    arrhythmia: bool | None
    reading_type: str


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    received_at: datetime
    topic: str | None
    payload: bytes
    reason: str
    detail: str
    device_id: str | None = None
    user_id: int | None = None


def _hrv(value: float | None) -> Decimal | None:
    if value is None:
        return None
    return min(Decimal(str(round(value, 2))), HRV_MAX)


def insert_readings(session: Session, rows: Sequence[ReadingRow]) -> int:
    """Insert the rows not stored yet; (userId, createdAt, readingType) identifies a window
    summary, so a redelivered or replayed batch has no second effect. Returns rows added."""
    if not rows:
        return 0
    keys = {(row.user_id, row.created_at, row.reading_type) for row in rows}
    stored = session.execute(
        select(HealthReading.userId, HealthReading.createdAt, HealthReading.readingType).where(
            tuple_(HealthReading.userId, HealthReading.createdAt).in_(
                [(user, at) for user, at, _ in keys]
            )
        )
    ).all()
    seen = {(user, at, kind) for user, at, kind in stored}
    fresh = []
    for row in rows:
        key = (row.user_id, row.created_at, row.reading_type)
        if key in seen:
            continue
        seen.add(key)
        fresh.append(
            {
                "userId": row.user_id,
                "heartRate": row.heart_rate,
                "hrv": _hrv(row.hrv_ms),
                "stressLevel": row.stress_level,
                "arrhythmiaDetected": row.arrhythmia,
                "readingType": row.reading_type,
                "createdAt": row.created_at,
            }
        )
    if fresh:
        session.execute(insert(HealthReading), fresh)
    return len(fresh)


def prune_dead_letters(session: Session, before: datetime) -> int:
    """Delete dead letters received before ``before``; returns how many."""
    result = session.execute(delete(DeadLetter).where(DeadLetter.receivedAt < before))
    return int(getattr(result, "rowcount", 0) or 0)


def insert_dead_letters(session: Session, rows: Sequence[DeadLetterRow]) -> None:
    if rows:
        session.execute(
            insert(DeadLetter),
            [
                {
                    "receivedAt": row.received_at,
                    "topic": row.topic,
                    "payload": row.payload,
                    "reason": row.reason,
                    "detail": row.detail[:2000],
                    "deviceId": row.device_id,
                    "userId": row.user_id,
                }
                for row in rows
            ],
        )


def save_checkpoints(session: Session, states: dict[int, tuple[bytes, int]], at: datetime) -> None:
    """Replace the detector checkpoints of these users: {userId: (state, watermarkMs)}."""
    if not states:
        return
    session.execute(delete(DetectorState).where(DetectorState.userId.in_(list(states))))
    session.execute(
        insert(DetectorState),
        [
            {"userId": user, "state": blob, "watermarkMs": watermark, "updatedAt": at}
            for user, (blob, watermark) in states.items()
        ],
    )


def checkpointed_users(session: Session) -> list[int]:
    """The ids of every user with a detector checkpoint."""
    return [int(user) for user in session.scalars(select(DetectorState.userId))]


def load_checkpoints(session: Session, user_ids: Iterable[int] | None = None) -> dict[int, bytes]:
    query = select(DetectorState.userId, DetectorState.state)
    if user_ids is not None:
        query = query.where(DetectorState.userId.in_(list(user_ids)))
    return {user: bytes(blob) for user, blob in session.execute(query)}


@dataclass(frozen=True, slots=True)
class DeviceProgress:
    """What a committed batch changes of a device: its highest seq, its newest ts and how
    many messages its numbering shows missing (lost before they reached us)."""

    last_seq: int
    last_ts_ms: int | None
    missing: int = 0


def advance_devices(
    session: Session, progress: dict[str, DeviceProgress], seen_at: datetime
) -> None:
    """Record each device's highest committed seq and newest ts (redelivery below them is a
    duplicate) and add up the messages missing from its numbering."""
    if not progress:
        return
    devices = Base.metadata.tables["devices"]
    connection = session.connection()
    connection.execute(
        update(devices)
        .where(devices.c.deviceId == bindparam("device"))
        .values(lastSeq=bindparam("seq"), lastTsMs=bindparam("ts"), lastSeenAt=bindparam("seen")),
        [
            {"device": device, "seq": p.last_seq, "ts": p.last_ts_ms, "seen": seen_at}
            for device, p in progress.items()
        ],
    )
    gaps = [
        {"device": device, "missing": p.missing, "seen": seen_at}
        for device, p in progress.items()
        if p.missing
    ]
    if gaps:
        connection.execute(
            update(devices)
            .where(devices.c.deviceId == bindparam("device"))
            .values(seqGaps=devices.c.seqGaps + bindparam("missing"), lastGapAt=bindparam("seen")),
            gaps,
        )


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    device_id: str
    user_id: int
    enabled: bool
    last_seq: int | None
    last_ts_ms: int | None = None
    placement: str | None = None


def load_devices(session: Session, device_ids: Iterable[str] | None = None) -> list[DeviceRecord]:
    query = select(
        Device.deviceId,
        Device.userId,
        Device.enabled,
        Device.lastSeq,
        Device.lastTsMs,
        Device.placement,
    )
    if device_ids is not None:
        query = query.where(Device.deviceId.in_(list(device_ids)))
    return [DeviceRecord(*row) for row in session.execute(query)]
