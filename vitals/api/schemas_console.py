"""Bodies of the console endpoints (patients, notes, resolution, bulk acknowledge)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from storage.repositories.console import MAX_NOTE_CHARS, NoteRow, PatientRow


class PatientSummary(BaseModel):
    userId: int
    name: str
    heartRate: int | None = Field(description="bpm of the latest reading")
    hrvMs: float | None = Field(description="RMSSD (ms) of the latest reading")
    stressLevel: int | None = Field(description="1-10 of the latest reading")
    arrhythmia: bool | None = Field(
        description="latest reading: true/false, null = unreadable window or no reading"
    )
    readingAt: datetime | None = Field(description="reading time of the latest reading")
    lastSeenAt: datetime | None = Field(description="last device message (or reading)")
    transmitting: bool = Field(description="false: silent longer than the configured time")
    openAlerts: int = Field(description="alerts still active and not acknowledged")
    worstOpenSeverity: str | None

    @classmethod
    def of(cls, row: PatientRow) -> PatientSummary:
        return cls(
            userId=row.user_id,
            name=row.name,
            heartRate=row.heart_rate,
            hrvMs=row.hrv_ms,
            stressLevel=row.stress_level,
            arrhythmia=row.arrhythmia,
            readingAt=row.reading_at,
            lastSeenAt=row.last_seen_at,
            transmitting=row.transmitting,
            openAlerts=row.open_alerts,
            worstOpenSeverity=row.worst_open_severity,
        )


class PatientList(BaseModel):
    items: list[PatientSummary]
    notTransmittingAfterSeconds: int


class NoteText(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS, description="the note")


class NoteBody(BaseModel):
    id: int
    kind: str = Field(description="comment or resolution")
    author: str = Field(description="apikey:<id>:<name>")
    text: str
    createdAt: datetime

    @classmethod
    def of(cls, note: NoteRow) -> NoteBody:
        return cls(
            id=note.id,
            kind=note.kind,
            author=note.author,
            text=note.body,
            createdAt=note.created_at,
        )


class Resolution(BaseModel):
    id: int
    changed: bool = Field(description="false when the alert already was resolved")
    note: NoteBody


#: Most alerts one bulk acknowledgement may name.
MAX_BULK = 200


class BulkAck(BaseModel):
    ids: list[Annotated[int, Field(ge=1)]] = Field(
        min_length=1, max_length=MAX_BULK, description="alert ids"
    )


class BulkAckResult(BaseModel):
    ids: list[int]
    changed: list[int] = Field(description="the ids that were not acknowledged before")
    actor: str
