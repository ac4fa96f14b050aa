"""The wellness app's tables, mapped exactly as the wellness app's schema gives them: same
table names, same camelCase columns, same types and ENUM values (created where missing by
``storage/migrations/versions/0001_initial.py``; ``docs/architecture.md``, "What is
stored").

These are a contract with a running app. Attribute names equal column names on purpose,
so that nothing stands between the contract and the code.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.types import UtcTimestamp
from vocabulary import APP_ALERT_KINDS, ReadingType, Severity

USER_ROLES = ("user", "admin")
# the app's ENUM values, in the app's order (plain strings: the schema is a contract)
READING_TYPES: tuple[str, ...] = tuple(t.value for t in ReadingType)
ALERT_TYPES: tuple[str, ...] = tuple(k.value for k in APP_ALERT_KINDS)
SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)
EXERCISE_TYPES = (
    "box_breathing",
    "deep_breathing",
    "grounding",
    "body_scan",
    "progressive_relaxation",
    "gentle_movement",
)
EXERCISE_STATUSES = ("in_progress", "completed", "abandoned")


def _enum(name: str, values: tuple[str, ...]) -> Enum:
    # native ENUM on MySQL/MariaDB; VARCHAR elsewhere (SQLite)
    return Enum(*values, name=name, native_enum=True, validate_strings=True)


class User(Base):
    """``users`` (app-schema v2.0.0): the app's accounts. vitals only reads and registers."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    openId: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    loginMethod: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(
        _enum("role", USER_ROLES), server_default=text("'user'"), default="user", index=True
    )
    subscriptionTier: Mapped[str | None] = mapped_column(
        String(32), server_default=text("'free'"), default="free", index=True
    )
    subscriptionStatus: Mapped[str | None] = mapped_column(String(32))
    subscriptionEndsAt: Mapped[datetime | None] = mapped_column(UtcTimestamp, nullable=True)
    stripeCustomerId: Mapped[str | None] = mapped_column(String(255))
    tokenBalance: Mapped[int | None] = mapped_column(Integer, server_default=text("5"), default=5)
    createdAt: Mapped[datetime | None] = mapped_column(
        UtcTimestamp, server_default=func.current_timestamp()
    )
    updatedAt: Mapped[datetime | None] = mapped_column(
        UtcTimestamp, server_default=func.current_timestamp()
    )
    lastSignedIn: Mapped[datetime | None] = mapped_column(
        UtcTimestamp, server_default=func.current_timestamp()
    )


class HealthReading(Base):
    """``healthReadings``: one summary row per user per window (createdAt = window end)."""

    __tablename__ = "healthReadings"
    __table_args__ = (Index(None, "userId", "createdAt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    userId: Mapped[int] = mapped_column(Integer, ForeignKey("users.id"), nullable=False)
    heartRate: Mapped[int | None] = mapped_column(Integer)
    hrv: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    stressLevel: Mapped[int | None] = mapped_column(Integer)
    arrhythmiaDetected: Mapped[bool | None] = mapped_column(Boolean)
    readingType: Mapped[str | None] = mapped_column(_enum("readingType", READING_TYPES))
    createdAt: Mapped[datetime | None] = mapped_column(
        UtcTimestamp, server_default=func.current_timestamp()
    )


class HealthAlert(Base):
    """``healthAlerts``: one row per alert; lifecycle detail lives in our ``alertStates``."""

    __tablename__ = "healthAlerts"
    # history queries: per patient, per type, and all patients, each newest first
    __table_args__ = (
        Index(None, "userId", "createdAt"),
        Index(None, "alertType", "createdAt"),
        Index(None, "createdAt"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    userId: Mapped[int] = mapped_column(Integer, ForeignKey("users.id"), nullable=False)
    alertType: Mapped[str | None] = mapped_column(_enum("alertType", ALERT_TYPES))
    severity: Mapped[str | None] = mapped_column(_enum("severity", SEVERITIES))
    message: Mapped[str | None] = mapped_column(Text)
    heartRate: Mapped[int | None] = mapped_column(Integer)
    stressLevel: Mapped[int | None] = mapped_column(Integer)
    acknowledged: Mapped[bool | None] = mapped_column(
        Boolean, server_default=text("0"), default=False, index=True
    )
    createdAt: Mapped[datetime | None] = mapped_column(
        UtcTimestamp, server_default=func.current_timestamp()
    )


class EmergencyContact(Base):
    """``emergencyContacts``: who gets a text; ``phone`` is E.164 (validated on insert)."""

    __tablename__ = "emergencyContacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    userId: Mapped[int] = mapped_column(Integer, ForeignKey("users.id"), nullable=False, index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(20))
    relationship: Mapped[str | None] = mapped_column(String(100))
    isPrimary: Mapped[bool | None] = mapped_column(Boolean, server_default=text("0"), default=False)
    createdAt: Mapped[datetime | None] = mapped_column(
        UtcTimestamp, server_default=func.current_timestamp()
    )


class ExerciseSession(Base):
    """``exerciseSessions``: the app's guided exercises (mapped for the contract only)."""

    __tablename__ = "exerciseSessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    userId: Mapped[int] = mapped_column(Integer, ForeignKey("users.id"), nullable=False, index=True)
    exerciseType: Mapped[str | None] = mapped_column(_enum("exerciseType", EXERCISE_TYPES))
    triggerReason: Mapped[str | None] = mapped_column(String(255))
    durationSeconds: Mapped[int | None] = mapped_column(Integer)
    completionPercentage: Mapped[int | None] = mapped_column(Integer)
    moodBefore: Mapped[int | None] = mapped_column(Integer)
    moodAfter: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(_enum("status", EXERCISE_STATUSES))
    startedAt: Mapped[datetime | None] = mapped_column(UtcTimestamp, nullable=True)
    completedAt: Mapped[datetime | None] = mapped_column(UtcTimestamp, nullable=True)
