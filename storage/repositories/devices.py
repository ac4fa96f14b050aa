"""Devices and their credentials.

A device's MQTT user name is its device id; its secret is a random 256-bit token shown
once. Only a hash is stored, in Mosquitto's own ``$7$`` format (PBKDF2-HMAC-SHA512, the
format ``mosquitto_passwd`` writes), so the broker's password file is generated straight
from the table and the pipeline can verify the same hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import NotFound, StorageError
from storage.models import Device
from storage.repositories.people import get_user

DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
#: Where a device may be worn (the fall detector uses it; see ``detectors.falls.is_fall``).
PLACEMENTS = ("wrist", "waist", "chest", "pocket")
#: The token is 256 random bits, so the hash need not be slow to resist guessing;
#: 1000 rounds (mosquitto_passwd's default is 101) keep broker CONNECTs cheap.
PBKDF2_ROUNDS = 1000
SALT_BYTES = 12


def hash_secret(secret: str, *, rounds: int = PBKDF2_ROUNDS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, rounds)
    return f"$7${rounds}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        _, kind, rounds, salt_b64, digest_b64 = stored.split("$")
        if kind != "7":
            return False
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    candidate = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, int(rounds))
    return hmac.compare_digest(candidate, digest)


@dataclass(frozen=True)
class NewDevice:
    device_id: str
    user_id: int
    secret: str  # shown once, never stored


#: The broker user name of the pipeline by default (``VITALS_MQTT_USERNAME``): a device of
#: that name would log in with the pipeline's read-all ACL and lock the pipeline out.
PIPELINE_USER = "vitals-ingest"


def add_device(
    session: Session,
    *,
    user_id: int,
    device_id: str,
    label: str | None = None,
    reserved: Iterable[str] = (PIPELINE_USER,),
    placement: str | None = None,
) -> NewDevice:
    """Register a device for a user and return its one-time secret. A device id is also
    its broker user name, so the ``reserved`` broker users (the pipeline's) are refused."""
    if not DEVICE_ID.fullmatch(device_id):
        raise StorageError(
            f"device id {device_id!r} must be 1-64 characters of letters, digits, . _ : -"
        )
    if device_id in set(reserved) | {PIPELINE_USER}:
        raise StorageError(
            f"device id {device_id!r} is reserved: it is the pipeline's broker user name"
        )
    if placement is not None and placement not in PLACEMENTS:
        raise StorageError(
            f"placement {placement!r} of device {device_id!r} is not one of {PLACEMENTS}"
        )
    get_user(session, user_id)
    if session.get(Device, device_id) is not None:
        raise StorageError(f"device {device_id!r} is already registered")
    secret = secrets.token_urlsafe(32)
    session.add(
        Device(
            deviceId=device_id,
            userId=user_id,
            label=label,
            placement=placement,
            enabled=True,
            credentialHash=hash_secret(secret),
            createdAt=datetime.now(UTC),
        )
    )
    session.flush()
    return NewDevice(device_id, user_id, secret)


def set_enabled(session: Session, device_id: str, enabled: bool) -> None:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id!r} does not exist")
    device.enabled = enabled


def enabled_devices(session: Session) -> list[Device]:
    """Every enabled device, by device id (the broker's accounts)."""
    return list(
        session.scalars(select(Device).where(Device.enabled.is_(True)).order_by(Device.deviceId))
    )


def all_devices(session: Session) -> list[Device]:
    """Every device, by user then device id."""
    return list(session.scalars(select(Device).order_by(Device.userId, Device.deviceId)))


def device_ids_of(session: Session, user_id: int) -> set[str]:
    """The ids of the user's devices."""
    return set(session.scalars(select(Device.deviceId).where(Device.userId == user_id)))
