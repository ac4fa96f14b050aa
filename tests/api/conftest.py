"""A seeded clinician-API world: three patients with alerts, readings and a text; an admin
key, two clinician keys with different patients, and a revoked key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from storage.models import HealthReading, SmsNotification
from storage.repositories.access import create_api_key, revoke_api_key
from storage.repositories.alerts import AlertChange, acknowledge_alert, open_alert
from storage.repositories.people import add_contact, add_user
from vitals.api import create_app
from vitals.settings import Settings

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
#: (patient index, kind, severity, minutes after T0, acknowledged)
ALERTS = (
    (0, "high_heart_rate", "high", 10, False),
    (0, "arrhythmia", "high", 40, True),
    (0, "sos", "critical", 70, False),
    (0, "high_stress", "low", 100, False),
    (1, "low_heart_rate", "critical", 20, False),
    (1, "fall_detected", "critical", 50, True),
    (1, "high_heart_rate", "critical", 80, False),
    (2, "high_heart_rate", "high", 30, False),
    (2, "sos", "critical", 60, False),
)
READINGS_PER_USER = 180  # one a minute from T0


@dataclass(frozen=True)
class World:
    users: tuple[int, int, int]
    alerts: tuple[int, ...]  # in the order of ALERTS
    admin: str
    clinician: str  # patients 0 and 1
    other: str  # patient 2 only
    revoked: str
    admin_id: int
    clinician_id: int
    other_id: int
    revoked_id: int

    def of_user(self, index: int) -> list[int]:
        return [a for a, spec in zip(self.alerts, ALERTS, strict=True) if spec[0] == index]


def seed_world(sessions: sessionmaker[Session]) -> World:
    with sessions.begin() as session:
        users = tuple(
            add_user(session, open_id=f"oauth-{name}", name=name).id
            for name in ("Aiko Tanaka", "Ben Okafor", "Chloé Martin")
        )
        alert_ids = []
        for index, kind, severity, minutes, acked in ALERTS:
            at = T0 + timedelta(minutes=minutes)
            alert_id, _ = open_alert(
                session,
                AlertChange(
                    user_id=users[index],
                    kind=kind,
                    severity=severity,
                    onset_at=at - timedelta(minutes=10),
                    at=at,
                    message=f"{kind} for {severity}",
                    heart_rate=130 if "heart" in kind else None,
                ),
            )
            if acked:
                acknowledge_alert(session, alert_id, "contact:1", at + timedelta(minutes=2))
            alert_ids.append(alert_id)
        contact = add_contact(
            session, user_id=users[0], name="Ren Tanaka", phone="+819012345678", is_primary=True
        )
        session.add(
            SmsNotification(
                alertId=alert_ids[2],
                contactId=contact.id,
                userId=users[0],
                escalationLevel=0,
                status="delivered",
                providerSid="SM123",
                body="SOS",
                attempts=1,
                createdAt=T0 + timedelta(minutes=70),
                updatedAt=T0 + timedelta(minutes=71),
                sentAt=T0 + timedelta(minutes=70),
                deliveredAt=T0 + timedelta(minutes=71),
            )
        )
        for user_index, user_id in enumerate(users):
            for minute in range(READINGS_PER_USER):
                session.add(
                    HealthReading(
                        userId=user_id,
                        heartRate=60 + user_index * 10 + minute % 5,
                        hrv=42.5,
                        stressLevel=3,
                        arrhythmiaDetected=minute == 45,
                        readingType="automatic",
                        createdAt=T0 + timedelta(minutes=minute + 1),
                    )
                )
        admin = create_api_key(session, role="admin", name="Dr Admin", at=T0)
        clinician = create_api_key(
            session, role="clinician", name="Dr Who", at=T0, patient_ids=users[:2]
        )
        other = create_api_key(
            session, role="clinician", name="Dr Other", at=T0, patient_ids=users[2:]
        )
        revoked = create_api_key(
            session, role="clinician", name="Dr Gone", at=T0, patient_ids=users
        )
        revoke_api_key(session, revoked.id, T0 + timedelta(hours=1))
    return World(
        users=users,  # type: ignore[arg-type]
        alerts=tuple(alert_ids),
        admin=admin.key,
        clinician=clinician.key,
        other=other.key,
        revoked=revoked.key,
        admin_id=admin.id,
        clinician_id=clinician.id,
        other_id=other.id,
        revoked_id=revoked.id,
    )


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    return seed_world(sessions)


@pytest.fixture
def client(sessions: sessionmaker[Session], world: World) -> Iterator[TestClient]:
    app = create_app(Settings(), sessions)
    with TestClient(app) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
