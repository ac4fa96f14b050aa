"""API keys of clinicians and admins, their patient assignments, and the access audit.

A key is ``vk_<prefix>_<secret>``: ``prefix`` is 12 random hex characters stored in clear
(unique, it finds the row), ``secret`` is 32 random bytes (256 bits) in URL-safe base64,
shown once and stored only as ``sha256$<hex digest>``.

A plain SHA-256 is the right hash here, not bcrypt/scrypt/Argon2: slow password hashes
exist to make guessing *low-entropy* human passwords expensive, while a 256-bit random
secret cannot be guessed at any speed (NIST SP 800-63B §5.1.1.2 requires a memorized-secret
KDF only for user-chosen secrets; RFC 6750 bearer tokens likewise rely on entropy). A fast
hash keeps verification at microseconds per request, and the digests are compared with
:func:`hmac.compare_digest` so the comparison time does not reveal how many bytes matched.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.errors import NotFound, StorageError
from storage.models import AccessAudit, ApiKey, ApiKeyPatient, User

ROLES = ("clinician", "admin")
KEY_PATTERN = re.compile(r"vk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
HASH_SCHEME = "sha256$"

#: Outcomes written to ``accessAudit.outcome``.
OK = "ok"
DENIED = "denied"
NOT_FOUND = "not_found"
UNAUTHENTICATED = "unauthenticated"
INVALID = "invalid"


class AccessError(StorageError):
    """Root of the errors of this module."""


class InvalidRole(AccessError, ValueError):
    """A role other than clinician or admin."""


class InvalidApiKey(AccessError):
    """A presented key is malformed, unknown, wrong or revoked.

    ``api_key_id`` is the id of the row the prefix named (for the audit), if any.
    """

    def __init__(self, reason: str, api_key_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.api_key_id = api_key_id


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key with its role and, for a clinician, its patients."""

    api_key_id: int
    role: str
    name: str
    patient_ids: frozenset[int]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        """How this key is named in ``alertEvents.actor`` (at most 100 characters)."""
        return f"apikey:{self.api_key_id}:{self.name}"[:100]

    def can_see(self, user_id: int) -> bool:
        """True when this key may read or act on the patient ``user_id``."""
        return self.is_admin or user_id in self.patient_ids


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: ``key`` is the only time the secret exists in clear."""

    id: int
    key: str
    prefix: str
    role: str
    name: str


@dataclass(frozen=True)
class KeyInfo:
    id: int
    prefix: str
    role: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    patient_ids: tuple[int, ...]


def hash_secret(secret: str) -> str:
    """The stored form of a key's secret: ``sha256$`` and the hex digest."""
    return HASH_SCHEME + hashlib.sha256(secret.encode("ascii")).hexdigest()


def create_api_key(
    session: Session,
    *,
    role: str,
    name: str,
    at: datetime,
    patient_ids: Iterable[int] = (),
) -> IssuedKey:
    """Create a key; return it with its secret (never stored, never shown again).

    Raises :class:`InvalidRole` for a role other than clinician/admin, :class:`AccessError`
    for patients given to an admin key (an admin sees everyone), and :class:`NotFound` for a
    patient id that is not a user.
    """
    if role not in ROLES:
        raise InvalidRole(f"role {role!r} is not one of {', '.join(ROLES)}")
    patients = sorted(set(patient_ids))
    if role == "admin" and patients:
        raise AccessError(f"an admin key sees every patient; drop --patients {patients}")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(keyPrefix=prefix, keyHash=hash_secret(secret), role=role, name=name, createdAt=at)
    session.add(row)
    session.flush()
    assign_patients(session, row.id, patients)
    return IssuedKey(id=row.id, key=f"vk_{prefix}_{secret}", prefix=prefix, role=role, name=name)


def assign_patients(session: Session, api_key_id: int, user_ids: Iterable[int]) -> None:
    """Let the key see these users (idempotent); unknown users raise :class:`NotFound`."""
    wanted = set(user_ids)
    if not wanted:
        return
    known = set(session.scalars(select(User.id).where(User.id.in_(wanted))))
    missing = sorted(wanted - known)
    if missing:
        raise NotFound(f"patient(s) {missing} are not users")
    have = set(
        session.scalars(select(ApiKeyPatient.userId).where(ApiKeyPatient.apiKeyId == api_key_id))
    )
    for user_id in sorted(wanted - have):
        session.add(ApiKeyPatient(apiKeyId=api_key_id, userId=user_id))
    session.flush()


def authenticate(session: Session, presented: str) -> Principal:
    """The principal of a presented key; :class:`InvalidApiKey` when it is malformed,
    unknown, does not match, or is revoked."""
    match = KEY_PATTERN.fullmatch(presented.strip())
    if match is None:
        raise InvalidApiKey("malformed API key")
    prefix, secret = match.groups()
    row = session.scalars(select(ApiKey).where(ApiKey.keyPrefix == prefix)).one_or_none()
    if row is None:
        # Hash anyway so an unknown prefix costs the same time as a wrong secret.
        hmac.compare_digest(hash_secret(secret), HASH_SCHEME + "0" * 64)
        raise InvalidApiKey("unknown API key")
    if not hmac.compare_digest(hash_secret(secret), row.keyHash):
        raise InvalidApiKey("wrong API key secret", row.id)
    if row.revokedAt is not None:
        raise InvalidApiKey("revoked API key", row.id)
    patients = frozenset(
        session.scalars(select(ApiKeyPatient.userId).where(ApiKeyPatient.apiKeyId == row.id))
    )
    return Principal(api_key_id=row.id, role=row.role, name=row.name or "", patient_ids=patients)


def revoke_api_key(session: Session, api_key_id: int, at: datetime) -> bool:
    """Revoke the key from ``at`` on; False when it already was revoked."""
    row = session.get(ApiKey, api_key_id)
    if row is None:
        raise NotFound(f"API key {api_key_id} does not exist")
    if row.revokedAt is not None:
        return False
    row.revokedAt = at
    return True


def list_api_keys(session: Session) -> list[KeyInfo]:
    """Every key (revoked ones too), oldest first, with its patients; never a secret."""
    patients: dict[int, list[int]] = {}
    for key_id, user_id in session.execute(
        select(ApiKeyPatient.apiKeyId, ApiKeyPatient.userId).order_by(ApiKeyPatient.userId)
    ):
        patients.setdefault(key_id, []).append(user_id)
    return [
        KeyInfo(
            id=row.id,
            prefix=row.keyPrefix,
            role=row.role,
            name=row.name or "",
            created_at=row.createdAt,
            revoked_at=row.revokedAt,
            patient_ids=tuple(patients.get(row.id, ())),
        )
        for row in session.scalars(select(ApiKey).order_by(ApiKey.id))
    ]


def record_access(
    session: Session,
    *,
    api_key_id: int | None,
    action: str,
    resource: str,
    user_id: int | None,
    outcome: str,
    at: datetime,
    client_ip: str | None = None,
) -> None:
    """Write one ``accessAudit`` row: who (key, client address), what (action, resource,
    patient), when, and how it ended (ok, denied, not_found, invalid, unauthenticated)."""
    session.add(
        AccessAudit(
            apiKeyId=api_key_id,
            action=action[:32],
            resource=resource[:255],
            userId=user_id,
            outcome=outcome[:16],
            createdAt=at,
            clientIp=None if client_ip is None else client_ip[:45],
            hits=1,
        )
    )


def count_access(
    session: Session,
    *,
    aggregate_key: str,
    api_key_id: int | None,
    action: str,
    resource: str,
    outcome: str,
    at: datetime,
    client_ip: str | None,
) -> None:
    """Add one to the folded ``accessAudit`` row ``aggregate_key`` (``hits``), creating it
    with the first request's key, resource and time when it does not exist yet. One atomic
    upsert on MySQL/MariaDB and SQLite, so concurrent requests never make two rows."""
    values = {
        "aggregateKey": aggregate_key[:96],
        "apiKeyId": api_key_id,
        "action": action[:32],
        "resource": resource[:255],
        "userId": None,
        "outcome": outcome[:16],
        "createdAt": at,
        "clientIp": None if client_ip is None else client_ip[:45],
        "hits": 1,
    }
    one_more = {"hits": AccessAudit.__table__.c.hits + 1}
    dialect = session.get_bind().dialect.name
    if dialect in ("mysql", "mariadb"):
        session.execute(mysql_insert(AccessAudit).values(values).on_duplicate_key_update(one_more))
        return
    if dialect == "sqlite":
        session.execute(
            sqlite_insert(AccessAudit)
            .values(values)
            .on_conflict_do_update(index_elements=["aggregateKey"], set_=one_more)
        )
        return
    row = session.scalars(
        select(AccessAudit).where(AccessAudit.aggregateKey == values["aggregateKey"])
    ).one_or_none()
    if row is None:
        session.add(AccessAudit(**values))
    else:
        row.hits += 1
