"""Fixtures of the notifier tests: a fake Twilio, a family with three contacts, alerts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from notifier.policy import NotificationPolicy
from notifier.senders import TwilioSender
from notifier.service import NotificationService
from storage.repositories.alerts import AlertChange, open_alert
from storage.repositories.people import add_contact, add_user
from tests.notifier.fake_twilio import FakeTwilio

T0 = datetime(2026, 11, 24, 2, 14, tzinfo=UTC)
ANNA, BEN, CARA = "+14155550101", "+14155550102", "+14155550103"
PUBLIC_URL = "https://vitals.example.org"
FROM_NUMBER = "+15005550006"


@dataclass(frozen=True)
class Family:
    user_id: int
    anna: int  # primary, Europe/Paris
    ben: int
    cara: int


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def sender(fake: FakeTwilio) -> TwilioSender:
    return TwilioSender(
        fake.account_sid,
        fake.auth_token,
        from_number=FROM_NUMBER,
        api_base_url=fake.base_url,
        timeout_s=0.4,
    )


@pytest.fixture
def policy() -> NotificationPolicy:
    return NotificationPolicy(
        max_attempts=3,
        retry_for_s=0.0,  # bounded by attempts alone here
        backoff_base_s=2.0,
        backoff_cap_s=8.0,
        status_callback_url=f"{PUBLIC_URL}/webhooks/twilio/status",
        public_base_url=PUBLIC_URL,
        critical_escalation_delay_s=300.0,  # the tests' alert is critical: one delay for all
    )


@pytest.fixture
def service(
    sessions: sessionmaker[Session], sender: TwilioSender, policy: NotificationPolicy
) -> NotificationService:
    return NotificationService(sessions, sender, policy, rng=random.Random(7))


@pytest.fixture
def family(sessions: sessionmaker[Session]) -> Family:
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-jane", name="Jane Doe")
        # added out of order: the primary contact is texted first whatever the insert order
        ben = add_contact(session, user_id=user.id, name="Ben", phone=BEN)
        anna = add_contact(
            session,
            user_id=user.id,
            name="Anna",
            phone="+1 (415) 555-0101",
            is_primary=True,
            time_zone="Europe/Paris",
        )
        cara = add_contact(session, user_id=user.id, name="Cara", phone=CARA)
        return Family(user.id, anna.id, ben.id, cara.id)


def raise_alert(
    sessions: sessionmaker[Session],
    user_id: int,
    kind: str = "high_heart_rate",
    severity: str = "critical",
    at: datetime = T0,
    heart_rate: int | None = 156,
    stress_level: int | None = None,
) -> int:
    """Commit an alert the way the pipeline does (healthAlerts + alertStates + created)."""
    with sessions.begin() as session:
        alert_id, _ = open_alert(
            session,
            AlertChange(
                user_id=user_id,
                kind=kind,
                severity=severity,
                onset_at=at - timedelta(minutes=10),
                at=at,
                message=f"{kind} test alert",
                heart_rate=heart_rate,
                stress_level=stress_level,
            ),
        )
    return alert_id


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)
