"""HEAD wherever GET works (RFC 9110 9.3.2), for every route at once.

FastAPI routes answer only the methods they list, so ``HEAD /healthz`` got
405. This middleware answers a HEAD request as the GET it stands for, with
the same status and headers (Content-Length included) and no body. Routes
that list HEAD themselves (the widget's files) are left alone.
"""

from __future__ import annotations

from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from natoqa.api.observability import match_route


class HeadMiddleware:
    """Runs a HEAD request as GET where only GET is routed, and drops the body."""

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or self._routes_head(scope):
            await self.app(scope, receive, send)
            return

        async def send_head(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send_head)
        finally:
            if "route" in as_get:  # for the metrics' route label (natoqa.api.observability)
                scope["route"] = as_get["route"]

    def _routes_head(self, scope: Scope) -> bool:
        """Whether a route answers HEAD itself."""
        return match_route(self.router.routes, scope) is not None
