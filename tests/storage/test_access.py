from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import NotFound
from storage.models import ApiKey
from storage.repositories.access import (
    AccessError,
    InvalidApiKey,
    InvalidRole,
    authenticate,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from storage.repositories.people import add_user

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def test_key_is_shown_once_and_stored_hashed(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user = add_user(session, open_id="oauth-a").id
        issued = create_api_key(session, role="clinician", name="Dr A", at=T0, patient_ids=[user])
    prefix, secret = issued.key.split("_")[1], issued.key.split("_", 2)[2]
    assert len(secret) == 43  # 32 random bytes, URL-safe base64
    with sessions() as session:
        row = session.scalars(select(ApiKey)).one()
        principal = authenticate(session, issued.key)
    assert row.keyPrefix == prefix and secret not in row.keyHash
    assert row.keyHash.startswith("sha256$") and len(row.keyHash) == 7 + 64
    assert principal.role == "clinician" and principal.patient_ids == frozenset({user})
    assert principal.actor == f"apikey:{issued.id}:Dr A"
    assert principal.can_see(user) and not principal.can_see(user + 1)


def test_bad_keys_are_refused_with_a_reason(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        issued = create_api_key(session, role="admin", name="root", at=T0)
    wrong_secret = issued.key[:-1] + ("A" if issued.key[-1] != "A" else "B")
    unknown = "vk_ffffffffffff_" + issued.key.split("_", 2)[2]
    with sessions() as session:
        for key, reason in (
            ("", "malformed"),
            ("Bearer nonsense", "malformed"),
            (wrong_secret, "wrong"),
            (unknown, "unknown"),
        ):
            with pytest.raises(InvalidApiKey, match=reason):
                authenticate(session, key)
        assert authenticate(session, issued.key).is_admin
    with sessions.begin() as session:
        assert revoke_api_key(session, issued.id, T0 + timedelta(hours=1))
        assert not revoke_api_key(session, issued.id, T0 + timedelta(hours=2))
    with sessions() as session:
        with pytest.raises(InvalidApiKey, match="revoked") as caught:
            authenticate(session, issued.key)
        assert caught.value.api_key_id == issued.id
        listed = list_api_keys(session)
    assert listed[0].revoked_at == T0 + timedelta(hours=1)


def test_invalid_creations(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        with pytest.raises(InvalidRole, match="nurse"):
            create_api_key(session, role="nurse", name="x", at=T0)
        with pytest.raises(AccessError, match="admin"):
            create_api_key(session, role="admin", name="x", at=T0, patient_ids=[1])
        with pytest.raises(NotFound, match="424242"):
            create_api_key(session, role="clinician", name="x", at=T0, patient_ids=[424242])
        with pytest.raises(NotFound):
            revoke_api_key(session, 999, T0)
