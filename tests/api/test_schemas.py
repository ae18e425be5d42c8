"""The request bodies' bounds are the server's settings, in validation and in the OpenAPI
schema alike (no model: a stub service answers)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from natoqa.api.app import create_app
from natoqa.config import load_settings
from tests.fakes import StubService


def make(**settings: Any) -> tuple[FastAPI, StubService]:
    service = StubService()
    return create_app(load_settings(**settings), service=service), service  # type: ignore[arg-type]


def request_schema(app: FastAPI, path: str) -> dict[str, Any]:
    spec = app.openapi()
    ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schemas: dict[str, Any] = spec["components"]["schemas"]
    return dict(schemas[ref["$ref"].rsplit("/", 1)[1]])


def k_bounds(schema: dict[str, Any]) -> tuple[int, int]:
    k = next(s for s in schema["properties"]["k"]["anyOf"] if s.get("type") == "integer")
    return k["minimum"], k["maximum"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_openapi_shows_the_servers_limits() -> None:
    app, _ = make(max_k=50, max_question_chars=300, max_history=3)
    for path in ("/api/v1/ask", "/api/v1/chat", "/v1/chat/completions"):
        assert k_bounds(request_schema(app, path)) == (1, 50), path
    ask = request_schema(app, "/api/v1/ask")["properties"]
    assert ask["question"]["maxLength"] == 300
    assert ask["history"]["maxItems"] == 3 and ask["history"]["items"]["maxLength"] == 300
    chat = request_schema(app, "/api/v1/chat")["properties"]["messages"]
    assert chat["maxItems"] == 7  # the question and three exchanges before it
    schemas = app.openapi()["components"]["schemas"]
    assert schemas["UserMessage"]["properties"]["content"]["maxLength"] == 300
    assert schemas["AssistantMessage"]["properties"]["content"]["maxLength"] == 20_000
    # another app, other settings: each its own schema
    assert k_bounds(request_schema(make()[0], "/api/v1/ask")) == (1, 20)


@pytest.mark.anyio
async def test_validation_follows_the_settings_and_accepts_integral_floats() -> None:
    app, service = make(max_k=50, max_question_chars=30, default_k=4)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        for body in ({"question": "NATO?", "k": 50}, {"question": "NATO?", "k": 15.0},
                     {"question": "NATO?"}):
            r = await client.post("/api/v1/ask", json=body)
            assert r.status_code == 200, r.text
        assert [k for *_, k in service.asked] == [50, 15, 4]
        r = await client.post("/api/v1/chat",
                              json={"messages": [{"role": "user", "content": "Q?"}], "k": 2.0})
        assert r.status_code == 200 and service.asked[-1][2] == 2
        refused: tuple[tuple[str, dict[str, Any]], ...] = (
            ("/api/v1/ask", {"question": "NATO?", "k": 51}),
            ("/api/v1/ask", {"question": "NATO?", "k": 1.5}),
            ("/api/v1/ask", {"question": "x" * 31}),
            ("/api/v1/chat", {"messages": [{"role": "user", "content": "x" * 31}]}),
            ("/v1/chat/completions",
             {"model": "natoqa", "messages": [{"role": "user", "content": "x" * 31}]}),
        )
        for path, body in refused:
            r = await client.post(path, json=body)
            assert r.status_code == 422, (path, body)
            assert r.json()["type"].endswith("/validation-error")


@pytest.mark.anyio
async def test_user_messages_have_the_question_limit_assistant_ones_their_own() -> None:
    app, service = make()
    assistant = {"role": "assistant", "content": "x" * 20_000}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        long_user = await client.post(
            "/api/v1/chat", json={"messages": [{"role": "user", "content": "x" * 2001}]}
        )
        assert long_user.status_code == 422 and "2000" in long_user.json()["detail"]
        ok = await client.post("/api/v1/chat", json={
            "messages": [{"role": "user", "content": "A?"}, assistant,
                         {"role": "user", "content": "B?"}]})
        assert ok.status_code == 200 and service.asked[-1][:2] == ("B?", ("A?",))
