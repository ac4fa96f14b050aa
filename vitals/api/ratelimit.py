"""Failed authentications: limited per client address and per key prefix (429 with
``Retry-After``), and folded into few audit rows so that guessing cannot grow the table.

- **Per client**: after ``per_client`` failed authentications in ``window_s`` seconds
  (moving window), every request of that address that needs a key is answered 429 before
  the key is looked at. IPv6 clients are counted per /64 network (one host usually has
  the whole /64). Behind a reverse proxy the address is the one uvicorn takes from
  ``X-Forwarded-For`` of a trusted proxy.
- **Per key prefix**: after ``per_key`` failures naming the same ``vk_<prefix>_`` in the
  window, from any address, further *failures* for that prefix are 429 instead of 401;
  the right secret is still accepted, so someone who knows a prefix cannot lock its
  owner out.
- **Audit**: each refused authentication adds one to a row per (minute, client, key,
  outcome) (``accessAudit.hits``); at most ``rows_per_minute`` such rows are made in a
  minute, later ones are counted on one overflow row of that minute (client ``*``).

Counters live in the API process (``limits``' in-memory moving window): one ``vitals
api`` process is one limit; they restart empty with the process.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from storage.repositories.access import KEY_PATTERN

#: ``accessAudit.outcome`` of a request refused by a limit.
RATE_LIMITED = "rate_limited"
#: Longest client label stored (an IPv6 address in full is 39 characters).
MAX_CLIENT_CHARS = 45


def client_label(host: str | None) -> str:
    """The address a limit counts: an IPv4 address, an IPv6 /64 network, or the host
    string as given (test clients, unix sockets), at most 45 characters."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:MAX_CLIENT_CHARS]
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address) if address.version == 6 else str(address)


def key_prefix(presented: str | None) -> str | None:
    """The ``<prefix>`` of a well-formed ``vk_<prefix>_<secret>``, else None."""
    if presented is None:
        return None
    match = KEY_PATTERN.fullmatch(presented.strip())
    return match.group(1) if match else None


class FailedAuthLimiter:
    """The two moving-window limits on failed authentications."""

    def __init__(self, *, per_client: int, per_key: int, window_s: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_client = RateLimitItemPerSecond(per_client, window_s)
        self._per_key = RateLimitItemPerSecond(per_key, window_s)
        self.window_s = window_s

    def client_blocked_s(self, client: str) -> int:
        """Seconds until ``client`` may try again, 0 when it may now."""
        if self._limiter.test(self._per_client, "client", client):
            return 0
        return self._retry_after(self._per_client, "client", client)

    def failed(self, client: str, prefix: str | None) -> int:
        """Count one failure of ``client`` (and of ``prefix``); the seconds to wait when
        a limit is now exhausted, else 0."""
        waits = []
        if not self._limiter.hit(self._per_client, "client", client):
            waits.append(self._retry_after(self._per_client, "client", client))
        if prefix is not None and not self._limiter.hit(self._per_key, "key", prefix):
            waits.append(self._retry_after(self._per_key, "key", prefix))
        return max(waits, default=0)

    def _retry_after(self, item: RateLimitItemPerSecond, *identifiers: str) -> int:
        reset_at = self._limiter.get_window_stats(item, *identifiers).reset_time
        return min(self.window_s, max(1, math.ceil(reset_at - time.time())))


@dataclass
class AuditFolding:
    """Which aggregated audit row a refused authentication adds to (its
    ``accessAudit.aggregateKey``), with at most ``rows_per_minute`` rows a minute."""

    rows_per_minute: int
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _minute: str = ""
    _keys: set[str] = field(default_factory=set)

    def row_key(
        self, at: datetime, client: str, api_key_id: int | None, outcome: str
    ) -> tuple[str, str]:
        """(aggregate key, client label to store) of one refusal at ``at``."""
        minute = at.strftime("%Y%m%d%H%M")
        key = f"auth:{minute}:{client}:{api_key_id or '-'}:{outcome}"
        with self._lock:
            if minute != self._minute:
                self._minute, self._keys = minute, set()
            if key in self._keys or len(self._keys) < self.rows_per_minute:
                self._keys.add(key)
                return key, client
        return f"auth:{minute}:*:{outcome}", "*"
