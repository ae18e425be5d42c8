"""Request ids: ``X-Request-ID`` on every response, and in every log record.

The id is taken from the request's ``X-Request-ID`` when it is a sane token
(1-128 characters of letters, digits and ``._:-``), else generated (32 hex
digits). It lives in a context variable for the duration of the request, so
log records made anywhere while handling it carry it as ``record.request_id``
(``"-"`` outside requests): :func:`install_log_record_factory` adds the
attribute to every record, whatever handler or formatter prints it.

A pure ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, which
buffers and breaks streamed (SSE) responses.
"""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from natoqa.logs import bind_request_id, current_request_id, install_log_record_factory

__all__ = [
    "REQUEST_ID_HEADER",
    "RequestIdMiddleware",
    "current_request_id",
    "install_log_record_factory",
    "new_request_id",
    "valid_request_id",
]

REQUEST_ID_HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")

def valid_request_id(value: str | None) -> str | None:
    """``value`` if it may be used as a request id, else None."""
    if value and _VALID.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Assigns each HTTP request an id, exposes it to logs and returns it as a header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                given = valid_request_id(value.decode("latin-1").strip())
                break
        request_id = given or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = bind_request_id(request_id)
        await self.app(scope, receive, send_with_id)
        # Reset only on success: when the app raised, Starlette's outermost error
        # handler still has to log the failure and answer, and should see the id.
        # (Each request runs in its own task, so the value cannot leak to another.)
        token.var.reset(token)
