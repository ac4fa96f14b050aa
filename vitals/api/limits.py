"""What a request may be: bounded bodies, a signature header before a webhook body is
read, keys kept out of URLs as logged, and the id and date ranges the database can hold.

The three classes are plain ASGI middleware (they see every request, before routing and
before uvicorn's access log line is written); the ``Annotated`` types are for route
parameters, so that an out-of-range value is a 422 naming the parameter instead of a
database error.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import unquote

from fastapi import HTTPException, Path
from pydantic import AfterValidator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Largest id of the app's ``INT`` key columns (``users.id``, ``healthAlerts.id``).
MAX_DB_ID = 2**31 - 1
#: Dates a query may name: the stored ``TIMESTAMP`` columns begin at 1970, and beyond
#: 2100 a range could only be a typo (or an attempt to overflow date arithmetic).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
#: Query parameters whose value is a credential whatever it looks like.
SECRET_PARAMS = frozenset(
    {"key", "api_key", "apikey", "api-key", "x-api-key", "token", "access_token", "auth"}
)
#: Anything shaped like one of our API keys (``vk_<12 hex>_<secret>``), anywhere in a URL.
KEY_LIKE = re.compile(r"vk_[0-9A-Fa-f]{12}_[A-Za-z0-9_-]+")
REDACTED = "redacted"


def _within_dates(moment: datetime) -> datetime:
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if not EARLIEST <= aware <= LATEST:
        raise ValueError(
            f"{moment.isoformat()} is outside {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC)"
        )
    return moment


#: A date of a query (``since``, ``until``): ISO 8601, between 1970 and 2100.
Moment = Annotated[datetime, AfterValidator(_within_dates)]
#: ``{user_id}`` of a path: a patient id the ``users`` table can hold.
UserIdPath = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="patient (users.id)")]
#: ``{alert_id}`` of a path.
AlertIdPath = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="healthAlerts.id")]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the cap. An ``HTTPException``
    so that FastAPI's body parsing passes it on as a 413 instead of a 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            413,
            detail=f"request body is larger than {max_bytes} bytes",
            headers={"Connection": "close"},
        )


async def refuse(send: Send, status: int, detail: str) -> None:
    """Answer with a JSON ``{"detail": ...}`` and close the connection (so a client still
    uploading stops instead of having its body read and thrown away)."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class BodyLimit:
    """Refuse a request body over ``max_bytes`` with 413: at once when its
    ``Content-Length`` says so, else as soon as the streamed bytes pass the cap. Nothing
    beyond the cap is ever held in memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = _header(scope, b"content-length")
        if announced and announced.strip().isdigit() and int(announced) > self.max_bytes:
            await refuse(send, 413, f"request body is larger than {self.max_bytes} bytes")
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as error:
            if started:
                raise
            await refuse(send, 413, str(error.detail))


class RequireHeader:
    """Refuse POSTs under ``prefix`` without ``header`` (403) before their body is read:
    a Twilio webhook without ``X-Twilio-Signature`` cannot be valid, whatever it holds."""

    def __init__(self, app: ASGIApp, prefix: str, header: str) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/") + "/"
        self.header = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith(self.prefix)
            and not _header(scope, self.header)
        ):
            await refuse(send, 403, f"missing {self.header.decode()} header")
            return
        await self.app(scope, receive, send)


def redact_query(query: str) -> str:
    """``query`` with the values of credential parameters and anything key-shaped
    replaced by ``redacted``; other parameters are kept byte for byte."""
    parts = []
    for part in query.split("&"):
        name, sep, _ = part.partition("=")
        secret = sep and unquote(name).strip().lower() in SECRET_PARAMS
        parts.append(f"{name}={REDACTED}" if secret else part)
    return KEY_LIKE.sub(REDACTED, "&".join(parts))


class RedactKeysInUrls:
    """Rewrite the request's URL in its ASGI scope so that an API key sent in the query
    string (``?key=vk_…``) or path never reaches a log or the access audit.

    It must be the outermost middleware: uvicorn writes its access log line from this same
    scope after the answer, and ``accessAudit.resource`` is built from it. Keys are read
    only from headers, so nothing the app uses is lost.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").decode("latin-1")
            redacted = redact_query(query) if query else query
            if redacted != query:
                scope["query_string"] = redacted.encode("latin-1")
            path = scope.get("path", "")
            if KEY_LIKE.search(path):
                scope["path"] = KEY_LIKE.sub(REDACTED, path)
                scope["raw_path"] = scope["path"].encode("utf-8")
        await self.app(scope, receive, send)
