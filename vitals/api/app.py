"""The FastAPI application: routes, error bodies, metrics, the web page, the webhooks,
and the limits every request passes (body size, keys out of URLs, no-store)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from notifier.policy import WEBHOOK_PREFIX
from vitals import __version__
from vitals.api import routes_alerts, routes_console, routes_ops, routes_readings
from vitals.api.auth import audit_unrecorded
from vitals.api.docs import DOCS_PATH, mount_docs
from vitals.api.limits import BodyLimit, RedactKeysInUrls, RequireHeader
from vitals.api.metrics import Metrics
from vitals.api.ratelimit import AuditFolding, FailedAuthLimiter
from vitals.api.webhooks import SIGNATURE_HEADER, webhook_router
from vitals.settings import Settings

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
#: The page loads only its own script and style: no inline code, no third parties.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def create_app(settings: Settings, sessions: sessionmaker[Session]) -> FastAPI:
    """The clinician API and page over the database of ``sessions``.

    ``settings`` is passed on to the SMS webhooks (public URL, Twilio token).
    """
    app = FastAPI(
        title="vitals clinician API",
        version=__version__,
        description=(
            "Alert history, readings and acknowledgement for clinicians. Authenticate with "
            "an API key from `vitals keys create`, sent as `Authorization: Bearer <key>` "
            "(or `X-API-Key`; never in the URL). A clinician key sees only its assigned "
            "patients; an admin key sees all. Every request for patient data is audited."
        ),
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.sessions = sessions
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.auth_limiter = FailedAuthLimiter(
        per_client=settings.api_auth_failures_per_client,
        per_key=settings.api_auth_failures_per_key,
        window_s=settings.api_auth_failure_window_seconds,
    )
    app.state.audit_folding = AuditFolding(settings.api_audit_failure_rows_per_minute)
    app.include_router(routes_console.router)  # before /alerts/{id}: POST /alerts/ack
    app.include_router(routes_alerts.router)
    app.include_router(routes_readings.router)
    app.include_router(routes_ops.router)
    if settings.api_docs:
        mount_docs(app)
    # middleware added first runs innermost: URLs are redacted before anything sees them,
    # then requests are counted, then bodies are bounded
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    mount_sms_webhooks(app, settings, sessions)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.middleware("http")(_observe)
    app.add_middleware(RedactKeysInUrls)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    return app


def mount_sms_webhooks(app: FastAPI, settings: Settings, sessions: sessionmaker[Session]) -> None:
    """Serve the Twilio webhooks of the notifier (inbound ACK replies, delivery status)
    when a Twilio auth token and the public URL are configured; without them a webhook
    could not check Twilio's signature, so none is served."""
    token = settings.twilio_auth_token
    if token is None or not token.get_secret_value() or not settings.public_base_url:
        return
    # an unsigned request cannot be valid: refuse it before its body is read
    app.add_middleware(RequireHeader, prefix=WEBHOOK_PREFIX, header=SIGNATURE_HEADER)
    app.include_router(
        webhook_router(
            sessions,
            auth_token=token.get_secret_value(),
            public_base_url=settings.public_base_url,
        )
    )


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 with one readable sentence per problem, plus FastAPI's structured list."""
    problems = []
    for item in error.errors():
        where = " ".join(str(part) for part in item.get("loc", ()))
        value = item.get("input")
        shown = f" (got {value!r})" if value is not None and not isinstance(value, dict) else ""
        problems.append(f"{where}: {item.get('msg', 'invalid')}{shown}")
    return JSONResponse(
        status_code=422,
        content={"detail": "; ".join(problems), "errors": jsonable_encoder(error.errors())},
    )


async def _observe(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Count the request under its route template; audit what no route audited; set the
    security headers: the page's policy, and ``no-store`` on everything but the page and
    its static files (answers carry patient data, errors name patients)."""
    started = time.perf_counter()
    try:
        response = await call_next(request)
    except Exception:
        await _audit_unrecorded(request, 500)
        raise
    await _audit_unrecorded(request, response.status_code)
    route = request.scope.get("route")
    template = getattr(route, "path", None) or (
        "/static" if request.url.path.startswith("/static/") else "unmatched"
    )
    metrics: Metrics = request.app.state.metrics
    metrics.observe(request.method, template, response.status_code, time.perf_counter() - started)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if template in ("/", "/static"):
        response.headers["Content-Security-Policy"] = PAGE_POLICY
        response.headers["Referrer-Policy"] = "no-referrer"
    else:
        response.headers["Cache-Control"] = "no-store"
    if template == DOCS_PATH:
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def _audit_unrecorded(request: Request, status_code: int) -> None:
    if getattr(request.state, "principal", None) is None:
        return  # no key was checked: nothing of a patient was asked for by anyone known
    try:
        await run_in_threadpool(audit_unrecorded, request, status_code)
    except SQLAlchemyError as error:  # the answer stands; the failure is visible
        log.error("access audit of %s %s failed: %s", request.method, request.url.path, error)
