"""Who hands a text to the phone network: Twilio, or an outbox file when no credentials
are set (demos, development)."""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO, runtime_checkable

import requests
from twilio.base import values
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from notifier.errors import NotifierConfigError, PermanentSendError, TransientSendError
from storage.private_files import open_private_append
from storage.repositories.people import mask_phone
from vocabulary import ProviderStatus

log = logging.getLogger(__name__)

TWILIO_API_ORIGIN = "https://api.twilio.com"
#: Seconds to wait for Twilio's answer. Twilio answers a Messages POST in well under a
#: second; 10 s bounds how long one slow call holds up the notifier loop.
DEFAULT_TIMEOUT_S = 10.0
#: How many of the account's newest messages a lookup of a lost send scans.
LOOKUP_LIMIT = 200


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the text: its id (Twilio ``SM…``) and first status."""

    sid: str
    status: str


class SmsSender(Protocol):
    """Hands one text to the network; raises TransientSendError or PermanentSendError."""

    def send(self, to: str, body: str, status_callback: str | None) -> SendResult: ...


@runtime_checkable
class VoiceCaller(Protocol):
    """A sender that can also place a voice call reading out ``twiml``."""

    def call(self, to: str, twiml: str, status_callback: str | None) -> SendResult: ...


def call_twiml(spoken: str, gather_url: str | None) -> str:
    """The TwiML of an alert call: read the alert inside a one-digit ``<Gather>`` that
    posts the keypress to ``gather_url`` ("press 1 to acknowledge"), say it twice, then
    hang up. Without a public URL, the alert is read out and nobody can press 1."""
    response = VoiceResponse()
    if gather_url:
        gather = Gather(num_digits=1, action=gather_url, method="POST", timeout=8)
        gather.say(spoken)
        gather.pause(length=1)
        gather.say(spoken)
        response.append(gather)
        response.say("No key was pressed. Goodbye.")
    else:
        response.say(spoken)
    return str(response)


@runtime_checkable
class SentMessageLookup(Protocol):
    """A sender that can tell whether a text was already created (after a lost answer)."""

    def find_sent(self, to: str, body: str) -> SendResult | None: ...


class _RebasedHttpClient:
    """Factory of a ``TwilioHttpClient`` whose requests go to ``origin`` instead of
    https://api.twilio.com (tests, a proxy). The twilio library accepts any http_client
    in ``Client(..., http_client=...)`` (twilio-python advanced-examples/custom-http-client)."""

    @staticmethod
    def build(origin: str | None, timeout_s: float, logger: logging.Logger) -> Any:
        class Rebased(TwilioHttpClient):  # type: ignore[misc]
            def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                if origin and url.startswith(TWILIO_API_ORIGIN):
                    url = origin.rstrip("/") + url[len(TWILIO_API_ORIGIN) :]
                return super().request(method, url, *args, **kwargs)

        return Rebased(timeout=timeout_s, logger=logger)


class TwilioSender:
    """Sends through the official ``twilio`` library (Messages API).

    Parameters
    ----------
    account_sid, auth_token : str
        Credentials; the token is never logged.
    from_number, messaging_service_sid : str | None
        Sender: an E.164 number or a Messaging Service SID (one is required).
    api_base_url : str | None
        Origin replacing https://api.twilio.com (a local fake in tests).
    timeout_s : float
        Connect and read timeout of each API call (seconds).
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not (from_number or messaging_service_sid):
            raise NotifierConfigError(
                "Twilio needs a sender: set twilio_from_number or twilio_messaging_service_sid"
            )
        self._from = from_number
        self._service = messaging_service_sid
        # the library logs request lines and headers at INFO (never the body); keep its
        # logger at WARNING so phone-bearing URLs of lookups stay out of the logs
        quiet = logging.getLogger("notifier.twilio_http")
        quiet.setLevel(logging.WARNING)
        http_client = _RebasedHttpClient.build(api_base_url, timeout_s, quiet)
        self._client = Client(account_sid, auth_token, http_client=http_client, environment={})

    def send(self, to: str, body: str, status_callback: str | None) -> SendResult:
        try:
            message = self._client.messages.create(
                to=to,
                body=body,
                from_=self._from or values.unset,
                messaging_service_sid=self._service or values.unset,
                status_callback=status_callback or values.unset,
            )
        except Exception as error:
            raise _classify(error, to) from None
        return SendResult(sid=str(message.sid), status=str(message.status or ProviderStatus.QUEUED))

    def call(self, to: str, twiml: str, status_callback: str | None) -> SendResult:
        """Place a voice call (Calls API) that plays ``twiml``; needs a from number (a
        Messaging Service cannot call). Status callbacks for every call event go to
        ``status_callback``."""
        if not self._from:
            raise PermanentSendError("voice calls need twilio_from_number (a caller id)")
        events = ["initiated", "ringing", "answered", "completed"]
        try:
            call = self._client.calls.create(
                to=to,
                from_=self._from,
                twiml=twiml,
                status_callback=status_callback or values.unset,
                status_callback_event=events if status_callback else values.unset,
                status_callback_method="POST" if status_callback else values.unset,
            )
        except Exception as error:
            raise _classify(error, to) from None
        return SendResult(sid=str(call.sid), status=str(call.status or ProviderStatus.QUEUED))

    def find_sent(self, to: str, body: str) -> SendResult | None:
        """The newest of the account's last messages that went to ``to`` with exactly
        ``body``, if any.

        Filters client-side on purpose: a ``DateSent`` filter would miss a message still
        queued (no date sent yet), and a ``To`` filter puts the phone number in a URL that
        HTTP debug logs print.
        """
        try:
            for message in self._client.messages.list(limit=LOOKUP_LIMIT):
                if message.to == to and message.body == body:
                    return SendResult(sid=str(message.sid), status=str(message.status))
        except Exception as error:
            raise _classify(error, to) from None
        return None


def _classify(error: Exception, to: str) -> TransientSendError | PermanentSendError:
    """Map a twilio/requests exception to transient (retry) or permanent (give up)."""
    masked = mask_phone(to)
    if isinstance(error, TwilioRestException):
        status, code = int(error.status), error.code
        what = f"Twilio answered {status} (code {code}) for {masked}"
        if status == 429 or status >= 500:
            return TransientSendError(what, status=status, code=code)
        return PermanentSendError(what, status=status, code=code)
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return TransientSendError(f"cannot reach Twilio for {masked}: connect timeout")
    if isinstance(error, requests.exceptions.ConnectionError):
        # refused before sending, or reset after: the text may exist, look before resending
        return TransientSendError(
            f"connection to Twilio failed for {masked}: {type(error).__name__}", maybe_sent=True
        )
    if isinstance(error, requests.exceptions.Timeout):
        return TransientSendError(
            f"Twilio did not answer in time for {masked} (it may have sent the text)",
            maybe_sent=True,
        )
    return TransientSendError(f"sending to {masked} failed: {type(error).__name__}")


class OutboxSender:
    """No credentials: append each text as a JSON line to ``path`` and print a line with
    the masked number to ``console`` (the demo shows the texts without a phone)."""

    def __init__(self, path: Path, console: TextIO | None = None) -> None:
        self.path = Path(path)
        self._console = console

    def send(self, to: str, body: str, status_callback: str | None) -> SendResult:
        sid = _outbox_sid("OB", to, body)
        record = {
            "sid": sid,
            "to": to,
            "body": body,
            "status": "sent",
            "statusCallback": status_callback,
            "createdAt": datetime.now(UTC).isoformat(),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open_private_append(self.path) as outbox:  # phone numbers: owner only
                outbox.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as error:
            raise TransientSendError(f"cannot write outbox {self.path}: {error}") from error
        if self._console is not None:
            print(f"[SMS to {mask_phone(to)}] {body}", file=self._console, flush=True)
        return SendResult(sid=sid, status=ProviderStatus.SENT)

    def call(self, to: str, twiml: str, status_callback: str | None) -> SendResult:
        """Write the call (its TwiML) as an outbox line; the console shows what it says."""
        sid = _outbox_sid("OC", to, twiml)
        record = {
            "sid": sid,
            "to": to,
            "call": True,
            "twiml": twiml,
            "status": "queued",
            "statusCallback": status_callback,
            "createdAt": datetime.now(UTC).isoformat(),
        }
        self._append(record)
        if self._console is not None:
            said = re.search(r"<Say>(.*?)</Say>", twiml)
            spoken = html.unescape(said.group(1)) if said else twiml
            print(f"[CALL to {mask_phone(to)}] says: {spoken}", file=self._console, flush=True)
        return SendResult(sid=sid, status=ProviderStatus.QUEUED)

    def _append(self, record: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as outbox:
                outbox.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as error:
            raise TransientSendError(f"cannot write outbox {self.path}: {error}") from error

    def find_sent(self, to: str, body: str) -> SendResult | None:
        """The last outbox line to ``to`` with exactly ``body``, if any."""
        if not self.path.exists():
            return None
        found: SendResult | None = None
        with self.path.open(encoding="utf-8") as outbox:
            for line in outbox:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a crash
                if record.get("to") == to and record.get("body") == body:
                    found = SendResult(sid=str(record["sid"]), status=str(record["status"]))
        return found


def _outbox_sid(prefix: str, to: str, content: str) -> str:
    """A SID derived from the message (the same text to the same number, the same SID):
    replaying a trace twice writes byte-identical ``alertEvents``."""
    return prefix + hashlib.sha256(f"{to}\n{content}".encode()).hexdigest()[:32]
