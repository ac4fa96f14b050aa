"""Request counters of the API process, exposed in the Prometheus text format by
``prometheus_client`` (as the pipeline's own, :mod:`ingest.metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Summary, generate_latest


class Metrics:
    """Counters of the API process: requests by route and status, time spent answering by
    route, refused authentications. One registry per application, so tests can run
    several side by side."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._requests = Counter(
            "vitals_api_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self._duration = Summary(
            "vitals_api_request_duration_seconds",
            "Time spent answering, by route.",
            ["route"],
            registry=r,
        )
        self._auth_failures = Counter(
            "vitals_api_auth_failures", "Requests refused for a missing or bad key.", registry=r
        )
        self._rate_limited = Counter(
            "vitals_api_rate_limited",
            "Requests refused (429) after too many failed authentications.",
            registry=r,
        )

    def observe(self, method: str, route: str, status: int, duration_s: float) -> None:
        self._requests.labels(method, route, str(status)).inc()
        self._duration.labels(route).observe(duration_s)

    def auth_failed(self) -> None:
        self._auth_failures.inc()

    def rate_limited(self) -> None:
        self._rate_limited.inc()

    def render(self) -> str:
        """The counters as Prometheus text (exposition format 0.0.4)."""
        return generate_latest(self.registry).decode()
