"""What ``vitals status`` and the demo's closing summary show: counts and the newest times
of the pipeline's tables, and the alerts raised with how many texts went out for each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import (
    AlertState,
    DeadLetter,
    Device,
    HealthAlert,
    HealthReading,
    SmsNotification,
    User,
)
from vocabulary import OutboxStatus, ProviderStatus

#: ``smsNotifications`` statuses of a text the notifier still owns (not yet with Twilio).
IN_FLIGHT = (OutboxStatus.CLAIMED, OutboxStatus.RETRYING, OutboxStatus.UNCONFIRMED)


@dataclass(frozen=True)
class LossyDevice:
    """A device with gaps in its ``seq`` numbering (messages lost on the way)."""

    device_id: str
    missing: int
    last_gap_at: datetime | None


@dataclass(frozen=True)
class PipelineCounts:
    """The tables' side of ``vitals status`` (``now`` = the caller's wall clock)."""

    newest_reading_at: datetime | None
    last_device_message_at: datetime | None
    readings_last_5_min: int
    dead_letters_last_hour: list[tuple[str, int]]
    open_alerts: int
    lossy_devices: list[LossyDevice]
    texts_in_flight: int


def pipeline_counts(session: Session, now: datetime) -> PipelineCounts:
    """Newest reading and device message, readings of the last 5 minutes, dead letters of
    the last hour per reason, open alerts, devices with seq gaps (newest gap first) and
    texts in flight."""
    last_reading = session.scalar(select(func.max(HealthReading.createdAt)))
    last_seen = session.scalar(select(func.max(Device.lastSeenAt)))
    recent = session.scalar(
        select(func.count()).where(HealthReading.createdAt >= now - timedelta(minutes=5))
    )
    dead = session.execute(
        select(DeadLetter.reason, func.count())
        .where(DeadLetter.receivedAt >= now - timedelta(hours=1))
        .group_by(DeadLetter.reason)
    ).all()
    open_alerts = session.scalar(
        select(func.count()).select_from(AlertState).where(AlertState.clearedAt.is_(None))
    )
    lossy = session.execute(
        select(Device.deviceId, Device.seqGaps, Device.lastGapAt)
        .where(Device.seqGaps > 0)
        .order_by(Device.lastGapAt.desc())
    ).all()
    pending_sms = session.scalar(
        select(func.count())
        .select_from(SmsNotification)
        .where(SmsNotification.status.in_(IN_FLIGHT))
    )
    return PipelineCounts(
        newest_reading_at=last_reading,
        last_device_message_at=last_seen,
        readings_last_5_min=int(recent or 0),
        dead_letters_last_hour=[(str(reason), int(n)) for reason, n in dead],
        open_alerts=int(open_alerts or 0),
        lossy_devices=[LossyDevice(str(d), int(n), at) for d, n, at in lossy],
        texts_in_flight=int(pending_sms or 0),
    )


@dataclass(frozen=True)
class RaisedAlertSummary:
    """One alert as the demo's summary lists it."""

    user_name: str | None
    kind: str
    severity: str | None
    created_at: datetime | None
    message: str | None
    texts_sent: int


def raised_alerts(session: Session) -> list[RaisedAlertSummary]:
    """Every alert in creation order, with the number of its texts that reached Twilio
    (status ``sent`` or ``delivered``)."""
    alerts = session.execute(
        select(
            User.name,
            AlertState.kind,
            HealthAlert.severity,
            HealthAlert.createdAt,
            HealthAlert.message,
            HealthAlert.id,
        )
        .join(AlertState, AlertState.alertId == HealthAlert.id)
        .join(User, User.id == HealthAlert.userId)
        .order_by(HealthAlert.createdAt)
    ).all()
    texts = session.execute(select(SmsNotification.alertId, SmsNotification.status)).all()
    reached = (ProviderStatus.SENT, ProviderStatus.DELIVERED)
    return [
        RaisedAlertSummary(
            user_name=name,
            kind=kind,
            severity=severity,
            created_at=created,
            message=message,
            texts_sent=sum(1 for a, status in texts if a == alert_id and status in reached),
        )
        for name, kind, severity, created, message, alert_id in alerts
    ]
