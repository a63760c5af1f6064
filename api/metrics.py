"""GET /metrics: the API's Prometheus metrics, in Prometheus' text format.

Every HTTP request is counted by method, route template and status code, and
timed by method and route template. The route is the template the request
matched ("/api/tickets/{ticket_id}"), never the raw path, so the number of
series stays bounded however many tickets there are. The worker's metrics
(Temporal's and cxloop's domain metrics) are on its own endpoint
(observability.py).

The metrics live in a registry of the app's own, so that two apps in one
process (the tests) count apart. They are counted in this process's memory:
each API replica serves its own, and Prometheus adds them up.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"
# A request that no route served (a 404, or a body refused before routing) is
# counted under this route, whatever its path.
UNMATCHED_ROUTE = "unmatched"
# Any other method a client makes up is counted as "other": label values must
# not come from the caller unchecked.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# From a cached read (a few ms) to the Excel export of a large workspace (tens
# of seconds, see README "Performance").
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

router = APIRouter()


class HttpMetrics:
    """The API's metrics and the registry that serves them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # The process's CPU, memory and open files, and the Python version.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.requests = Counter(
            "cxloop_http_requests", "HTTP requests answered, by method, route template and status code",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "cxloop_http_request_duration_seconds",
            "Seconds from a request's arrival to the last byte of its answer, by method and route template",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in KNOWN_METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class RequestMetrics:
    """Pure ASGI middleware: times each HTTP request to the last byte of its
    answer (a streamed export counts its whole stream) and counts it with the
    status it was answered with."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # An exception that escapes the app is answered 500 by Starlette's
        # outermost error middleware, after this one.
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self.metrics.observe(scope["method"], route_template(scope), status, time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The path template of the route that served the request: the router
    leaves the route it chose in the scope. A request refused before routing
    (a Content-Length over the limit: 413) or that matched no route has none.

    The route's own path is the whole template because cxloop's routers carry
    their prefix themselves (`APIRouter(prefix=...)`); a prefix given to
    `include_router` would be missing here (and tests/test_access.py's walk of
    the routes would fail first)."""
    return getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE


@router.get(METRICS_PATH, include_in_schema=False)
def metrics(request: Request) -> Response:
    registry = request.app.state.http_metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def instrument(app: FastAPI) -> None:
    """Count and time every request to `app`, and serve the metrics on GET /metrics."""
    app.state.http_metrics = HttpMetrics()
    app.add_middleware(RequestMetrics, metrics=app.state.http_metrics)
    app.include_router(router)
