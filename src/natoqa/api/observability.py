"""Request metrics and the access log, for every HTTP request.

A pure ASGI middleware (streams pass through unbuffered) placed outside the
limits, so refused requests are counted and logged too. Metrics are labelled
by route *template* (``/api/v1/documents/{doc_id}``), never by raw path, so a
scanner cannot blow up the number of series; unknown paths are ``unmatched``.
The access log is one record per request (JSON fields via ``extra``); it
replaces uvicorn's, which knows neither the route, the duration nor the id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from natoqa.service.metrics import HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS

access_log = logging.getLogger("natoqa.access")

#: routes probed every few seconds: logged at debug level so they do not drown the log
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class ObservabilityMiddleware:
    """Times, counts and logs each HTTP request."""

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app dies before answering
        sent_bytes = 0

        async def send_observed(message: Message) -> None:
            nonlocal status, sent_bytes
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                sent_bytes += len(message.get("body", b""))
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            HTTP_IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            route = self._route(scope)
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(route=route, method=method, status=str(status)).inc()
            HTTP_LATENCY.labels(route=route, method=method).observe(elapsed)
            client = scope.get("client")
            access_log.log(
                logging.DEBUG if route in QUIET_ROUTES and status < 400 else logging.INFO,
                "%s %s %d %.1f ms", method, scope.get("path", ""), status, elapsed * 1000,
                extra={
                    "method": method,
                    "path": scope.get("path", ""),
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "bytes": sent_bytes,
                    "client": client[0] if client else None,
                },
            )

    def _route(self, scope: Scope) -> str:
        """The matched route's template; matched again here when the app never routed it."""
        route: BaseRoute | None = scope.get("route") or match_route(self.router.routes, scope)
        path = getattr(route, "path", None) if route is not None else None
        return path if isinstance(path, str) and path else "unmatched"


def match_route(routes: Sequence[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The route that would answer ``scope`` (a refused request was never routed).

    FastAPI >= 0.16x wraps included routers; their routes are reached through
    ``original_router`` (without it, such requests are labelled ``unmatched``).
    """
    for candidate in routes:
        inner = getattr(candidate, "original_router", None)
        if inner is not None:
            found = match_route(inner.routes, scope)
            if found is not None:
                return found
        elif candidate.matches(scope)[0] == Match.FULL:
            return candidate
    return None
