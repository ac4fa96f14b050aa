from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import InvalidPhoneNumber, NotFound, StorageError
from storage.models import HealthReading
from storage.repositories.people import (
    add_contact,
    add_user,
    contacts_in_order,
    normalize_e164,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155550123", "+14155550123"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+33 1.23.45.67.89", "+33123456789"),
        ("+81-90-1234-5678", "+819012345678"),
    ],
)
def test_normalize_e164(raw: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(InvalidPhoneNumber):
            normalize_e164(raw)
    else:
        assert normalize_e164(raw) == expected


@pytest.mark.parametrize(
    "bad", ["", "12345", "0044 20 7946 0958", "+0123456789", "+1234567890123456", "+1415abc0123"]
)
def test_bad_phone_rejected_with_its_value_named(bad: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=r"is not E\.164"):
        normalize_e164(bad)


def test_contacts_primary_first_and_bad_phone_not_stored(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-7", name="Mia")
        add_contact(session, user_id=user.id, name="Sam", phone="+14155550101")
        add_contact(
            session,
            user_id=user.id,
            name="Lee",
            phone="+1 415 555 0102",
            is_primary=True,
            time_zone="America/Los_Angeles",
        )
        user_id = user.id
    with sessions.begin() as session, pytest.raises(InvalidPhoneNumber):
        add_contact(session, user_id=user_id, name="Bad", phone="555-0103")
    with sessions() as session:
        contacts = contacts_in_order(session, user_id)
    assert [(c.name, c.phone) for c in contacts] == [
        ("Lee", "+14155550102"),
        ("Sam", "+14155550101"),
    ]


def test_contact_for_unknown_user_or_zone(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session, pytest.raises(NotFound, match="user 999"):
        add_contact(session, user_id=999, name="X", phone="+14155550101")
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-8")
        with pytest.raises(StorageError, match="Mars/Olympus"):
            add_contact(
                session, user_id=user.id, name="X", phone="+14155550101", time_zone="Mars/Olympus"
            )


def test_timestamps_round_trip_as_aware_utc(sessions: sessionmaker[Session]) -> None:
    tokyo = timezone(timedelta(hours=9))
    moment = datetime(2026, 11, 24, 9, 30, tzinfo=tokyo)
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-9")
        session.add(HealthReading(userId=user.id, heartRate=61, createdAt=moment))
    with sessions() as session:
        stored = session.query(HealthReading).one().createdAt
    assert stored == moment
    assert stored is not None and stored.tzinfo is not None
    assert stored.astimezone(UTC).hour == 0


def test_naive_datetime_rejected(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-10")
        session.add(HealthReading(userId=user.id, createdAt=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            session.flush()
        session.rollback()
