"""Who is calling (API key → :class:`Principal`) and the access audit of every answer.

A key is sent as ``Authorization: Bearer vk_…`` or ``X-API-Key: vk_…``. A request without
a usable key is answered 401 and audited as ``unauthenticated``; a request for a patient
outside the key's role or assignment is answered 403 and audited as ``denied``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session, sessionmaker

from storage.repositories.access import (
    DENIED,
    UNAUTHENTICATED,
    InvalidApiKey,
    Principal,
    authenticate,
    record_access,
)
from vitals.api.metrics import Metrics

API_KEY_HEADER = "X-API-Key"


def sessions_of(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def metrics_of(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def presented_key(request: Request) -> str | None:
    """The key of the request, from ``Authorization: Bearer`` or ``X-API-Key``."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.headers.get(API_KEY_HEADER)
    return key.strip() if key else None


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller's principal, or 401 (audited)."""
    sessions = sessions_of(request)
    key = presented_key(request)
    try:
        if key is None:
            raise InvalidApiKey("no API key: send 'Authorization: Bearer <key>'")
        with sessions() as session:
            return authenticate(session, key)
    except InvalidApiKey as error:
        metrics_of(request).auth_failed()
        with sessions.begin() as session:
            record_access(
                session,
                api_key_id=error.api_key_id,
                action="authenticate",
                resource=_resource(request),
                user_id=None,
                outcome=UNAUTHENTICATED,
                at=datetime.now(UTC),
            )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=error.reason,
            headers={"WWW-Authenticate": "Bearer"},
        ) from None


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _resource(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


class Auditor:
    """Writes the audit row of one request: with the answer's transaction when it
    succeeds, in a transaction of its own when the request is refused."""

    def __init__(self, request: Request, principal: Principal, action: str) -> None:
        self.sessions = sessions_of(request)
        self.principal = principal
        self.action = action
        self.resource = _resource(request)

    def record(self, session: Session, outcome: str, user_id: int | None = None) -> None:
        record_access(
            session,
            api_key_id=self.principal.api_key_id,
            action=self.action,
            resource=self.resource,
            user_id=user_id,
            outcome=outcome,
            at=datetime.now(UTC),
        )

    def refuse(
        self, status_code: int, detail: str, outcome: str = DENIED, user_id: int | None = None
    ) -> HTTPException:
        """Commit a refusal row and return the HTTP error to raise."""
        with self.sessions.begin() as session:
            self.record(session, outcome, user_id)
        return HTTPException(status_code, detail=detail)

    def require_patient(self, user_id: int) -> None:
        """403 (audited) unless the key may see the patient ``user_id``."""
        if not self.principal.can_see(user_id):
            raise self.refuse(
                status.HTTP_403_FORBIDDEN,
                f"key {self.principal.api_key_id} ({self.principal.role}) "
                f"is not assigned patient {user_id}",
                user_id=user_id,
            )
