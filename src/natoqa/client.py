"""Python clients for a running natoqa server, over httpx.

>>> from natoqa import Client
>>> with Client("http://127.0.0.1:8000") as client:
...     answer = client.ask("Wie hoch sollen die Verteidigungsausgaben sein?")
...     print(answer.answer, [c.title for c in answer.citations])
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from natoqa.api.schemas import AnswerPublic, DocumentListPublic, PassageContextPublic
from natoqa.errors import APIError, ConnectError

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def _raise_for_problem(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"title": response.reason_phrase, "detail": response.text[:500]}
    if not isinstance(body, dict):
        body = {"detail": str(body)}
    raise APIError(response.status_code, body)


def _ask_body(question: str, history: list[str] | None, k: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"question": question}
    if history:
        body["history"] = history
    if k is not None:
        body["k"] = k
    return body


class Client:
    """Blocking client. Raises ConnectError when the server cannot be reached and
    APIError (with ``.status`` and ``.problem``) when it answers with an error."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectError(f"cannot reach natoqa at {self._http.base_url}: {exc}") from exc
        _raise_for_problem(response)
        return response

    def ask(
        self, question: str, *, history: list[str] | None = None, k: int | None = None
    ) -> AnswerPublic:
        response = self._request("POST", "/api/v1/ask", json=_ask_body(question, history, k))
        return AnswerPublic.model_validate(response.json())

    def documents(self) -> DocumentListPublic:
        return DocumentListPublic.model_validate(self._request("GET", "/api/v1/documents").json())

    def passage(self, passage_id: str, *, window: int = 1) -> PassageContextPublic:
        response = self._request("GET", f"/api/v1/passages/{passage_id}", params={"window": window})
        return PassageContextPublic.model_validate(response.json())

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


class AsyncClient:
    """Async twin of :class:`Client`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectError(f"cannot reach natoqa at {self._http.base_url}: {exc}") from exc
        _raise_for_problem(response)
        return response

    async def ask(
        self, question: str, *, history: list[str] | None = None, k: int | None = None
    ) -> AnswerPublic:
        response = await self._request(
            "POST", "/api/v1/ask", json=_ask_body(question, history, k)
        )
        return AnswerPublic.model_validate(response.json())

    async def documents(self) -> DocumentListPublic:
        response = await self._request("GET", "/api/v1/documents")
        return DocumentListPublic.model_validate(response.json())

    async def passage(self, passage_id: str, *, window: int = 1) -> PassageContextPublic:
        response = await self._request(
            "GET", f"/api/v1/passages/{passage_id}", params={"window": window}
        )
        return PassageContextPublic.model_validate(response.json())

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
