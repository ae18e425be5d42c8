"""natoqa.Client and natoqa.AsyncClient: typed results and clear exceptions.

The slow tests talk to the real server; the fast ones put httpx's MockTransport
in its place to produce replies a healthy server never sends.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from natoqa import APIError, AsyncClient, Client, ClientError, ConnectError
from natoqa.api.schemas import ChatMessage
from natoqa.client.client import CitationsEvent, DeltaEvent, DoneEvent
from tests.conftest import free_port

FOLLOW_UP = [
    ("user", "Was beschloss der Gipfel in Washington zur Ukraine?"),
    ("assistant", "…"),
    ("user", "Und wo soll das neue Hauptquartier sein?"),
]


def mock(handler: Any, max_retries: int = 0) -> Client:
    return Client("http://natoqa.test", transport=httpx.MockTransport(handler),
                  max_retries=max_retries)


def sse(*events: tuple[str, dict[str, Any]]) -> httpx.Response:
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def test_unreachable_server_is_a_connect_error() -> None:
    with Client(f"http://127.0.0.1:{free_port()}") as client, pytest.raises(ConnectError) as exc:
        client.ask("NATO?")
    assert "cannot reach natoqa" in exc.value.message


def test_problem_reply_is_an_api_error_with_its_type() -> None:
    problem = {
        "type": "https://natoqa.dev/problems/validation-error",
        "status": 422,
        "title": "Invalid request",
        "detail": "question: too long",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            422, json=problem, headers={"content-type": "application/problem+json"}
        )

    with mock(handler) as client, pytest.raises(APIError) as exc:
        client.ask("x")
    assert exc.value.status == 422 and exc.value.problem == problem
    assert str(exc.value) == "422: question: too long"


def test_reply_that_breaks_the_schema_is_a_client_error() -> None:
    client = mock(lambda r: httpx.Response(200, json={"answer": 1}))
    with client, pytest.raises(ClientError, match="unexpected reply"):
        client.ask("x")


def test_chat_accepts_pairs_mappings_and_models() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(503, json={"status": 503, "title": "Index unavailable"})

    with mock(handler) as client:
        for messages in (
            [("user", "a"), ("assistant", "b"), ("user", "c")],
            [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
            ],
            [
                ChatMessage(role="user", content="a"),
                ChatMessage(role="assistant", content="b"),
                ChatMessage(role="user", content="c"),
            ],
        ):
            with pytest.raises(APIError):
                client.chat(messages, k=3)
    assert all(body == seen[0] for body in seen)
    assert seen[0] == {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
        "k": 3,
    }


def test_error_event_mid_stream_raises_api_error() -> None:
    citations = {"citations": [], "no_answer": False, "language": "de", "request_id": "r"}
    problem = {
        "type": "https://natoqa.dev/problems/internal-error",
        "status": 500,
        "title": "Internal error",
        "detail": "The request could not be completed.",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["stream"] is True
        return sse(("citations", citations), ("error", problem))

    with mock(handler) as client:
        stream = client.ask_stream("NATO?")
        assert isinstance(next(stream), CitationsEvent)
        with pytest.raises(APIError) as exc:
            next(stream)
    assert exc.value.status == 500 and exc.value.problem["type"].endswith("internal-error")


def test_stream_cut_before_done_is_a_client_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return sse(("delta", {"text": "Halb"}))

    with mock(handler) as client, pytest.raises(ClientError, match="ended before"):
        list(client.ask_stream("NATO?"))


def test_stream_that_is_not_an_event_stream_is_a_client_error() -> None:
    client = mock(lambda r: httpx.Response(200, json={}))
    with client, pytest.raises(ClientError, match="event stream"):
        list(client.chat_stream([("user", "NATO?")]))


def test_unknown_events_are_skipped() -> None:
    done = {"answer": "A [1]", "no_answer": False, "took_ms": 1.0}
    with mock(lambda r: sse(("future", {}), ("delta", {"text": "A [1]"}), ("done", done))) as c:
        events = list(c.ask_stream("NATO?"))
    assert [type(e) for e in events] == [DeltaEvent, DoneEvent]


# --- retries: a refusal that says "later" -------------------------------------------

ANSWER = {"answer": "Eine Antwort. [1]", "no_answer": False, "language": "de",
          "citations": [], "took_ms": 1.0}


def busy(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/problem+json", "x-request-id": "r1"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    slug = "rate-limited" if status == 429 else "unavailable"
    return httpx.Response(status, headers=headers, json={
        "type": f"https://natoqa.dev/problems/{slug}", "status": status, "title": slug})


def replies(*responses: httpx.Response) -> tuple[Any, list[httpx.Request]]:
    """A handler giving ``responses`` in turn (the last one repeats), and what it was sent."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    return handler, seen


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's sleeps, recorded instead of slept."""
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("natoqa.client.client.time.sleep", slept.append)
    monkeypatch.setattr("natoqa.client.client.asyncio.sleep", asleep)
    return slept


def test_busy_server_is_asked_again_after_its_retry_after(waits: list[float]) -> None:
    handler, seen = replies(busy(429, "3"), busy(503, "1"), httpx.Response(200, json=ANSWER))
    with mock(handler, max_retries=4) as client:
        assert client.ask("NATO?").answer == ANSWER["answer"]
    assert len(seen) == 3 and waits == [3.0, 1.0]


def test_retries_are_bounded_and_the_error_keeps_the_headers(waits: list[float]) -> None:
    handler, seen = replies(busy(503, "2"))
    with mock(handler, max_retries=2) as client, pytest.raises(APIError) as exc:
        client.ask("NATO?")
    assert len(seen) == 3 and waits == [2.0, 2.0]
    assert exc.value.status == 503
    assert exc.value.headers["Retry-After"] == "2" and exc.value.headers["x-request-id"] == "r1"


def test_without_retry_after_the_waits_grow(waits: list[float]) -> None:
    handler, _ = replies(busy(503))
    with mock(handler, max_retries=4) as client, pytest.raises(APIError):
        client.ask("NATO?")
    assert len(waits) == 4
    for attempt, wait in enumerate(waits):
        assert 0.5 * 2**attempt * 0.5 <= wait <= 0.5 * 2**attempt


def test_retry_after_as_a_date_and_too_long_a_wait(waits: list[float]) -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    handler, _ = replies(busy(429, soon), httpx.Response(200, json=ANSWER))
    with mock(handler, max_retries=4) as client:
        client.ask("NATO?")
    assert len(waits) == 1 and 3 <= waits[0] <= 5
    handler, seen = replies(busy(429, "3600"))  # an hour: not waited for
    with mock(handler, max_retries=4) as client, pytest.raises(APIError) as exc:
        client.ask("NATO?")
    assert len(seen) == 1 and exc.value.headers["retry-after"] == "3600"


def test_other_errors_are_not_retried(waits: list[float]) -> None:
    handler, seen = replies(httpx.Response(422, json={"status": 422, "title": "Invalid"}))
    with mock(handler, max_retries=4) as client, pytest.raises(APIError):
        client.ask("NATO?")
    assert len(seen) == 1 and waits == []


def test_a_refused_stream_is_retried_before_its_first_event(waits: list[float]) -> None:
    done = {"answer": "A [1]", "no_answer": False, "took_ms": 1.0}
    handler, seen = replies(busy(429, "1"), sse(("delta", {"text": "A [1]"}), ("done", done)))
    with mock(handler, max_retries=4) as client:
        events = list(client.ask_stream("NATO?"))
    assert [type(e) for e in events] == [DeltaEvent, DoneEvent]
    assert len(seen) == 2 and waits == [1.0]


@pytest.mark.anyio
async def test_async_client_retries_too(waits: list[float]) -> None:
    done = {"answer": "A [1]", "no_answer": False, "took_ms": 1.0}
    handler, seen = replies(busy(503, "1"), busy(429, "2"), httpx.Response(200, json=ANSWER))
    async with AsyncClient("http://natoqa.test", transport=httpx.MockTransport(handler)) as c:
        assert (await c.ask("NATO?")).answer == ANSWER["answer"]
        assert waits == [1.0, 2.0]
    handler, seen = replies(busy(503, "1"), sse(("done", done)))
    async with AsyncClient("http://natoqa.test", transport=httpx.MockTransport(handler)) as c:
        assert [type(e) async for e in c.ask_stream("NATO?")] == [DoneEvent]
    handler, seen = replies(busy(503, "0"))
    transport = httpx.MockTransport(handler)
    async with AsyncClient("http://natoqa.test", transport=transport, max_retries=1) as c:
        with pytest.raises(APIError) as exc:
            await c.ask("NATO?")
    assert len(seen) == 2 and exc.value.headers["retry-after"] == "0"


def test_cli_ask_retries_a_busy_server() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from click.testing import CliRunner

    from natoqa.cli import main

    calls: list[str] = []

    class Busy(BaseHTTPRequestHandler):  # a real HTTP server: busy on every other call
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            calls.append(self.path)
            ok = len(calls) % 2 == 0
            body = json.dumps(ANSWER if ok else {"status": 503, "title": "unavailable"})
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        ok = CliRunner().invoke(main, ["ask", "NATO?", "--url", url, "--json"])
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.stdout)["answer"] == ANSWER["answer"] and len(calls) == 2
        refused = CliRunner().invoke(main, ["ask", "NATO?", "--url", url, "--retries", "0"])
        assert refused.exit_code == 4 and len(calls) == 3
    finally:
        server.shutdown()


# --- against the real server -----------------------------------------------------


@pytest.mark.slow
def test_client_ask_chat_and_streams(server_url: str) -> None:
    with Client(server_url) as client:
        answer = client.ask("Was ist das New Force Model?", k=3)
        assert answer.citations and len(answer.citations) <= 3
        assert "New Force Model" in answer.answer

        reply = client.chat(FOLLOW_UP)
        assert "Wiesbaden" in reply.answer

        events = list(client.chat_stream(FOLLOW_UP))
        assert isinstance(events[0], CitationsEvent) and isinstance(events[-1], DoneEvent)
        text = "".join(e.text for e in events if isinstance(e, DeltaEvent))
        assert text == events[-1].answer == reply.answer

        with pytest.raises(APIError) as exc:
            client.chat([("assistant", "Hallo")])
        assert exc.value.status == 422
        assert exc.value.problem["type"].endswith("/validation-error")

        docs = client.documents()
        assert {d.doc_id for d in docs.documents} >= {"002_7ab4b17f7a80dd35.txt"}
        context = client.passage(answer.citations[0].passage_id)
        assert context.passage.passage_id == answer.citations[0].passage_id


@pytest.mark.slow
@pytest.mark.anyio
async def test_async_client(server_url: str) -> None:
    async with AsyncClient(server_url) as client:
        answer = await client.chat(FOLLOW_UP)
        assert "Wiesbaden" in answer.answer
        events = [e async for e in client.ask_stream("Was ist das New Force Model?")]
        assert isinstance(events[-1], DoneEvent)
        assert "".join(e.text for e in events if isinstance(e, DeltaEvent)) == events[-1].answer
        with pytest.raises(APIError):
            await client.ask("")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
