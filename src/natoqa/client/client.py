"""Python clients for a running natoqa server, over httpx.

::

    from natoqa import Client
    from natoqa.client.client import DeltaEvent

    with Client("http://127.0.0.1:8000") as client:
        answer = client.ask("Wie hoch sollen die Verteidigungsausgaben sein?")
        print(answer.answer, [c.title for c in answer.citations])
        reply = client.chat([
            ("user", "Was beschloss der Gipfel in Washington zur Ukraine?"),
            ("assistant", answer.answer),
            ("user", "Und wo soll das neue Hauptquartier sein?"),
        ])
        for event in client.ask_stream("Was ist das New Force Model?"):
            if isinstance(event, DeltaEvent):
                print(event.text, end="", flush=True)

Results are the API's own pydantic models (``AnswerPublic``, ``CitationsEvent``,
``DeltaEvent``, ``DoneEvent`` …). Errors are exceptions from :mod:`natoqa.errors`:

* :class:`~natoqa.errors.ConnectError` — the server cannot be reached or timed out;
* :class:`~natoqa.errors.APIError` — the server answered with a problem (``.status``,
  ``.problem`` with its stable ``type``, ``.headers``), also when it arrives mid-stream;
* :class:`~natoqa.errors.ClientError` — the server's reply is not what the API promises.

Every call only reads, so a refusal that says "later" (429 ``rate-limited``, 503
``unavailable`` or ``index-unavailable``) is retried, up to ``max_retries`` times
(default 4): after the ``Retry-After`` the server sent, else after 0.5, 1, 2, 4 s
(with jitter). A server asking for more than a minute is not waited for: the
APIError is raised at once, with ``Retry-After`` in ``.headers``. A stream is
retried only when it is refused before its first event.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from httpx_sse import ServerSentEvent as RawEvent
from httpx_sse import SSEError, aconnect_sse, connect_sse
from pydantic import BaseModel, ValidationError

from natoqa.api.schemas import (
    AnswerPublic,
    ChatMessage,
    CitationsEvent,
    DeltaEvent,
    DocumentListPublic,
    DoneEvent,
    PassageContextPublic,
    StreamEvent,
)
from natoqa.api.schemas_admin import (
    BuildListPublic,
    BuildPublic,
    DocumentChangePublic,
    DocumentListAdminPublic,
    DocumentStatusPublic,
)
from natoqa.client.documents import BUILDS, DOCUMENTS, auth, document_path, upload_request
from natoqa.errors import APIError, ClientError, ConnectError

__all__ = [
    "DEFAULT_URL",
    "AsyncClient",
    "CitationsEvent",
    "Client",
    "DeltaEvent",
    "DoneEvent",
    "MessageLike",
    "StreamEvent",
]

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
#: tries after the first, for a refusal that says "later"
DEFAULT_RETRIES = 4
RETRY_STATUSES = frozenset({429, 503})
#: a server asking for a longer wait is not waited for (the error is raised at once)
MAX_RETRY_WAIT = 60.0

log = logging.getLogger(__name__)

#: a chat message: the model, a ``{"role": …, "content": …}`` mapping or a ``(role, content)`` pair
MessageLike = ChatMessage | Mapping[str, str] | tuple[str, str]

M = TypeVar("M", bound=BaseModel)

_EVENTS: dict[str, type[BaseModel]] = {
    "citations": CitationsEvent,
    "delta": DeltaEvent,
    "done": DoneEvent,
}


def _raise_for_problem(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"title": response.reason_phrase, "detail": response.text[:500]}
    if not isinstance(body, dict):
        body = {"detail": str(body)}
    raise APIError(response.status_code, body, response.headers)


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_delay(response: httpx.Response, attempt: int, max_retries: int) -> float | None:
    """Seconds to wait before trying again after ``response`` (``attempt`` retries made
    so far); None when it is not to be retried."""
    if response.status_code not in RETRY_STATUSES or attempt >= max_retries:
        return None
    delay = _retry_after(response.headers.get("retry-after"))
    if delay is None:  # exponential backoff, jittered so that clients spread out
        delay = min(0.5 * 2**attempt, 8.0) * random.uniform(0.5, 1.0)
    if delay > MAX_RETRY_WAIT:
        return None
    log.info("%s %s answered %d; retry %d of %d in %.1f s", response.request.method,
             response.request.url.path, response.status_code, attempt + 1, max_retries, delay)
    return delay


def _ask_body(question: str, history: Sequence[str] | None, k: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"question": question}
    if history:
        body["history"] = list(history)
    if k is not None:
        body["k"] = k
    return body


def _chat_body(messages: Sequence[MessageLike], k: int | None) -> dict[str, Any]:
    out = []
    for m in messages:
        if isinstance(m, ChatMessage):
            out.append(m.model_dump())
        elif isinstance(m, tuple):
            out.append({"role": m[0], "content": m[1]})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    body: dict[str, Any] = {"messages": out}
    if k is not None:
        body["k"] = k
    return body


def _model(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise ClientError(f"unexpected reply from {response.url}: {exc}") from None


def _event(raw: RawEvent, headers: Mapping[str, str]) -> StreamEvent | None:
    """One SSE event as its typed model; raises APIError for ``error``; None for unknown ones."""
    if raw.event == "error":
        try:
            problem = raw.json()
        except ValueError:
            problem = {"detail": raw.data}
        status = problem.get("status") if isinstance(problem, dict) else None
        raise APIError(status if isinstance(status, int) else 500, problem, headers)
    model = _EVENTS.get(raw.event)
    if model is None:
        return None  # an event type added later: ignored, as SSE clients should
    try:
        event = model.model_validate_json(raw.data)
    except ValidationError as exc:
        raise ClientError(f"malformed {raw.event!r} event: {exc}") from None
    assert isinstance(event, CitationsEvent | DeltaEvent | DoneEvent)
    return event


def _unreachable(base_url: httpx.URL, exc: httpx.TransportError) -> ConnectError:
    if isinstance(exc, httpx.TimeoutException):
        return ConnectError(f"natoqa at {base_url} did not answer in time: {exc!r}")
    return ConnectError(f"cannot reach natoqa at {base_url}: {exc}")


class Client:
    """Blocking client; see the module docstring for the exceptions it raises."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        max_retries: int = DEFAULT_RETRIES,
    ) -> None:
        all_headers = dict(headers or {})
        if api_key:
            all_headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=base_url, headers=all_headers, timeout=timeout, transport=transport
        )
        self.max_retries = max(0, max_retries)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                raise _unreachable(self._http.base_url, exc) from exc
            delay = retry_delay(response, attempt, self.max_retries)
            if delay is None:
                break
            time.sleep(delay)
            attempt += 1
        _raise_for_problem(response)
        return response

    def ask(
        self, question: str, *, history: Sequence[str] | None = None, k: int | None = None
    ) -> AnswerPublic:
        """Answer ``question``; ``history`` holds earlier user questions, oldest first."""
        response = self._request("POST", "/api/v1/ask", json=_ask_body(question, history, k))
        return _model(AnswerPublic, response)

    def chat(self, messages: Sequence[MessageLike], *, k: int | None = None) -> AnswerPublic:
        """Answer the last (user) message of a conversation."""
        response = self._request("POST", "/api/v1/chat", json=_chat_body(messages, k))
        return _model(AnswerPublic, response)

    def ask_stream(
        self, question: str, *, history: Sequence[str] | None = None, k: int | None = None
    ) -> Iterator[StreamEvent]:
        """Like :meth:`ask`, as events: ``CitationsEvent``, ``DeltaEvent``s, ``DoneEvent``."""
        return self._stream("/api/v1/ask", _ask_body(question, history, k))

    def chat_stream(
        self, messages: Sequence[MessageLike], *, k: int | None = None
    ) -> Iterator[StreamEvent]:
        """Like :meth:`chat`, as events."""
        return self._stream("/api/v1/chat", _chat_body(messages, k))

    def _stream(self, path: str, body: dict[str, Any]) -> Iterator[StreamEvent]:
        done = False
        attempt = 0
        try:
            while True:
                with connect_sse(self._http, "POST", path, json={**body, "stream": True}) as src:
                    if not src.response.is_success:
                        src.response.read()
                        delay = retry_delay(src.response, attempt, self.max_retries)
                        if delay is None:
                            _raise_for_problem(src.response)
                    else:
                        delay = None
                        for raw in src.iter_sse():
                            event = _event(raw, src.response.headers)
                            if event is not None:
                                done = isinstance(event, DoneEvent)
                                yield event
                if delay is None:
                    break
                time.sleep(delay)  # the refused connection is closed meanwhile
                attempt += 1
        except SSEError as exc:  # (a TransportError subclass: caught first)
            raise ClientError(f"expected an event stream from {path}: {exc}") from None
        except httpx.TransportError as exc:
            raise _unreachable(self._http.base_url, exc) from exc
        if not done:
            raise ClientError(f"the answer stream from {path} ended before its 'done' event")

    def documents(self) -> DocumentListPublic:
        return _model(DocumentListPublic, self._request("GET", "/api/v1/documents"))

    def passage(self, passage_id: str, *, window: int = 1) -> PassageContextPublic:
        response = self._request("GET", f"/api/v1/passages/{passage_id}", params={"window": window})
        return _model(PassageContextPublic, response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- documents and builds (admin or documents token; docs/DOCUMENTS.md) -------------
    # ``token`` overrides the client's ``api_key`` for one call.

    def put_document(
        self, doc_id: str, content: bytes | Path, *, media_type: str | None = None,
        token: str | None = None, **meta: Any,
    ) -> DocumentChangePublic:
        """Create or replace ``doc_id`` from a file (type from its suffix) or bytes (give
        ``media_type``); ``meta``: title, authors, date, publisher, url, language."""
        response = self._request("PUT", document_path(doc_id),
                                 **upload_request(content, media_type, meta, token))
        return _model(DocumentChangePublic, response)

    def delete_document(
        self, doc_id: str, *, token: str | None = None
    ) -> DocumentChangePublic:
        response = self._request("DELETE", document_path(doc_id), headers=auth(token))
        return _model(DocumentChangePublic, response)

    def admin_documents(
        self, *, query: str | None = None, token: str | None = None
    ) -> DocumentListAdminPublic:
        """Every document with its status (indexed in V, pending, skipped and why)."""
        params = {"q": query} if query else None
        response = self._request("GET", DOCUMENTS, params=params, headers=auth(token))
        return _model(DocumentListAdminPublic, response)

    def document_status(
        self, doc_id: str, *, token: str | None = None
    ) -> DocumentStatusPublic:
        response = self._request("GET", document_path(doc_id), headers=auth(token))
        return _model(DocumentStatusPublic, response)

    def build(self, build_id: str, *, token: str | None = None) -> BuildPublic:
        response = self._request("GET", f"{BUILDS}/{build_id}", headers=auth(token))
        return _model(BuildPublic, response)

    def builds(self, *, limit: int = 20, token: str | None = None) -> BuildListPublic:
        response = self._request("GET", BUILDS, params={"limit": limit}, headers=auth(token))
        return _model(BuildListPublic, response)

    def wait_for_build(
        self, build_id: str, *, timeout: float = 600.0, token: str | None = None
    ) -> BuildPublic:
        """The build once it has succeeded or failed; ClientError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            build = self.build(build_id, token=token)
            if build.state in ("succeeded", "failed"):
                return build
            if time.monotonic() > deadline:
                raise ClientError(f"build {build_id} still {build.state} after {timeout:g} s")
            time.sleep(0.5)


class AsyncClient:
    """Async twin of :class:`Client`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        max_retries: int = DEFAULT_RETRIES,
    ) -> None:
        all_headers = dict(headers or {})
        if api_key:
            all_headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=all_headers, timeout=timeout, transport=transport
        )
        self.max_retries = max(0, max_retries)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                raise _unreachable(self._http.base_url, exc) from exc
            delay = retry_delay(response, attempt, self.max_retries)
            if delay is None:
                break
            await asyncio.sleep(delay)
            attempt += 1
        _raise_for_problem(response)
        return response

    async def ask(
        self, question: str, *, history: Sequence[str] | None = None, k: int | None = None
    ) -> AnswerPublic:
        response = await self._request(
            "POST", "/api/v1/ask", json=_ask_body(question, history, k)
        )
        return _model(AnswerPublic, response)

    async def chat(
        self, messages: Sequence[MessageLike], *, k: int | None = None
    ) -> AnswerPublic:
        response = await self._request("POST", "/api/v1/chat", json=_chat_body(messages, k))
        return _model(AnswerPublic, response)

    def ask_stream(
        self, question: str, *, history: Sequence[str] | None = None, k: int | None = None
    ) -> AsyncIterator[StreamEvent]:
        return self._stream("/api/v1/ask", _ask_body(question, history, k))

    def chat_stream(
        self, messages: Sequence[MessageLike], *, k: int | None = None
    ) -> AsyncIterator[StreamEvent]:
        return self._stream("/api/v1/chat", _chat_body(messages, k))

    async def _stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        done = False
        attempt = 0
        try:
            while True:
                async with aconnect_sse(
                    self._http, "POST", path, json={**body, "stream": True}
                ) as src:
                    if not src.response.is_success:
                        await src.response.aread()
                        delay = retry_delay(src.response, attempt, self.max_retries)
                        if delay is None:
                            _raise_for_problem(src.response)
                    else:
                        delay = None
                        async for raw in src.aiter_sse():
                            event = _event(raw, src.response.headers)
                            if event is not None:
                                done = isinstance(event, DoneEvent)
                                yield event
                if delay is None:
                    break
                await asyncio.sleep(delay)
                attempt += 1
        except SSEError as exc:  # (a TransportError subclass: caught first)
            raise ClientError(f"expected an event stream from {path}: {exc}") from None
        except httpx.TransportError as exc:
            raise _unreachable(self._http.base_url, exc) from exc
        if not done:
            raise ClientError(f"the answer stream from {path} ended before its 'done' event")

    async def documents(self) -> DocumentListPublic:
        return _model(DocumentListPublic, await self._request("GET", "/api/v1/documents"))

    async def passage(self, passage_id: str, *, window: int = 1) -> PassageContextPublic:
        response = await self._request(
            "GET", f"/api/v1/passages/{passage_id}", params={"window": window}
        )
        return _model(PassageContextPublic, response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- documents and builds (admin or documents token; docs/DOCUMENTS.md) -------------
    # ``token`` overrides the client's ``api_key`` for one call.

    async def put_document(
        self, doc_id: str, content: bytes | Path, *, media_type: str | None = None,
        token: str | None = None, **meta: Any,
    ) -> DocumentChangePublic:
        """Create or replace ``doc_id`` from a file (type from its suffix) or bytes (give
        ``media_type``); ``meta``: title, authors, date, publisher, url, language."""
        response = await self._request("PUT", document_path(doc_id),
                                 **upload_request(content, media_type, meta, token))
        return _model(DocumentChangePublic, response)

    async def delete_document(
        self, doc_id: str, *, token: str | None = None
    ) -> DocumentChangePublic:
        response = await self._request("DELETE", document_path(doc_id), headers=auth(token))
        return _model(DocumentChangePublic, response)

    async def admin_documents(
        self, *, query: str | None = None, token: str | None = None
    ) -> DocumentListAdminPublic:
        """Every document with its status (indexed in V, pending, skipped and why)."""
        params = {"q": query} if query else None
        response = await self._request("GET", DOCUMENTS, params=params, headers=auth(token))
        return _model(DocumentListAdminPublic, response)

    async def document_status(
        self, doc_id: str, *, token: str | None = None
    ) -> DocumentStatusPublic:
        response = await self._request("GET", document_path(doc_id), headers=auth(token))
        return _model(DocumentStatusPublic, response)

    async def build(self, build_id: str, *, token: str | None = None) -> BuildPublic:
        response = await self._request("GET", f"{BUILDS}/{build_id}", headers=auth(token))
        return _model(BuildPublic, response)

    async def builds(self, *, limit: int = 20, token: str | None = None) -> BuildListPublic:
        response = await self._request("GET", BUILDS, params={"limit": limit}, headers=auth(token))
        return _model(BuildListPublic, response)

    async def wait_for_build(
        self, build_id: str, *, timeout: float = 600.0, token: str | None = None
    ) -> BuildPublic:
        """The build once it has succeeded or failed; ClientError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            build = await self.build(build_id, token=token)
            if build.state in ("succeeded", "failed"):
                return build
            if time.monotonic() > deadline:
                raise ClientError(f"build {build_id} still {build.state} after {timeout:g} s")
            await asyncio.sleep(0.5)
