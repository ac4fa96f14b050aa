"""``/v1/users/{id}/readings``: a patient's healthReadings series for charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from storage.repositories.access import INVALID, NOT_FOUND, OK
from storage.repositories.history import readings_series, user_exists
from vitals.api.auth import Auditor, CurrentPrincipal, sessions_of
from vitals.api.limits import Moment, UserIdPath
from vitals.api.routes_alerts import as_utc, range_problem
from vitals.api.schemas import Readings

#: Default chart range when ``since`` is not given.
DEFAULT_RANGE = timedelta(hours=24)
#: Most points a chart may ask for.
MAX_POINTS = 2000

router = APIRouter(prefix="/v1", tags=["readings"])


@router.get("/users/{user_id}/readings", response_model=Readings, summary="Readings series")
def get_readings(
    request: Request,
    principal: CurrentPrincipal,
    user_id: UserIdPath,
    *,
    since: Annotated[
        Moment | None, Query(description="start (ISO 8601; default until - 24 h)")
    ] = None,
    until: Annotated[Moment | None, Query(description="end, exclusive (default now)")] = None,
    max_points: Annotated[
        int, Query(alias="maxPoints", ge=2, le=MAX_POINTS, description="downsample above this")
    ] = 500,
) -> Readings:
    """Heart rate (bpm), HRV (RMSSD, ms) and stress (1-10) of the patient in
    [since, until), at most 366 days. Above ``maxPoints`` readings the series is the mean
    of equal time buckets (``bucketSeconds``)."""
    auditor = Auditor(request, principal, "read_readings")
    auditor.require_patient(user_id)
    end = as_utc(until) or datetime.now(UTC)
    start = as_utc(since) or end - DEFAULT_RANGE
    problem = range_problem(start, end)
    if problem:
        raise auditor.refuse(status.HTTP_422_UNPROCESSABLE_CONTENT, problem, INVALID, user_id)
    with sessions_of(request).begin() as session:
        if not user_exists(session, user_id):
            raise auditor.refuse(
                status.HTTP_404_NOT_FOUND, f"user {user_id} does not exist", NOT_FOUND, user_id
            )
        series = readings_series(session, user_id, start, end, max_points=max_points)
        auditor.record(session, OK, user_id)
    return Readings.of(user_id, start, end, series)
