"""Request counters in the Prometheus text exposition format (version 0.0.4), without a
client library: a lock-protected dict is all a single-process API needs."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Metrics:
    """Counters of the API process: requests by route and status, latency sums, and
    refused authentications."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _requests: defaultdict[tuple[str, str, int], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    _seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    _counts: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    _auth_failures: int = 0
    _rate_limited: int = 0

    def observe(self, method: str, route: str, status: int, duration_s: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
            self._seconds[route] += duration_s
            self._counts[route] += 1

    def auth_failed(self) -> None:
        with self._lock:
            self._auth_failures += 1

    def rate_limited(self) -> None:
        with self._lock:
            self._rate_limited += 1

    def render(self) -> str:
        """The counters as Prometheus text."""
        with self._lock:
            lines = [
                "# HELP vitals_api_requests_total HTTP requests by method, route and status.",
                "# TYPE vitals_api_requests_total counter",
            ]
            for (method, route, status), count in sorted(self._requests.items()):
                labels = f'method="{method}",route="{_escape(route)}",status="{status}"'
                lines.append(f"vitals_api_requests_total{{{labels}}} {count}")
            lines += [
                "# HELP vitals_api_request_duration_seconds Time spent answering, by route.",
                "# TYPE vitals_api_request_duration_seconds summary",
            ]
            for route in sorted(self._counts):
                label = f'route="{_escape(route)}"'
                lines.append(
                    f"vitals_api_request_duration_seconds_sum{{{label}}} {self._seconds[route]:.6f}"
                )
                lines.append(
                    f"vitals_api_request_duration_seconds_count{{{label}}} {self._counts[route]}"
                )
            lines += [
                "# HELP vitals_api_auth_failures_total Requests refused for a missing or bad key.",
                "# TYPE vitals_api_auth_failures_total counter",
                f"vitals_api_auth_failures_total {self._auth_failures}",
                "# HELP vitals_api_rate_limited_total Requests refused (429) after too many "
                "failed authentications.",
                "# TYPE vitals_api_rate_limited_total counter",
                f"vitals_api_rate_limited_total {self._rate_limited}",
            ]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
