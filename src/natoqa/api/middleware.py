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

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")

_request_id: ContextVar[str | None] = ContextVar("natoqa_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled, None outside a request."""
    return _request_id.get()


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

        token = _request_id.set(request_id)
        await self.app(scope, receive, send_with_id)
        # Reset only on success: when the app raised, Starlette's outermost error
        # handler still has to log the failure and answer, and should see the id.
        # (Each request runs in its own task, so the value cannot leak to another.)
        _request_id.reset(token)


_factory_installed = False


def install_log_record_factory() -> None:
    """Give every log record a ``request_id`` attribute (idempotent).

    A record factory rather than a filter: filters attach to one logger or
    handler, while this reaches uvicorn's and every library's records too, so
    a JSON formatter or ``%(request_id)s`` in a format string always finds it.
    """
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class RequestIdFilter(logging.Filter):
    """For logging configs that prefer a filter: sets ``record.request_id`` if missing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return True
