"""Response bodies of the API (they are the OpenAPI schema at ``/openapi.json``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from storage.repositories.console import NoteRow
from storage.repositories.history import AlertDetail, AlertRow, ReadingSeries


class Alert(BaseModel):
    id: int
    userId: int
    userName: str
    type: str = Field(description="alertType, or 'sos' for an SOS press (alertType NULL)")
    severity: str | None
    message: str | None
    heartRate: int | None = Field(description="bpm at the time of the alert")
    stressLevel: int | None = Field(description="1-10 at the time of the alert")
    acknowledged: bool
    createdAt: datetime
    clearedAt: datetime | None

    @classmethod
    def of(cls, row: AlertRow) -> Alert:
        return cls(
            id=row.id,
            userId=row.user_id,
            userName=row.user_name,
            type=row.kind,
            severity=row.severity,
            message=row.message,
            heartRate=row.heart_rate,
            stressLevel=row.stress_level,
            acknowledged=row.acknowledged,
            createdAt=row.created_at,
            clearedAt=row.cleared_at,
        )


class AlertList(BaseModel):
    items: list[Alert]
    nextCursor: str | None = Field(description="pass as ?cursor= for the next (older) page")


class AlertEvent(BaseModel):
    eventType: str
    actor: str
    detail: str | None
    createdAt: datetime


class SmsDelivery(BaseModel):
    contactName: str
    phone: str = Field(description="masked: only the last two digits are shown")
    escalationLevel: int
    status: str
    attempts: int
    sentAt: datetime | None
    deliveredAt: datetime | None
    lastError: str | None


class AlertNoteBody(BaseModel):
    id: int
    kind: str = Field(description="comment or resolution")
    author: str
    text: str
    createdAt: datetime


class AlertDetailBody(Alert):
    events: list[AlertEvent]
    sms: list[SmsDelivery]
    notes: list[AlertNoteBody] = Field(
        default=[], description="comments and the resolution note, oldest first"
    )

    @classmethod
    def of_detail(cls, detail: AlertDetail, notes: Sequence[NoteRow] = ()) -> AlertDetailBody:
        base = Alert.of(detail.alert).model_dump()
        return cls(
            **base,
            notes=[
                AlertNoteBody(
                    id=n.id, kind=n.kind, author=n.author, text=n.body, createdAt=n.created_at
                )
                for n in notes
            ],
            events=[
                AlertEvent(
                    eventType=e.event_type, actor=e.actor, detail=e.detail, createdAt=e.created_at
                )
                for e in detail.events
            ],
            sms=[
                SmsDelivery(
                    contactName=s.contact_name,
                    phone=s.phone_masked,
                    escalationLevel=s.escalation_level,
                    status=s.status,
                    attempts=s.attempts,
                    sentAt=s.sent_at,
                    deliveredAt=s.delivered_at,
                    lastError=s.last_error,
                )
                for s in detail.sms
            ],
        )


class Ack(BaseModel):
    id: int
    acknowledged: bool
    changed: bool = Field(description="false when the alert already was acknowledged")
    actor: str


class ReadingPointBody(BaseModel):
    at: datetime = Field(description="reading time, or the start of the bucket")
    heartRateBpm: float | None
    hrvRmssdMs: float | None
    stressLevel: float | None
    arrhythmia: bool | None = Field(
        description="true irregular (AF-like), false regular, null unreadable (no verdict)"
    )
    count: int = Field(description="readings averaged into this point")


class Readings(BaseModel):
    userId: int
    since: datetime
    until: datetime
    bucketSeconds: int = Field(description="0: raw readings; else bucket length of the means")
    points: list[ReadingPointBody]

    @classmethod
    def of(cls, user_id: int, since: datetime, until: datetime, series: ReadingSeries) -> Readings:
        return cls(
            userId=user_id,
            since=since,
            until=until,
            bucketSeconds=series.bucket_seconds,
            points=[
                ReadingPointBody(
                    at=p.at,
                    heartRateBpm=p.heart_rate_bpm,
                    hrvRmssdMs=p.hrv_rmssd_ms,
                    stressLevel=p.stress_level,
                    arrhythmia=p.arrhythmia,
                    count=p.count,
                )
                for p in series.points
            ],
        )


class Health(BaseModel):
    status: str
    database: str


class Me(BaseModel):
    id: int
    name: str
    role: str
    patientIds: list[int] = Field(description="assigned patients (empty for an admin: all)")
