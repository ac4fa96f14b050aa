"""Tables of the clinician console and the pipeline's liveness, in the app's camelCase style:
comments and resolution notes on alerts, and the heartbeat of each running pipeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.own import BigId
from storage.types import UtcTimestamp


class AlertNote(Base):
    """A clinician's comment on an alert, or the note it was resolved with (``kind``
    ``comment`` or ``resolution``); ``author`` is the API key's actor string."""

    __tablename__ = "alertNotes"
    __table_args__ = (Index(None, "alertId", "createdAt"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alertId: Mapped[int] = mapped_column(Integer, ForeignKey("healthAlerts.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    author: Mapped[str] = mapped_column(String(100), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    createdAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)


class PipelineHeartbeat(Base):
    """What a running ``vitals run`` last said about itself (one row per MQTT client id):
    whether it is connected to its broker, refreshed every few seconds."""

    __tablename__ = "pipelineHeartbeats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    broker: Mapped[str] = mapped_column(String(255), nullable=False)
    connected: Mapped[bool] = mapped_column(Boolean, nullable=False)
    detail: Mapped[str | None] = mapped_column(String(255))
    startedAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
    changedAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
    updatedAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
