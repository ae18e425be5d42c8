"""X-Request-ID on every response, taken from the request when valid, and in the log records."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from natoqa.api.middleware import RequestIdMiddleware, valid_request_id
from natoqa.logs import current_request_id, install_log_record_factory
from tests.api.conftest import make_app

log = logging.getLogger("natoqa.test")


def tiny_app() -> Any:
    async def echo(request: Request) -> PlainTextResponse:
        log.warning("handling")
        return PlainTextResponse(f"{current_request_id()}|{request.state.request_id}")

    return RequestIdMiddleware(Starlette(routes=[Route("/", echo)]))


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
        ("trace.id:42_x", True),
        ("", False),
        ("has space", False),
        ("x" * 129, False),
        ("<script>", False),
        ("-leading-dash", False),
    ],
)
def test_valid_request_ids(given: str, kept: bool) -> None:
    assert (valid_request_id(given) == given) is kept


@pytest.mark.anyio
async def test_id_is_echoed_when_valid_and_generated_otherwise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_record_factory()
    transport = httpx.ASGITransport(app=tiny_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        given = await client.get("/", headers={"X-Request-ID": "abc-123"})
        bad = await client.get("/", headers=[(b"X-Request-ID", b"bad id;x" + b"\xe4")])
        none_1 = await client.get("/")
        none_2 = await client.get("/")
    assert given.headers["x-request-id"] == "abc-123" and given.text == "abc-123|abc-123"
    logged = [r.request_id for r in caplog.records if r.name == "natoqa.test"]  # type: ignore[attr-defined]
    assert logged == [r.headers["x-request-id"] for r in (given, bad, none_1, none_2)]
    for r in (bad, none_1, none_2):
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
        assert r.text == f"{r.headers['x-request-id']}|{r.headers['x-request-id']}"
    assert none_1.headers["x-request-id"] != none_2.headers["x-request-id"]
    assert current_request_id() is None  # nothing leaks out of the request


def test_records_outside_requests_get_a_dash() -> None:
    install_log_record_factory()
    record = logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "m", (), None)
    assert record.request_id == "-"  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.anyio
async def test_every_response_of_the_app_carries_the_id_and_the_logs_too(
    qa_service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    transport = httpx.ASGITransport(app=make_app(qa_service))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with caplog.at_level(logging.INFO, logger="natoqa"):
            ok = await client.post(
                "/api/v1/ask",
                json={"question": "Was ist das New Force Model?"},
                headers={"X-Request-ID": "trace-42"},
            )
        responses = [
            ok,
            await client.get("/healthz"),
            await client.get("/nowhere"),
            await client.post("/api/v1/ask", content=b"{"),
            await client.delete("/api/v1/ask"),
            await client.get("/v1/models"),
        ]
    for r in responses:
        assert r.headers.get("x-request-id"), r.request.url
    answered = [r for r in caplog.records if r.getMessage().startswith("answered")]
    assert [r.request_id for r in answered] == ["trace-42"]  # type: ignore[attr-defined]
    line = logging.Formatter("%(request_id)s %(message)s").format(answered[0])
    assert line.startswith("trace-42 answered")


@pytest.mark.slow
@pytest.mark.anyio
async def test_unexpected_errors_keep_the_id(
    qa_service: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(qa_service, "ask", broken)
    transport = httpx.ASGITransport(app=make_app(qa_service), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post(
            "/api/v1/ask", json={"question": "NATO?"}, headers={"X-Request-ID": "err-1"}
        )
    assert r.status_code == 500 and r.headers["x-request-id"] == "err-1"
    body = r.json()
    assert body["type"].endswith("/internal-error") and body["request_id"] == "err-1"
    assert "boom" not in r.text
    assert any(
        getattr(rec, "request_id", None) == "err-1" and rec.exc_info for rec in caplog.records
    )
