"""A local HTTP server that speaks enough of Twilio's Messages API for tests.

It is a real server (``ThreadingHTTPServer`` on 127.0.0.1, an ephemeral port, in a
daemon thread), so the official ``twilio`` library talks to it over real sockets:

- ``POST /2010-04-01/Accounts/{sid}/Messages.json`` creates a message and answers 201
  with Twilio's JSON (a fresh ``SM…`` SID, status ``queued``), unless a scripted
  :class:`Reply` says otherwise (429, 500, 400 with code 21211 or 21610, a delay).
- ``GET /2010-04-01/Accounts/{sid}/Messages.json?To=…`` lists the created messages, newest
  first, in Twilio's page format (used to look up a send whose answer was lost).
- ``POST /2010-04-01/Accounts/{sid}/Calls.json`` places a call (needs ``From`` and
  ``Twiml`` or ``Url``): 201 with Twilio's call JSON (a fresh ``CA…`` SID, status
  ``queued``); the same scripted replies and rules apply. :attr:`FakeTwilio.calls` holds
  them, :meth:`FakeTwilio.calls_to` counts them.
- HTTP basic auth must carry the account SID and token, else 401 with code 20003.

Every request is recorded (:attr:`FakeTwilio.requests`); :meth:`FakeTwilio.sends_to`
counts the POSTs to one number, which is how tests prove "exactly one text".

Usage::

    with FakeTwilio() as fake:
        fake.enqueue(Reply(429), Reply(201))        # next two POSTs, in order
        fake.rule("+15005550001", Reply(400, code=21211))   # this number, always
        sender = TwilioSender(fake.account_sid, fake.auth_token,
                              from_number="+15005550006", api_base_url=fake.base_url)
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

ERROR_MESSAGES = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21205: "Url or Twiml parameter is required",
    20004: "Method not allowed",
    20500: "Internal Server Error",
}


@dataclass(frozen=True)
class Reply:
    """How the fake answers one POST: HTTP ``status`` (201 creates the message), Twilio
    error ``code``, and ``delay_s`` slept before answering (a created message is recorded
    *before* the delay, like a Twilio that accepted the text but answered late)."""

    status: int = 201
    code: int | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    form: dict[str, str]
    query: dict[str, str]
    authorized: bool
    at: float


@dataclass
class FakeTwilio:
    """The fake server; use as a context manager (starts and stops the thread)."""

    account_sid: str = "AC" + "f" * 32
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    requests: list[RecordedRequest] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    _script: deque[Reply] = field(default_factory=deque)
    _rules: dict[str, Reply] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- control -------------------------------------------------------------------
    def enqueue(self, *replies: Reply) -> None:
        """Answer the next POSTs with these replies, in order (then 201 again)."""
        with self._lock:
            self._script.extend(replies)

    def rule(self, to: str, reply: Reply) -> None:
        """Answer every POST to ``to`` with ``reply`` (takes precedence over the queue)."""
        with self._lock:
            self._rules[to] = reply

    def sends(self) -> list[RecordedRequest]:
        """Every POST to the Messages resource, in arrival order."""
        with self._lock:
            return [
                r for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")
            ]

    def call_requests(self) -> list[RecordedRequest]:
        """Every POST to the Calls resource, in arrival order."""
        with self._lock:
            return [
                r for r in self.requests if r.method == "POST" and r.path.endswith("/Calls.json")
            ]

    def calls_to(self, to: str) -> int:
        """How many POSTs asked to call ``to`` (whatever the answer was)."""
        return sum(1 for r in self.call_requests() if r.form.get("To") == to)

    def sends_to(self, to: str) -> int:
        """How many POSTs asked to text ``to`` (whatever the answer was)."""
        return sum(1 for r in self.sends() if r.form.get("To") == to)

    def created_to(self, to: str) -> int:
        """How many messages to ``to`` were actually created (answered or not)."""
        with self._lock:
            return sum(1 for m in self.messages if m["to"] == to)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started: use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- protocol ------------------------------------------------------------------
    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        decoded = base64.b64decode(header[6:]).decode()
        return decoded == f"{self.account_sid}:{self.auth_token}"

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        form = {k: v[-1] for k, v in parse_qs(raw).items()}
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        authorized = self._authorized(handler.headers.get("Authorization"))
        with self._lock:
            self.requests.append(
                RecordedRequest(method, parts.path, form, query, authorized, time.monotonic())
            )
        account = f"/2010-04-01/Accounts/{self.account_sid}"
        if parts.path not in (f"{account}/Messages.json", f"{account}/Calls.json"):
            self._error(handler, 404, 20404)
            return
        if not authorized:
            self._error(handler, 401, 20003)
            return
        if parts.path.endswith("/Calls.json"):
            self._call(handler, method, form)
            return
        if method == "GET":
            self._list(handler, query)
            return
        with self._lock:
            to = form.get("To", "")
            reply = self._rules.get(to) or (self._script.popleft() if self._script else Reply())
        if reply.status == 201:
            message = self._create(form)
            time.sleep(reply.delay_s)
            self._json(handler, 201, message)
            return
        time.sleep(reply.delay_s)
        default_code = {429: 20429, 500: 20500}.get(reply.status, 21211)
        self._error(handler, reply.status, reply.code or default_code)

    def _call(self, handler: BaseHTTPRequestHandler, method: str, form: dict[str, str]) -> None:
        if method != "POST":
            self._error(handler, 405, 20004)
            return
        if not form.get("From") or not (form.get("Twiml") or form.get("Url")):
            self._error(handler, 400, 21205)
            return
        with self._lock:
            to = form.get("To", "")
            reply = self._rules.get(to) or (self._script.popleft() if self._script else Reply())
        if reply.status != 201:
            time.sleep(reply.delay_s)
            default_code = {429: 20429, 500: 20500}.get(reply.status, 21211)
            self._error(handler, reply.status, reply.code or default_code)
            return
        now = format_datetime(datetime.now(UTC), usegmt=True)
        call = {
            "sid": "CA" + secrets.token_hex(16),
            "account_sid": self.account_sid,
            "to": to,
            "from": form.get("From"),
            "status": "queued",
            "direction": "outbound-api",
            "twiml": form.get("Twiml"),
            "status_callback": form.get("StatusCallback"),
            "date_created": now,
            "date_updated": now,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/x.json",
        }
        with self._lock:
            self.calls.append(call)
        time.sleep(reply.delay_s)
        self._json(handler, 201, call)

    def _create(self, form: dict[str, str]) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC), usegmt=True)
        message = {
            "sid": "SM" + secrets.token_hex(16),
            "account_sid": self.account_sid,
            "to": form.get("To"),
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body"),
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/x.json",
        }
        with self._lock:
            self.messages.append(message)
        return message

    def _list(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        with self._lock:
            found = [m for m in self.messages if "To" not in query or m["to"] == query["To"]]
        page = {
            "messages": list(reversed(found)),
            "end": max(len(found) - 1, 0),
            "first_page_uri": handler.path,
            "next_page_uri": None,
            "page": 0,
            "page_size": 50,
            "previous_page_uri": None,
            "start": 0,
            "uri": handler.path,
        }
        self._json(handler, 200, page)

    def _error(self, handler: BaseHTTPRequestHandler, status: int, code: int) -> None:
        body = {
            "code": code,
            "message": ERROR_MESSAGES.get(code, "error"),
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        self._json(handler, status, body)

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            return
