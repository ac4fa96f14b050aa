"""Twilio webhooks as a FastAPI router: inbound SMS (ACK by reply), status callbacks of
texts and calls, and the keypress of an alert call ("press 1 to acknowledge").

Every request must carry a valid ``X-Twilio-Signature``: an HMAC-SHA1 of the public URL
and the POST parameters keyed with the auth token, checked with the library's
``RequestValidator``. A forged or unsigned request gets 403 and changes nothing.
Mount it in the HTTP app::

    app.include_router(webhook_router(sessions, auth_token=token,
                                      public_base_url="https://vitals.example.org"))

and configure the Twilio number's "A message comes in" webhook as
``{public_base_url}/webhooks/twilio/sms`` (HTTP POST). The voice URLs
(``/webhooks/twilio/voice/status`` and ``/webhooks/twilio/voice/gather``) are passed
with each call; nothing to configure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from notifier.errors import NotifierConfigError
from notifier.inbound import handle_inbound_sms, handle_keypress, handle_status_callback
from notifier.policy import (
    INBOUND_PATH,
    STATUS_PATH,
    VOICE_GATHER_PATH,
    VOICE_STATUS_PATH,
    WEBHOOK_PREFIX,
)

SIGNATURE_HEADER = "X-Twilio-Signature"


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def webhook_router(
    sessions: sessionmaker[Session],
    *,
    auth_token: str,
    public_base_url: str,
    prefix: str = WEBHOOK_PREFIX,
    clock: Callable[[], datetime] = _wall_clock,
    wake: threading.Event | None = None,
) -> APIRouter:
    """Build the router (``POST {prefix}/sms``, ``{prefix}/status``,
    ``{prefix}/voice/status`` and ``{prefix}/voice/gather``).

    Parameters
    ----------
    sessions : sessionmaker[Session]
        Session factory of the vitals database.
    auth_token : str
        Twilio auth token: the signature key (never logged).
    public_base_url : str
        The URL Twilio calls, as configured in the Twilio console (scheme, host and any
        path prefix of a reverse proxy), e.g. ``https://vitals.example.org``.
    prefix : str
        Path of the router under the app.
    clock : Callable[[], datetime]
        Time of the acknowledgement and status events (aware UTC).
    wake : threading.Event | None
        Set after a change, so a live notifier texts the next contact at once after an
        undelivered message.
    """
    if not auth_token:
        raise NotifierConfigError("webhooks need the Twilio auth token to check signatures")
    if not public_base_url.startswith(("http://", "https://")):
        raise NotifierConfigError(
            f"public_base_url {public_base_url!r} must be an http(s) URL, as Twilio calls it"
        )
    validator = RequestValidator(auth_token)
    base = public_base_url.rstrip("/")
    router = APIRouter(prefix=prefix, tags=["twilio"])

    async def verified_params(request: Request) -> dict[str, str]:
        raw = (await request.body()).decode("utf-8", errors="replace")
        params = dict(parse_qsl(raw, keep_blank_values=True))
        url = base + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature or not validator.validate(url, params, signature):
            raise HTTPException(status_code=403, detail="invalid Twilio signature")
        return params

    @router.post(INBOUND_PATH)
    async def inbound_sms(request: Request) -> Response:
        params = await verified_params(request)
        outcome = await run_in_threadpool(
            handle_inbound_sms,
            sessions,
            params.get("From", ""),
            params.get("Body", ""),
            clock(),
            params.get("MessageSid", ""),
        )
        if outcome.acknowledged and wake is not None:
            wake.set()  # the "is responding" texts go out at once
        twiml = MessagingResponse()
        if outcome.reply:
            twiml.message(outcome.reply)
        return Response(content=str(twiml), media_type="application/xml")

    @router.post(VOICE_GATHER_PATH)
    async def voice_gather(request: Request) -> Response:
        params = await verified_params(request)
        spoken = await run_in_threadpool(
            handle_keypress, sessions, params.get("CallSid", ""), params.get("Digits", ""), clock()
        )
        if wake is not None:
            wake.set()
        twiml = VoiceResponse()
        twiml.say(spoken)
        return Response(content=str(twiml), media_type="application/xml")

    def status_route(path: str, name: str, sid_field: str, status_field: str) -> None:
        """Twilio's status callback of a message or a call: the same handling, the
        provider's own field names."""

        @router.post(path, name=name)
        async def status_callback(request: Request) -> Response:
            params = await verified_params(request)
            changed = await run_in_threadpool(
                handle_status_callback,
                sessions,
                params.get(sid_field, ""),
                params.get(status_field, ""),
                params.get("ErrorCode") or None,
                clock(),
            )
            if changed and wake is not None:
                wake.set()
            return Response(status_code=204)

    status_route(VOICE_STATUS_PATH, "voice_status", "CallSid", "CallStatus")
    status_route(STATUS_PATH, "status_callback", "MessageSid", "MessageStatus")

    return router
