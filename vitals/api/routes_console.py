"""The clinician console's endpoints: the patient overview, comments and resolution notes
on alerts, and bulk acknowledgement. Role-checked and audited like the alert endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from storage.repositories.access import INVALID, NOT_FOUND, OK
from storage.repositories.alerts import acknowledge_alert
from storage.repositories.console import (
    InvalidNote,
    add_comment,
    alert_owners,
    patient_overview,
    resolve_alert,
)
from vitals.api.auth import Auditor, CurrentPrincipal, sessions_of
from vitals.api.etag import conditional_json
from vitals.api.routes_alerts import _owner_or_404
from vitals.api.schemas_console import (
    BulkAck,
    BulkAckResult,
    NoteBody,
    NoteText,
    PatientList,
    PatientSummary,
    Resolution,
)
from vitals.settings import Settings

#: Most patients one overview lists.
MAX_PATIENTS = 500

router = APIRouter(prefix="/v1", tags=["console"])


@router.get("/patients", response_model=PatientList, summary="Patient overview")
def get_patients(
    request: Request,
    principal: CurrentPrincipal,
    *,
    q: Annotated[str, Query(max_length=100, description="part of the name")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_PATIENTS)] = 200,
) -> PatientList:
    """The key's patients (all for an admin), most urgent first: worst severity of their
    open (active, unacknowledged) alerts, then how many, then those not transmitting (no
    device message for ``VITALS_NOT_TRANSMITTING_SECONDS``), then name. Each with the
    latest reading (``arrhythmia`` null = unreadable or no reading). Sends an ``ETag``;
    ``If-None-Match`` with it answers 304 when nothing changed."""
    auditor = Auditor(request, principal, "list_patients")
    settings: Settings = request.app.state.settings
    silence = timedelta(seconds=settings.not_transmitting_seconds)
    now = datetime.now(UTC)
    with sessions_of(request).begin() as session:
        rows = patient_overview(
            session,
            visible_user_ids=None if principal.is_admin else principal.patient_ids,
            now=now,
            silence=silence,
            search=q,
            limit=limit,
        )
        auditor.record(session, OK)
    body = PatientList(
        items=[PatientSummary.of(row) for row in rows],
        notTransmittingAfterSeconds=settings.not_transmitting_seconds,
    )
    return conditional_json(request, body)  # type: ignore[return-value]


@router.post(
    "/alerts/{alert_id}/comments",
    response_model=NoteBody,
    status_code=status.HTTP_201_CREATED,
    summary="Comment on an alert",
)
def post_comment(
    request: Request, principal: CurrentPrincipal, alert_id: int, text: NoteText
) -> NoteBody:
    """Append a comment (1-2000 characters) by the calling key; shown in the alert's
    detail and its lifecycle (``commented``)."""
    auditor = Auditor(request, principal, "comment_alert")
    owner = _owner_or_404(auditor, alert_id)
    auditor.require_patient(owner)
    with sessions_of(request).begin() as session:
        note = add_comment(session, alert_id, principal.actor, text.text, datetime.now(UTC))
        auditor.record(session, OK, owner)
    return NoteBody.of(note)


@router.post("/alerts/{alert_id}/resolve", response_model=Resolution, summary="Resolve")
def post_resolve(
    request: Request, principal: CurrentPrincipal, alert_id: int, text: NoteText
) -> Resolution:
    """Close the alert with a note: acknowledged (escalation stops), cleared if still
    active, the note kept as its resolution. Resolving again keeps the first note and
    answers ``changed: false``."""
    auditor = Auditor(request, principal, "resolve_alert")
    owner = _owner_or_404(auditor, alert_id)
    auditor.require_patient(owner)
    with sessions_of(request).begin() as session:
        try:
            note, changed = resolve_alert(
                session, alert_id, principal.actor, text.text, datetime.now(UTC)
            )
        except InvalidNote as error:
            raise auditor.refuse(
                status.HTTP_422_UNPROCESSABLE_CONTENT, str(error), INVALID, owner
            ) from None
        auditor.record(session, OK, owner)
    return Resolution(id=alert_id, changed=changed, note=NoteBody.of(note))


@router.post("/alerts/ack", response_model=BulkAckResult, summary="Acknowledge several")
def post_bulk_ack(request: Request, principal: CurrentPrincipal, body: BulkAck) -> BulkAckResult:
    """Acknowledge every listed alert (1-200 ids) in one transaction, or none: an unknown
    id is 404 and an alert of a patient the key may not see is 403 for the whole request."""
    auditor = Auditor(request, principal, "bulk_ack")
    ids = sorted(set(body.ids))
    with auditor.sessions() as session:
        owners = alert_owners(session, ids)
    missing = [alert_id for alert_id in ids if alert_id not in owners]
    if missing:
        raise auditor.refuse(
            status.HTTP_404_NOT_FOUND,
            f"alert(s) {', '.join(map(str, missing))} do not exist",
            NOT_FOUND,
        )
    for owner in sorted(set(owners.values())):
        auditor.require_patient(owner)
    now = datetime.now(UTC)
    changed = []
    with sessions_of(request).begin() as session:
        for alert_id in ids:
            if acknowledge_alert(session, alert_id, principal.actor, now):
                changed.append(alert_id)
        for owner in sorted(set(owners.values())):
            auditor.record(session, OK, owner)
    return BulkAckResult(ids=ids, changed=changed, actor=principal.actor)
