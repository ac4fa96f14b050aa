"""What the pipeline wrote to a vitals database, read back for scoring and plots: alerts
(``vitals score``), summary readings (``vitals plot``) and rhythm verdict counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from storage.models import AlertState, HealthAlert, HealthReading, User
from storage.types import ms_from_utc


@dataclass(frozen=True)
class StoredAlert:
    """One stored alert: trace user id, type (alertType, or ``sos``), createdAt in epoch ms."""

    user: int
    type: str
    created_ms: int


def alerts_from_db(engine: Engine, open_ids: Mapping[str, int] | None = None) -> list[StoredAlert]:
    """Every ``healthAlerts`` row with its type (``alertType``, else ``alertStates.kind``,
    e.g. ``sos``) and ``createdAt``.

    ``open_ids`` maps ``users.openId`` to the trace's user id (from the users manifest),
    so scoring still works when the database numbered the registered users differently;
    users not in it keep their database id.
    """
    query = (
        select(
            HealthAlert.userId,
            HealthAlert.alertType,
            AlertState.kind,
            HealthAlert.createdAt,
            User.openId,
        )
        .outerjoin(AlertState, AlertState.alertId == HealthAlert.id)
        .outerjoin(User, User.id == HealthAlert.userId)
        .order_by(HealthAlert.createdAt, HealthAlert.id)
    )
    mapping = open_ids or {}
    out = []
    with Session(engine) as session:
        for user_id, alert_type, kind, created, open_id in session.execute(query):
            kind_name = alert_type or kind
            if kind_name is None or created is None:
                continue
            user = mapping.get(open_id, user_id) if open_id is not None else user_id
            out.append(StoredAlert(int(user), str(kind_name), ms_from_utc(created)))
    return out


@dataclass(frozen=True)
class Reading:
    """One ``healthReadings`` row (window end in epoch ms)."""

    end_ms: int
    heart_rate_bpm: float | None
    rmssd_ms: float | None
    stress_level: int | None
    arrhythmia: bool | None


def db_user_id(engine: Engine, open_id: str | None, user: int) -> int:
    """The database id of a trace user: by ``openId`` when registered so, else ``user``."""
    if open_id is None:
        return user
    with Session(engine) as session:
        found = session.scalar(select(User.id).where(User.openId == open_id))
    return int(found) if found is not None else user


def readings_from_db(engine: Engine, user_id: int) -> list[Reading]:
    """The user's ``healthReadings`` in time order."""
    query = (
        select(HealthReading)
        .where(HealthReading.userId == user_id)
        .order_by(HealthReading.createdAt, HealthReading.id)
    )
    with Session(engine) as session:
        return [
            Reading(
                ms_from_utc(r.createdAt) if r.createdAt else 0,
                float(r.heartRate) if r.heartRate is not None else None,
                float(r.hrv) if r.hrv is not None else None,
                r.stressLevel,
                r.arrhythmiaDetected,
            )
            for r in session.scalars(query)
        ]


def count_readings(engine: Engine) -> int:
    """How many ``healthReadings`` rows the database holds."""
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(HealthReading)) or 0)


def rhythm_verdict_counts(engine: Engine) -> dict[str, int]:
    """``healthReadings`` rows per rhythm outcome: ``irregular`` (arrhythmiaDetected
    true), ``regular`` (false) and ``unreadable`` (NULL: no verdict, never "regular")."""
    query = select(HealthReading.arrhythmiaDetected, func.count()).group_by(
        HealthReading.arrhythmiaDetected
    )
    names = {True: "irregular", False: "regular", None: "unreadable"}
    counts = dict.fromkeys(names.values(), 0)
    with Session(engine) as session:
        for value, n in session.execute(query):
            counts[names[None if value is None else bool(value)]] += int(n)
    return counts
