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


def mock(handler: Any) -> Client:
    return Client("http://natoqa.test", transport=httpx.MockTransport(handler))


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
