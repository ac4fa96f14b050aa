"""``/healthz`` (liveness and database reachability) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from vitals.api.auth import CurrentPrincipal, metrics_of, sessions_of
from vitals.api.schemas import Health, Me

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(request: Request) -> JSONResponse:
    """200 when the database answers ``SELECT 1``, 503 otherwise. No key needed."""
    try:
        with sessions_of(request)() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        body = Health(status="unavailable", database=type(error).__name__)
        return JSONResponse(body.model_dump(), status_code=503)
    return JSONResponse(Health(status="ok", database="ok").model_dump())


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Request counters and latencies in the Prometheus text format. No key needed (no
    patient data; restrict it at the proxy if the counts are sensitive)."""
    return PlainTextResponse(
        metrics_of(request).render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


@router.get("/v1/me", response_model=Me, tags=["access"])
def me(principal: CurrentPrincipal) -> Me:
    """The calling key: id, name, role and assigned patients (no patient data)."""
    return Me(
        id=principal.api_key_id,
        name=principal.name,
        role=principal.role,
        patientIds=sorted(principal.patient_ids),
    )
