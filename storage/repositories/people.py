"""Users and their emergency contacts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import InvalidPhoneNumber, NotFound, StorageError
from storage.models import ContactSetting, EmergencyContact, User

#: E.164: a plus sign, a country code that does not start with 0, 8 to 15 digits in all
#: (ITU-T Recommendation E.164, section 6.2: at most 15 digits).
E164 = re.compile(r"\+[1-9]\d{7,14}")


def normalize_e164(phone: str) -> str:
    """Return ``phone`` in E.164 form, allowing spaces, dots, dashes and brackets between
    digits; raise :class:`InvalidPhoneNumber` naming the bad value otherwise."""
    compact = re.sub(r"[\s().-]", "", phone)
    if not E164.fullmatch(compact):
        raise InvalidPhoneNumber(
            f"phone {phone!r} is not E.164: expected '+' then country code and number, "
            "8 to 15 digits in all, e.g. +14155550123"
        )
    return compact


def mask_phone(phone: str | None) -> str:
    """Show only the last two digits of a phone number (numbers never reach logs)."""
    if not phone:
        return ""
    return phone[:2] + "*" * max(len(phone) - 4, 0) + phone[-2:]


def add_user(
    session: Session,
    *,
    open_id: str,
    name: str | None = None,
    email: str | None = None,
    user_id: int | None = None,
) -> User:
    """Register a user (the app normally does this; vitals does it for demos, traces and
    tests). ``user_id`` pins the id, as a simulated trace's payloads name it."""
    user = User(id=user_id, openId=open_id, name=name, email=email, loginMethod="vitals")
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, user_id: int) -> User | None:
    """The user with this id, or None."""
    return session.get(User, user_id)


def list_users(session: Session) -> list[User]:
    """Every user, by id."""
    return list(session.scalars(select(User).order_by(User.id)))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def add_contact(
    session: Session,
    *,
    user_id: int,
    name: str,
    phone: str,
    relationship: str | None = None,
    is_primary: bool = False,
    time_zone: str | None = None,
) -> EmergencyContact:
    """Add an emergency contact; the phone is validated and stored in E.164 form."""
    get_user(session, user_id)
    contact = EmergencyContact(
        userId=user_id,
        name=name,
        phone=normalize_e164(phone),
        relationship=relationship,
        isPrimary=is_primary,
        createdAt=datetime.now(UTC),
    )
    session.add(contact)
    session.flush()
    if time_zone:
        _check_time_zone(time_zone)
        session.add(ContactSetting(contactId=contact.id, timeZone=time_zone))
        session.flush()
    return contact


def _check_time_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise StorageError(
            f"time zone {name!r} is not an IANA zone such as Europe/Paris"
        ) from error


def contacts_in_order(session: Session, user_id: int) -> list[EmergencyContact]:
    """The user's contacts in the order they are texted: primary first, then oldest first."""
    query = (
        select(EmergencyContact)
        .where(EmergencyContact.userId == user_id)
        .order_by(EmergencyContact.isPrimary.desc(), EmergencyContact.id)
    )
    return list(session.scalars(query))
