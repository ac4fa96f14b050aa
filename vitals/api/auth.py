"""Who is calling (API key → :class:`Principal`) and the access audit of every answer.

A key is sent as ``Authorization: Bearer vk_…`` or ``X-API-Key: vk_…`` (never in the URL).
A request without a usable key is answered 401 and a client or key prefix with too many
failed authentications 429 (``vitals.api.ratelimit``); both are counted on folded
``accessAudit`` rows. A request for a patient outside the key's role or assignment is
answered 403 and audited as ``denied``. Whatever else refuses an authenticated request
under ``/v1`` (a parameter out of range, a body too large, an error) is audited by
:func:`audit_unrecorded`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session, sessionmaker

from storage.repositories.access import (
    DENIED,
    INVALID,
    NOT_FOUND,
    OK,
    UNAUTHENTICATED,
    InvalidApiKey,
    Principal,
    authenticate,
    count_access,
    record_access,
)
from vitals.api.limits import MAX_DB_ID, SECRET_PARAMS
from vitals.api.metrics import Metrics
from vitals.api.ratelimit import (
    RATE_LIMITED,
    AuditFolding,
    FailedAuthLimiter,
    client_label,
    key_prefix,
)

API_KEY_HEADER = "X-API-Key"
#: ``accessAudit.action`` of a route, for refusals written before the route ran; a route
#: not listed is named after its function.
ACTIONS = {
    "/v1/alerts": "list_alerts",
    "/v1/alerts.csv": "export_alerts",
    "/v1/alerts/{alert_id}": "read_alert",
    "/v1/alerts/{alert_id}/ack": "ack_alert",
    "/v1/alerts/{alert_id}/comments": "comment_alert",
    "/v1/alerts/{alert_id}/resolve": "resolve_alert",
    "/v1/alerts/ack": "bulk_ack",
    "/v1/patients": "list_patients",
    "/v1/users/{user_id}/readings": "read_readings",
}
#: ``accessAudit.outcome`` by HTTP status, for those refusals.
OUTCOMES = {
    401: UNAUTHENTICATED,
    403: DENIED,
    404: NOT_FOUND,
    413: "too_large",
    422: INVALID,
    429: RATE_LIMITED,
}


def sessions_of(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def metrics_of(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def client_of(request: Request) -> str:
    """The caller's address as limits and the audit count it (see ``client_label``)."""
    return client_label(request.client.host if request.client else None)


def presented_key(request: Request) -> str | None:
    """The key of the request, from ``Authorization: Bearer`` or ``X-API-Key``."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.headers.get(API_KEY_HEADER)
    return key.strip() if key else None


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller's principal; 401, or 429 past a limit (counted on
    a folded audit row either way)."""
    limiter: FailedAuthLimiter = request.app.state.auth_limiter
    client = client_of(request)
    blocked_s = limiter.client_blocked_s(client)
    if blocked_s:
        metrics_of(request).rate_limited()
        _count_refusal(request, client, None, RATE_LIMITED)
        raise _too_many(f"too many failed authentications from {client}", blocked_s)
    key = presented_key(request)
    try:
        if key is None:
            in_url = any(name.lower() in SECRET_PARAMS for name in request.query_params)
            raise InvalidApiKey(
                ("API keys are not accepted in the URL; " if in_url else "no API key: ")
                + "send 'Authorization: Bearer <key>'"
            )
        with sessions_of(request)() as session:
            principal = authenticate(session, key)
    except InvalidApiKey as error:
        metrics_of(request).auth_failed()
        wait_s = limiter.failed(client, key_prefix(key))
        _count_refusal(
            request, client, error.api_key_id, RATE_LIMITED if wait_s else UNAUTHENTICATED
        )
        if wait_s:
            metrics_of(request).rate_limited()
            raise _too_many(f"{error.reason}; too many failed authentications", wait_s) from None
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=error.reason,
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _too_many(reason: str, retry_after_s: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"{reason}: retry in {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s), "WWW-Authenticate": "Bearer"},
    )


def _count_refusal(request: Request, client: str, api_key_id: int | None, outcome: str) -> None:
    """Add the refused authentication to its folded audit row."""
    folding: AuditFolding = request.app.state.audit_folding
    at = datetime.now(UTC)
    aggregate_key, shown_client = folding.row_key(at, client, api_key_id, outcome)
    with sessions_of(request).begin() as session:
        count_access(
            session,
            aggregate_key=aggregate_key,
            api_key_id=api_key_id if shown_client != "*" else None,
            action="authenticate",
            resource=_resource(request),
            outcome=outcome,
            at=at,
            client_ip=shown_client,
        )
    request.state.audited = True


def _resource(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def audit_unrecorded(request: Request, status_code: int) -> None:
    """Write the audit row of an authenticated request under ``/v1`` that ended without
    one (refused before its route ran: a 422 of a parameter), or that failed (5xx)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or not request.url.path.startswith("/v1/"):
        return
    if getattr(request.state, "audited", False) and status_code < 500:
        return  # a failure after the route's row was written is still recorded
    route = request.scope.get("route")
    action = ACTIONS.get(getattr(route, "path", ""), getattr(route, "name", "request"))
    if status_code < 400:
        outcome = OK
    else:
        outcome = OUTCOMES.get(status_code, "error" if status_code >= 500 else INVALID)
    raw_user = str(request.path_params.get("user_id", ""))
    user_id = int(raw_user) if raw_user.isdigit() and 1 <= int(raw_user) <= MAX_DB_ID else None
    with sessions_of(request).begin() as session:
        record_access(
            session,
            api_key_id=principal.api_key_id,
            action=action,
            resource=_resource(request),
            user_id=user_id,
            outcome=outcome,
            at=datetime.now(UTC),
            client_ip=client_of(request),
        )
    request.state.audited = True


class Auditor:
    """Writes the audit row of one request: with the answer's transaction when it
    succeeds, in a transaction of its own when the request is refused."""

    def __init__(self, request: Request, principal: Principal, action: str) -> None:
        self.request = request
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
            client_ip=client_of(self.request),
        )
        self.request.state.audited = True

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
