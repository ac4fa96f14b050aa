"""vitals' own tables, named in the app's camelCase style, for what the seed does not cover:
devices and their credentials, dead letters, the ingest journal, detector checkpoints,
alert lifecycle, SMS notifications, API keys and the access audit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.types import UtcTimestamp

#: BIGINT on MySQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY autoincrements).
BigId = BigInteger().with_variant(Integer, "sqlite")
#: Raw payload bytes: LONGBLOB on MySQL (a BLOB caps at 64 KiB).
RawBytes = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


class Device(Base):
    """A wearable or phone allowed to publish for exactly one user."""

    __tablename__ = "devices"

    deviceId: Mapped[str] = mapped_column(String(64), primary_key=True)
    userId: Mapped[int] = mapped_column(Integer, ForeignKey("users.id"), nullable=False, index=True)
    label: Mapped[str | None] = mapped_column(String(100))
    #: where the device is worn: wrist, waist, chest, pocket (None = unknown); the fall
    #: detector's model depends on it (migration 0002)
    placement: Mapped[str | None] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("1"))
    credentialHash: Mapped[str | None] = mapped_column(String(255))
    lastSeq: Mapped[int | None] = mapped_column(BigInteger)
    lastSeenAt: Mapped[datetime | None] = mapped_column(UtcTimestamp, nullable=True)
    createdAt: Mapped[datetime] = mapped_column(
        UtcTimestamp, nullable=False, server_default=func.current_timestamp()
    )
    # added by migration 0004 (ingest hardening)
    #: Newest ``ts`` (epoch ms) the device sent: a lower seq with a newer ts is a reset.
    lastTsMs: Mapped[int | None] = mapped_column(BigInteger)
    #: Messages missing from the device's seq numbering (lost at the broker), ever.
    seqGaps: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    lastGapAt: Mapped[datetime | None] = mapped_column(UtcTimestamp, nullable=True)


class DeadLetter(Base):
    """An input that was refused, kept with its raw bytes and the reason."""

    __tablename__ = "deadLetters"
    __table_args__ = (Index(None, "receivedAt"), Index(None, "reason"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    receivedAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
    topic: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[bytes] = mapped_column(RawBytes, nullable=False)
    reason: Mapped[str] = mapped_column(String(64), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    deviceId: Mapped[str | None] = mapped_column(String(64))
    userId: Mapped[int | None] = mapped_column(Integer)


class IngestJournal(Base):
    """Accepted payloads not yet folded into a committed window (the durable queue).

    A message is acknowledged to the broker once its journal row is committed; the row is
    deleted when every window it feeds has been committed. (deviceId, seq) is unique, so a
    redelivered message has no second effect.
    """

    __tablename__ = "ingestJournal"
    __table_args__ = (
        UniqueConstraint("deviceId", "seq"),
        Index(None, "userId", "tsMs"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    deviceId: Mapped[str] = mapped_column(String(64), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    userId: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    tsMs: Mapped[int] = mapped_column(BigInteger, nullable=False)
    payload: Mapped[bytes] = mapped_column(RawBytes, nullable=False)
    receivedAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)


class DetectorState(Base):
    """Checkpoint of one user's detector and rule state, committed with its readings."""

    __tablename__ = "detectorStates"

    userId: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[bytes] = mapped_column(RawBytes, nullable=False)
    watermarkMs: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updatedAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)


class AlertState(Base):
    """Identity and open/cleared state of a ``healthAlerts`` row.

    ``kind`` is the alertType, or ``sos`` for an SOS press (the app's alertType ENUM has no
    value for it, so the healthAlerts row of an SOS has alertType NULL). (userId, kind,
    onsetAt) is the alert's natural key: replaying a trace never creates it twice.
    """

    __tablename__ = "alertStates"
    __table_args__ = (
        UniqueConstraint("userId", "kind", "onsetAt"),
        Index(None, "userId", "kind", "clearedAt"),
    )

    alertId: Mapped[int] = mapped_column(
        Integer, ForeignKey("healthAlerts.id"), primary_key=True, autoincrement=False
    )
    userId: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    onsetAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
    lastSeenAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
    clearedAt: Mapped[datetime | None] = mapped_column(UtcTimestamp, nullable=True)
    escalationLevel: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    nextEscalationAt: Mapped[datetime | None] = mapped_column(UtcTimestamp, nullable=True)
    #: The value at alert time, frozen: every text of the alert quotes the same number.
    heartRateAtAlert: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stressLevelAtAlert: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AlertEvent(Base):
    """Lifecycle of an alert: created, updated, notified, delivered, escalated,
    acknowledged, cleared, rate_limited — with who did it and when."""

    __tablename__ = "alertEvents"
    __table_args__ = (Index(None, "alertId", "createdAt"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alertId: Mapped[int] = mapped_column(Integer, ForeignKey("healthAlerts.id"), nullable=False)
    eventType: Mapped[str] = mapped_column(String(32), nullable=False)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    createdAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)


class SmsNotification(Base):
    """One message (a text, or a voice call) to one recipient about one alert, in one
    round and for one purpose; the unique key is written before the API call, so a crash
    or a retry never sends it twice.

    ``recipient`` is ``contact:<id>`` or ``oncall`` (``contactId`` is NULL for the on-call
    number); ``channel`` ``sms`` or ``call``; ``purpose`` ``alert`` (the alert itself),
    ``responding`` (someone else acknowledged) or ``all_clear`` (the alert cleared);
    ``round`` 1 for the first pass over the contacts, 2 for the second, ...
    """

    __tablename__ = "smsNotifications"
    __table_args__ = (
        UniqueConstraint("alertId", "recipient", "channel", "purpose", "round"),
        Index(None, "providerSid"),
        Index(None, "status", "nextAttemptAt"),
        Index(None, "userId", "createdAt"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alertId: Mapped[int] = mapped_column(Integer, ForeignKey("healthAlerts.id"), nullable=False)
    contactId: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("emergencyContacts.id"), nullable=True
    )
    userId: Mapped[int] = mapped_column(Integer, nullable=False)
    recipient: Mapped[str] = mapped_column(String(32), nullable=False, server_default="")
    channel: Mapped[str] = mapped_column(String(8), nullable=False, server_default="sms")
    purpose: Mapped[str] = mapped_column(String(16), nullable=False, server_default="alert")
    round: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    escalationLevel: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    providerSid: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str | None] = mapped_column(String(320))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    lastError: Mapped[str | None] = mapped_column(Text)
    nextAttemptAt: Mapped[datetime | None] = mapped_column(UtcTimestamp, nullable=True)
    createdAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
    updatedAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
    sentAt: Mapped[datetime | None] = mapped_column(UtcTimestamp, nullable=True)
    deliveredAt: Mapped[datetime | None] = mapped_column(UtcTimestamp, nullable=True)


class ContactSetting(Base):
    """Per-contact preferences the app does not store (IANA time zone for message times)."""

    __tablename__ = "contactSettings"

    contactId: Mapped[int] = mapped_column(
        Integer, ForeignKey("emergencyContacts.id"), primary_key=True, autoincrement=False
    )
    timeZone: Mapped[str | None] = mapped_column(String(64))


class ApiKey(Base):
    """A clinician or admin API key; only a hash of the secret is stored."""

    __tablename__ = "apiKeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    keyPrefix: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    keyHash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str | None] = mapped_column(String(100))
    createdAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
    revokedAt: Mapped[datetime | None] = mapped_column(UtcTimestamp, nullable=True)


class ApiKeyPatient(Base):
    """Which patients (users) a clinician key may see."""

    __tablename__ = "apiKeyPatients"

    apiKeyId: Mapped[int] = mapped_column(Integer, ForeignKey("apiKeys.id"), primary_key=True)
    userId: Mapped[int] = mapped_column(Integer, ForeignKey("users.id"), primary_key=True)


class AccessAudit(Base):
    """Every read or change of patient data through the API: who, what, when, from where.

    Refused authentications are folded: one row per (minute, client, key, outcome) with
    ``aggregateKey`` set (unique) and ``hits`` counting the requests it stands for; every
    other row has ``hits`` 1 and no ``aggregateKey``.
    """

    __tablename__ = "accessAudit"
    __table_args__ = (
        Index(None, "apiKeyId", "createdAt"),
        Index(None, "userId", "createdAt"),
        Index(None, "aggregateKey", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    apiKeyId: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    resource: Mapped[str] = mapped_column(String(255), nullable=False)
    userId: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    createdAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
    clientIp: Mapped[str | None] = mapped_column(String(45))
    hits: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    aggregateKey: Mapped[str | None] = mapped_column(String(96))


class InboundMessage(Base):
    """One inbound Twilio message or keypress (its ``MessageSid`` / ``CallSid``), recorded
    once: a replayed webhook finds its SID here and changes nothing."""

    __tablename__ = "inboundMessages"
    __table_args__ = (UniqueConstraint("providerSid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    providerSid: Mapped[str] = mapped_column(String(64), nullable=False)
    contactId: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    receivedAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)


class UserLocation(Base):
    """The latest location fix a wearer's phone shared (payload kind ``loc``): one row per
    user, overwritten by a newer fix, never a history."""

    __tablename__ = "userLocations"

    userId: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    lat: Mapped[float] = mapped_column(Double, nullable=False)
    lon: Mapped[float] = mapped_column(Double, nullable=False)
    accM: Mapped[float | None] = mapped_column(Double, nullable=True)
    fixAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
    updatedAt: Mapped[datetime] = mapped_column(UtcTimestamp, nullable=False)
