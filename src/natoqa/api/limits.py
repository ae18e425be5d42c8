"""Abuse limits: body size, API keys, per-client rate limit, concurrency cap, timeout.

One pure ASGI middleware (Starlette's ``BaseHTTPMiddleware`` would buffer SSE
streams). For every request it

1. refuses a body larger than ``NATOQA_MAX_BODY_BYTES`` (413
   ``request-too-large``), by its Content-Length or, for a chunked upload,
   as soon as it passes the limit: the body is read here and replayed to
   the app, within ``NATOQA_REQUEST_TIMEOUT`` on every route (503
   ``unavailable``), so a client that never sends what it announced cannot
   hold a connection;
2. on ``/api/*`` and ``/v1/*`` (not the health, metrics or widget routes):
   counts the request against the client's rate (429 ``rate-limited`` with
   ``Retry-After``; keys in ``NATOQA_TRUSTED_API_KEYS`` are exempt), checks
   the API key when keys are configured (401 ``unauthorized``), and takes one
   of ``NATOQA_MAX_CONCURRENT`` slots (429 with ``Retry-After: 1`` when all
   are taken);
3. there, gives the request ``NATOQA_REQUEST_TIMEOUT`` seconds until its
   response starts (503 ``unavailable`` after that); a started stream is not
   cut. A request that ran out of time is cancelled; work that cannot be
   cancelled (a worker thread computing an answer) keeps the request's slot
   until it ends, so the cap bounds the work really running.

A client is its API key when it sent a valid one, else its IP address (behind
a proxy, uvicorn's ``--forwarded-allow-ips``/``FORWARDED_ALLOW_IPS`` makes that
the original client's). Admin routes take the admin token instead of an API
key; their router checks it (``routers/admin.py``), whatever the API keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Iterable, Sequence

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from natoqa.api.problems import problem
from natoqa.config import Settings
from natoqa.service.metrics import REJECTED

log = logging.getLogger(__name__)

LIMITED_PREFIXES = ("/api/", "/v1/")
#: ``PUT`` here is a document upload, whose body may be as large as a PDF
UPLOAD_PREFIX = "/api/v1/admin/documents/"
ADMIN_PREFIX = "/api/v1/admin"


class _BodyTooLarge(Exception):
    pass


class LimitsMiddleware:
    """Enforces the abuse limits of :class:`~natoqa.config.Settings` (see module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.max_upload = settings.max_upload_bytes
        self.timeout = settings.request_timeout
        self.max_concurrent = settings.max_concurrent
        self.in_flight = 0
        self.trusted = [k.get_secret_value().encode() for k in settings.trusted_api_keys]
        self.keys = [k.get_secret_value().encode() for k in settings.api_keys] + self.trusted
        self.rates: list[RateLimitItem] = (
            parse_many(settings.rate_limit) if settings.rate_limit else []
        )
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self._declared_length(scope) > self._max_body(scope):
            await self._too_large(scope, receive, send)
            return
        if not path.startswith(LIMITED_PREFIXES):
            # health, metrics, widget: no key, rate or slot, so probes work under load;
            # but the body has its deadline like everywhere
            loop = asyncio.get_running_loop()
            body = await self._body_in_time(scope, receive, send, loop.time() + self.timeout)
            if body is not None:
                await self.app(scope, _replaying(body, receive), send)
            return

        key = self._api_key(scope)
        client = _client_id(scope, key)
        retry_after = None if key in self.trusted else self._rate_limited(client)
        if retry_after is not None:
            await self._refuse(scope, receive, send, "rate_limit", 429, "rate-limited",
                               f"rate limit exceeded; retry in {retry_after} s",
                               {"Retry-After": str(retry_after)})
            return
        if self.keys and not path.startswith(ADMIN_PREFIX) and key is None:
            await self._refuse(scope, receive, send, "unauthorized", 401, "unauthorized",
                               "an API key is required: send 'Authorization: Bearer <key>' "
                               "or 'X-API-Key: <key>'",
                               {"WWW-Authenticate": 'Bearer realm="natoqa"'})
            return
        if self.in_flight >= self.max_concurrent:
            await self._refuse(scope, receive, send, "concurrency", 429, "rate-limited",
                               f"the server is answering {self.max_concurrent} requests "
                               "already; retry in 1 s", {"Retry-After": "1"})
            return
        self.in_flight += 1
        try:
            await self._with_timeout(scope, receive, send)
        finally:
            self.in_flight -= 1

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0  # h11 rejects malformed lengths before we get here
        return 0

    def _max_body(self, scope: Scope) -> int:
        """A document upload may be a PDF (``NATOQA_MAX_UPLOAD_BYTES``); anything else is a
        question's size (``NATOQA_MAX_BODY_BYTES``)."""
        upload = scope["method"] == "PUT" and scope["path"].startswith(UPLOAD_PREFIX)
        return self.max_upload if upload else self.max_body

    async def _read_body(self, receive: Receive, limit: int) -> bytes:
        """The whole body; _BodyTooLarge as soon as it passes ``limit`` (chunked uploads)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # disconnected: the app will see an empty body and stop
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._refuse(scope, receive, send, "body_size", 413, "request-too-large",
                           f"the request body exceeds {self._max_body(scope)} bytes")

    def _api_key(self, scope: Scope) -> bytes | None:
        """The valid API key the request carries, else None."""
        return presented_key(scope.get("headers", ()), self.keys)

    def _rate_limited(self, client: str) -> int | None:
        """Count one request for ``client``; seconds to wait when over a limit, else None."""
        if not self.rates:
            return None
        over = [item for item in self.rates if not self.limiter.test(item, client)]
        if not over:
            for item in self.rates:
                self.limiter.hit(item, client)
            return None
        now = time.time()
        reset = max(self.limiter.get_window_stats(item, client).reset_time for item in over)
        return max(1, math.ceil(reset - now))

    async def _body_in_time(
        self, scope: Scope, receive: Receive, send: Send, deadline: float
    ) -> bytes | None:
        """The body, read by ``deadline`` (loop time); None when a refusal was sent instead."""
        try:
            async with asyncio.timeout_at(deadline):
                return await self._read_body(receive, self._max_body(scope))
        except _BodyTooLarge:
            await self._too_large(scope, receive, send)
        except TimeoutError:
            log.warning("request body not received within %.1f s", self.timeout)
            await self._timed_out(scope, receive, send)
        return None

    async def _with_timeout(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body and run the app, with a deadline until the response starts.

        The app runs in a task of its own, so that the 503 can go out at the
        deadline while the cancelled app still winds down: a worker thread
        cannot be stopped, and the caller keeps the slot until it has ended
        (``natoqa.api.asking.in_thread`` makes the app wait for it).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        body = await self._body_in_time(scope, receive, send, deadline)
        if body is None:
            return
        started = asyncio.Event()
        refused = False

        async def send_started(message: Message) -> None:
            if refused:
                return  # the client has its 503; what the cancelled app says goes nowhere
            if message["type"] == "http.response.start":
                started.set()
            await send(message)

        work = asyncio.ensure_future(self.app(scope, _replaying(body, receive), send_started))
        start = asyncio.ensure_future(started.wait())
        try:
            await asyncio.wait(
                (work, start), timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
        except asyncio.CancelledError:
            work.cancel()  # the server stops or the client left: so does the app
            raise
        finally:
            start.cancel()
        if not work.done() and not started.is_set():
            refused = True
            log.warning("request timed out after %.1f s", self.timeout)
            await self._timed_out(scope, receive, send)
            work.cancel()
            await asyncio.wait((work,))  # the slot is held until the work has stopped
            if not work.cancelled() and work.exception() is not None:
                log.error("request failed after its 503", exc_info=work.exception())
            return
        await work  # the response is under way (or done): no deadline

    async def _timed_out(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._refuse(scope, receive, send, "timeout", 503, "unavailable",
                           f"the request took longer than {self.timeout:g} s",
                           {"Retry-After": "1"})

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        reason: str,
        status: int,
        slug: str,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        REJECTED.labels(reason=reason).inc()
        response = problem(status, slug, detail, instance=scope["path"], headers=headers)
        await response(scope, receive, send)


def presented_key(headers: Iterable[tuple[bytes, bytes]], keys: Sequence[bytes]) -> bytes | None:
    """The one of ``keys`` the request's headers carry (``X-API-Key`` or a bearer token)."""
    if not keys:
        return None
    for name, value in headers:
        given: bytes | None = None
        if name == b"x-api-key":
            given = value.strip()
        elif name == b"authorization" and value[:7].lower() == b"bearer ":
            given = value[7:].strip()
        # compare with every key, in constant time: timing must not reveal a near miss
        if given and any(secrets.compare_digest(given, k) for k in keys):
            return given
    return None


def _client_id(scope: Scope, key: bytes | None) -> str:
    if key is not None:
        # a digest, not the key: identifiers live in the limiter's memory
        return "key:" + hashlib.sha256(key).hexdigest()[:16]
    client = scope.get("client")
    return "ip:" + (client[0] if client else "unknown")


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body read already, then the real channel."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # e.g. http.disconnect, which SSE streams wait for

    return replay
