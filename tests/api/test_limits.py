"""Abuse limits: rate limit, concurrency cap, body size, timeouts, API keys, admin token.

The real server (real model, real index, uvicorn on loopback) shows each limit
as a client meets it; two small in-process tests pin down the timing cases
(a slot held, a stream that outlives the deadline) with a stand-in app, which
the real service cannot be made to hold on cue.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from tests.conftest import start_server, stop_server

KEY_A = "key-a-" + "a" * 24
KEY_B = "key-b-" + "b" * 24
ADMIN = "admin-" + "z" * 24
PROBLEM = "application/problem+json"


def ask_body(question: str | None = None) -> dict[str, Any]:
    # distinct questions: the answer cache must not make these requests free
    return {"question": question or f"Was erbt Rutte von Stoltenberg? ({uuid.uuid4().hex[:6]})"}


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["type"].endswith("/" + slug)
    assert body["status"] == status
    assert body["request_id"] == r.headers["x-request-id"]
    return body


# --- the real server -----------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_url(built_index: Path) -> Iterator[str]:
    """A server with API keys, an admin token, a small rate and a small body limit."""
    proc, url = start_server(built_index, env={
        "NATOQA_API_KEYS": f"{KEY_A},{KEY_B}",
        "NATOQA_ADMIN_TOKEN": ADMIN,
        "NATOQA_RATE_LIMIT": "8/minute",
        "NATOQA_MAX_BODY_BYTES": "4096",
    })
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def narrow_url(built_index: Path) -> Iterator[str]:
    """A server that answers one request at a time and gives each 5 s."""
    proc, url = start_server(built_index, env={
        "NATOQA_RATE_LIMIT": "off",
        "NATOQA_MAX_CONCURRENT": "1",
        "NATOQA_REQUEST_TIMEOUT": "5",
    })
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.mark.slow
def test_api_key_required_on_api_routes_only(guarded_url: str) -> None:
    missing = httpx.post(guarded_url + "/api/v1/ask", json=ask_body(), timeout=60)
    assert_problem(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.post(guarded_url + "/api/v1/ask", json=ask_body(), timeout=60,
                       headers={"Authorization": "Bearer " + "x" * 30})
    assert_problem(wrong, 401, "unauthorized")
    openai = httpx.get(guarded_url + "/v1/models", timeout=60)
    body = assert_problem(openai, 401, "unauthorized")
    assert body["error"]["type"] == "authentication_error"  # OpenAI SDKs read this

    bearer = httpx.post(guarded_url + "/api/v1/ask", json=ask_body(), timeout=60,
                        headers={"Authorization": f"Bearer {KEY_A}"})
    assert bearer.status_code == 200 and bearer.json()["citations"]
    header = httpx.get(guarded_url + "/v1/models", headers={"X-API-Key": KEY_A}, timeout=60)
    assert header.status_code == 200
    # probes and metrics stay open: an orchestrator has no key
    for path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(guarded_url + path, timeout=60).status_code == 200
    # but readiness tells strangers nothing more than that; a key shows the details
    assert httpx.get(guarded_url + "/readyz", timeout=60).json() == {"status": "ready"}
    detailed = httpx.get(guarded_url + "/readyz", headers={"X-API-Key": KEY_A}, timeout=60)
    assert detailed.json()["index"]["ready"] is True


@pytest.mark.slow
def test_admin_needs_the_admin_token_not_an_api_key(guarded_url: str) -> None:
    status = guarded_url + "/api/v1/admin/status"
    assert_problem(httpx.get(status, timeout=60), 401, "unauthorized")
    with_api_key = httpx.get(status, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=60)
    assert_problem(with_api_key, 403, "forbidden")
    admin = httpx.get(status, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
    assert admin.status_code == 200 and admin.json()["ready"] is True
    # and the admin token is no API key
    ask = httpx.post(guarded_url + "/api/v1/ask", json=ask_body(), timeout=60,
                     headers={"Authorization": f"Bearer {ADMIN}"})
    assert_problem(ask, 401, "unauthorized")


@pytest.mark.slow
def test_rate_limit_per_key_with_retry_after(guarded_url: str) -> None:
    # unauthenticated requests of the other tests share the loopback IP's budget (8/minute)
    headers = {"Authorization": f"Bearer {KEY_B}"}  # key B: used by no other test
    codes = [httpx.get(guarded_url + "/v1/models", headers=headers, timeout=60).status_code
             for _ in range(8)]
    assert codes == [200] * 8
    over = httpx.post(guarded_url + "/api/v1/ask", json=ask_body(), headers=headers, timeout=60)
    assert_problem(over, 429, "rate-limited")
    assert 1 <= int(over.headers["retry-after"]) <= 60
    # another client (key A) has its own budget; probes are never limited
    other = httpx.get(guarded_url + "/v1/models", headers={"X-API-Key": KEY_A}, timeout=60)
    assert other.status_code == 200
    assert httpx.get(guarded_url + "/healthz", timeout=60).status_code == 200
    metrics = httpx.get(guarded_url + "/metrics", timeout=60).text
    assert 'natoqa_rejected_requests_total{reason="rate_limit"}' in metrics


@pytest.mark.slow
def test_body_size_limit(guarded_url: str) -> None:
    headers = {"X-API-Key": KEY_A, "Content-Type": "application/json"}
    big = b'{"question": "' + b"x" * 5000 + b'"}'
    declared = httpx.post(guarded_url + "/api/v1/ask", content=big, headers=headers, timeout=60)
    body = assert_problem(declared, 413, "request-too-large")
    assert "4096" in body["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count
        for i in range(0, len(big), 1000):
            yield big[i:i + 1000]

    chunked = httpx.post(guarded_url + "/api/v1/ask", content=chunks(), headers=headers,
                         timeout=60)
    assert_problem(chunked, 413, "request-too-large")


@pytest.mark.slow
def test_concurrency_cap_answers_429(narrow_url: str) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=narrow_url, timeout=60) as client:
            return await asyncio.gather(
                *(client.post("/api/v1/ask", json=ask_body()) for _ in range(6))
            )

    responses = asyncio.run(burst())
    codes = sorted(r.status_code for r in responses)
    assert 200 in codes and 429 in codes, codes
    refused = next(r for r in responses if r.status_code == 429)
    assert_problem(refused, 429, "rate-limited")
    assert refused.headers["retry-after"] == "1"
    # the slots are given back: a request alone is answered again
    assert httpx.post(narrow_url + "/api/v1/ask", json=ask_body(), timeout=60).status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/api/v1/ask", "/healthz"])
def test_slow_upload_times_out_with_503(narrow_url: str, path: str) -> None:
    parts = urlsplit(narrow_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"question\": ")
        # ...and the rest never comes: the deadline (5 s) must answer for us
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), head
    assert b"application/problem+json" in head
    assert b"/unavailable" in body
    # the server is not stuck: the next request is answered
    assert httpx.post(narrow_url + "/api/v1/ask", json=ask_body(), timeout=60).status_code == 200


# --- the same middleware, timed on cue with a stand-in app ------------------------


def stand_in(gate: asyncio.Event, **settings: Any) -> Any:
    """LimitsMiddleware around a tiny app whose /api/v1/wait holds until ``gate`` opens."""
    from natoqa.api.limits import LimitsMiddleware
    from natoqa.config import load_settings

    async def wait(request: Request) -> JSONResponse:
        await gate.wait()
        return JSONResponse({"body": (await request.body()).decode()})

    async def stream(request: Request) -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            yield b"first "
            await asyncio.sleep(0.4)  # beyond the deadline, after the response started
            yield b"second"

        return StreamingResponse(parts())

    app = Starlette(routes=[Route("/api/v1/wait", wait, methods=["POST"]),
                            Route("/api/v1/stream", stream)])
    return LimitsMiddleware(app, load_settings(rate_limit="off", **settings))


def test_slot_is_held_until_the_answer_and_then_freed() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        app = stand_in(gate, max_concurrent=1)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.create_task(client.post("/api/v1/wait", content=b"hello"))
            await asyncio.sleep(0.05)
            second = await client.post("/api/v1/wait", content=b"x")
            assert second.status_code == 429 and second.headers["retry-after"] == "1"
            gate.set()
            done = await first
            assert done.status_code == 200 and done.json() == {"body": "hello"}  # body replayed
            third = await client.post("/api/v1/wait", content=b"again")
            assert third.status_code == 200

    asyncio.run(scenario())


def test_deadline_stops_a_slow_answer_but_not_a_started_stream() -> None:
    async def scenario() -> None:
        app = stand_in(asyncio.Event(), request_timeout=0.2)  # the gate never opens
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            slow = await client.post("/api/v1/wait", content=b"{}")
            assert slow.status_code == 503
            assert slow.json()["type"].endswith("/unavailable")
            streamed = await client.get("/api/v1/stream")
            assert streamed.status_code == 200 and streamed.text == "first second"
        assert app.in_flight == 0  # both slots were given back

    asyncio.run(scenario())


# --- the app with a stand-in service whose answers take a set time ----------------


async def _never_ending_body() -> AsyncIterator[bytes]:
    yield b'{"question": '
    await asyncio.Event().wait()  # ...and the rest never comes


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/", "/nowhere"])
def test_a_body_that_never_comes_times_out_on_every_route(path: str) -> None:
    from tests.api.conftest import make_app
    from tests.fakes import StubService

    async def scenario() -> httpx.Response:
        app = make_app(StubService(0.0), request_timeout=0.3)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await asyncio.wait_for(
                client.post(path, content=_never_ending_body(),
                            headers={"Content-Length": "100"}),
                timeout=10,
            )

    r = asyncio.run(scenario())
    assert_problem(r, 503, "unavailable")


async def call(
    app: Any, path: str, body: bytes, *, leave_after: float | None = None
) -> tuple[int, float]:
    """One request straight through ASGI: (status, when the response started).

    httpx's ASGITransport returns only once the app has returned; a real server
    sends the response as soon as it starts, which is what the caller sees.
    """
    import time

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("t", 80),
        "headers": [(b"host", b"t"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    started: list[tuple[int, float]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        if leave_after is not None:
            await asyncio.sleep(leave_after)
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.append((message["status"], time.monotonic()))

    await app(scope, receive, send)
    return started[0]


def test_a_timed_out_answer_keeps_its_slot_until_its_thread_ends() -> None:
    import json

    from tests.api.conftest import make_app
    from tests.fakes import StubService

    service = StubService(1.0, 0.0)  # the first answer outlasts the deadline
    body = json.dumps(ask_body()).encode()

    async def scenario() -> None:
        app = make_app(service, request_timeout=0.3, max_concurrent=1, rate_limit="off")
        first = asyncio.ensure_future(call(app, "/api/v1/ask", body))
        await asyncio.sleep(0.6)  # past the deadline, the answer's thread still busy
        assert not service.finished
        status, _ = await call(app, "/api/v1/ask", body)
        assert status == 429  # the slot is still taken by the work behind the 503
        status, answered_at = await first
        assert status == 503 and answered_at < service.finished[0]  # the 503 did not wait
        status, _ = await call(app, "/api/v1/ask", body)  # the work stopped: the slot is free
        assert status == 200

    asyncio.run(scenario())


def test_a_trusted_key_is_exempt_from_the_rate_limit_but_others_are_not() -> None:
    from natoqa.api.limits import LimitsMiddleware
    from natoqa.config import load_settings

    async def ok(request: Request) -> JSONResponse:
        return JSONResponse({})

    trusted = "trusted-" + "t" * 24
    app = LimitsMiddleware(
        Starlette(routes=[Route("/api/v1/ok", ok)]),
        load_settings(rate_limit="2/minute", api_keys=KEY_A, trusted_api_keys=trusted),
    )

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            plain = [(await client.get("/api/v1/ok", headers={"X-API-Key": KEY_A})).status_code
                     for _ in range(3)]
            assert plain == [200, 200, 429]
            analyst = [(await client.get("/api/v1/ok", headers={"X-API-Key": trusted}))
                       .status_code for _ in range(5)]
            assert analyst == [200] * 5  # a trusted key is a valid key, never rate limited
            assert (await client.get("/api/v1/ok")).status_code == 401

    asyncio.run(scenario())


def test_a_stream_whose_client_left_keeps_its_slot_until_its_thread_ends() -> None:
    import json

    from tests.api.conftest import make_app
    from tests.fakes import StubService

    service = StubService(1.0, 0.0)
    stream = json.dumps({**ask_body(), "stream": True}).encode()

    async def scenario() -> None:
        app = make_app(service, max_concurrent=1, rate_limit="off")
        first = asyncio.ensure_future(call(app, "/api/v1/ask", stream, leave_after=0.2))
        await asyncio.sleep(0.5)  # the client has gone; the answer's thread is still busy
        assert not service.finished
        status, _ = await call(app, "/api/v1/ask", json.dumps(ask_body()).encode())
        assert status == 429
        await first
        assert service.finished  # the stream's request ended only after its work
        status, _ = await call(app, "/api/v1/ask", json.dumps(ask_body()).encode())
        assert status == 200

    asyncio.run(scenario())
