"""``/v1/alerts``: list (keyset pages), CSV export, one alert, acknowledge."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse

from storage.errors import NotFound
from storage.repositories.access import INVALID, NOT_FOUND, OK, Principal
from storage.repositories.alerts import acknowledge_alert
from storage.repositories.console import notes_of
from storage.repositories.history import (
    MAX_PAGE_SIZE,
    AlertFilter,
    InvalidCursor,
    alert_detail,
    alert_owner,
    iter_alerts,
    list_alerts,
)
from vitals.api.alerts_csv import CSV_HEADER, csv_row
from vitals.api.auth import Auditor, CurrentPrincipal, sessions_of
from vitals.api.etag import conditional_json
from vitals.api.limits import MAX_DB_ID, AlertIdPath, Moment
from vitals.api.schemas import Ack, Alert, AlertDetailBody, AlertList
from vocabulary import AlertKind, Severity

#: Longest time range a list or export may ask for.
MAX_RANGE = timedelta(days=366)
#: Most rows one CSV export returns.
MAX_CSV_ROWS = 100_000

router = APIRouter(prefix="/v1", tags=["alerts"])

UserQuery = Annotated[
    int | None, Query(ge=1, le=MAX_DB_ID, description="only this patient's alerts")
]
TypeQuery = Annotated[
    list[AlertKind], Query(alias="type", description="alertType or 'sos'; repeat for several")
]
SeverityQuery = Annotated[list[Severity], Query(description="repeat for several")]
AckQuery = Annotated[bool | None, Query(description="true/false; omit for both")]
SinceQuery = Annotated[
    Moment | None, Query(description="createdAt >= since (ISO 8601; no zone = UTC)")
]
UntilQuery = Annotated[Moment | None, Query(description="createdAt < until (ISO 8601)")]
StateQuery = Annotated[
    Literal["active", "cleared"] | None,
    Query(description="active: the condition is ongoing; cleared: it is over; omit for both"),
]


def as_utc(moment: datetime | None) -> datetime | None:
    """An aware UTC datetime; a naive one is taken to be UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def range_problem(since: datetime | None, until: datetime | None) -> str | None:
    """Why [since, until) is not an allowed range, or None."""
    if since is not None and until is not None:
        if since >= until:
            return f"since {since.isoformat()} must be before until {until.isoformat()}"
        if until - since > MAX_RANGE:
            return f"range {until - since} is longer than {MAX_RANGE.days} days"
    return None


def _filter(
    auditor: Auditor,
    principal: Principal,
    *,
    user: int | None,
    types: list[AlertKind],
    severity: list[Severity],
    acknowledged: bool | None,
    since: datetime | None,
    until: datetime | None,
    state: str | None = None,
) -> AlertFilter:
    """The filter of a list request, refusing (audited) what the key may not ask."""
    since, until = as_utc(since), as_utc(until)
    problem = range_problem(since, until)
    if problem:
        raise auditor.refuse(status.HTTP_422_UNPROCESSABLE_CONTENT, problem, INVALID, user)
    if user is not None:
        auditor.require_patient(user)
    return AlertFilter(
        visible_user_ids=None if principal.is_admin else principal.patient_ids,
        user_id=user,
        kinds=tuple(types),
        severities=tuple(severity),
        acknowledged=acknowledged,
        since=since,
        until=until,
        cleared=None if state is None else state == "cleared",
    )


@router.get("/alerts", response_model=AlertList, summary="List alerts, newest first")
def get_alerts(
    request: Request,
    principal: CurrentPrincipal,
    *,
    user: UserQuery = None,
    types: TypeQuery = [],  # noqa: B006 (FastAPI copies defaults)
    severity: SeverityQuery = [],  # noqa: B006
    acknowledged: AckQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    state: StateQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")] = 50,
    cursor: Annotated[str | None, Query(max_length=64, description="from nextCursor")] = None,
) -> AlertList:
    """Alerts of the key's patients (all patients for an admin) matching every filter,
    newest first by (createdAt, id). Page with ``nextCursor``: a page never repeats or
    skips an alert when newer alerts are inserted meanwhile. Sends an ``ETag``; a poll
    with ``If-None-Match`` answers 304 when the page did not change."""
    auditor = Auditor(request, principal, "list_alerts")
    flt = _filter(
        auditor,
        principal,
        user=user,
        types=types,
        severity=severity,
        acknowledged=acknowledged,
        since=since,
        until=until,
        state=state,
    )
    with sessions_of(request).begin() as session:
        try:
            page = list_alerts(session, flt, limit=limit, cursor=cursor)
        except InvalidCursor as error:
            raise auditor.refuse(
                status.HTTP_422_UNPROCESSABLE_CONTENT, str(error), INVALID, user
            ) from None
        auditor.record(session, OK, user)
    body = AlertList(items=[Alert.of(row) for row in page.items], nextCursor=page.next_cursor)
    return conditional_json(request, body)  # type: ignore[return-value]


@router.get(
    "/alerts.csv",
    summary="Export a filtered alert list as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_alerts_csv(
    request: Request,
    principal: CurrentPrincipal,
    *,
    user: UserQuery = None,
    types: TypeQuery = [],  # noqa: B006
    severity: SeverityQuery = [],  # noqa: B006
    acknowledged: AckQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    state: StateQuery = None,
) -> StreamingResponse:
    """The same filters as ``GET /v1/alerts``, every match newest first (at most
    100 000 rows), as UTF-8 CSV with a header row."""
    auditor = Auditor(request, principal, "export_alerts")
    flt = _filter(
        auditor,
        principal,
        user=user,
        types=types,
        severity=severity,
        acknowledged=acknowledged,
        since=since,
        until=until,
        state=state,
    )
    sessions = sessions_of(request)
    with sessions.begin() as session:
        auditor.record(session, OK, user)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        with sessions() as session:
            for row in iter_alerts(session, flt, max_rows=MAX_CSV_ROWS):
                writer.writerow(csv_row(row))
                if buffer.tell() > 64_000:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="alerts.csv"'},
    )


@router.get("/alerts/{alert_id}", response_model=AlertDetailBody, summary="One alert")
def get_alert(
    request: Request, principal: CurrentPrincipal, alert_id: AlertIdPath
) -> AlertDetailBody:
    """The alert with its lifecycle events (oldest first, every kind the pipeline
    records), SMS deliveries (phone numbers masked), comments and resolution note."""
    auditor = Auditor(request, principal, "read_alert")
    sessions = sessions_of(request)
    owner = _owner_or_404(auditor, alert_id)
    auditor.require_patient(owner)
    with sessions.begin() as session:
        detail = alert_detail(session, alert_id)
        notes = notes_of(session, alert_id)
        auditor.record(session, OK, owner)
    return AlertDetailBody.of_detail(detail, notes)


@router.post("/alerts/{alert_id}/ack", response_model=Ack, summary="Acknowledge an alert")
def post_ack(request: Request, principal: CurrentPrincipal, alert_id: AlertIdPath) -> Ack:
    """Mark the alert acknowledged (stops escalation); the lifecycle event names the key
    as ``apikey:<id>:<name>``. Acknowledging twice is not an error (``changed`` false)."""
    auditor = Auditor(request, principal, "ack_alert")
    owner = _owner_or_404(auditor, alert_id)
    auditor.require_patient(owner)
    with sessions_of(request).begin() as session:
        changed = acknowledge_alert(session, alert_id, principal.actor, datetime.now(UTC))
        auditor.record(session, OK, owner)
    return Ack(id=alert_id, acknowledged=True, changed=changed, actor=principal.actor)


def _owner_or_404(auditor: Auditor, alert_id: int) -> int:
    with auditor.sessions() as session:
        try:
            return alert_owner(session, alert_id)
        except NotFound as error:
            raise auditor.refuse(status.HTTP_404_NOT_FOUND, str(error), NOT_FOUND) from None
