"""Server-Sent Events on /api/v1/ask and /api/v1/chat (contract in docs/ARCHITECTURE.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import anyio
import httpx
import pytest
from httpx_sse import connect_sse

from natoqa.api.streaming import answer_pieces
from tests.api.conftest import make_app
from tests.conftest import natoqa_cli

#: far from the corpus in every sense: retrieval must abstain
OFF_TOPIC_EN = "Which football club won the 1998 World Cup final?"

QUESTION = "Was ist das New Force Model?"


def events(
    url: str, path: str, body: dict[str, Any], **headers: str
) -> tuple[httpx.Response, list[tuple[str, Any]]]:
    with (
        httpx.Client(timeout=60) as client,
        connect_sse(client, "POST", url + path, json=body, headers=headers) as source,
    ):
        received = [(e.event, json.loads(e.data)) for e in source.iter_sse()]
        return source.response, received


def check_contract(received: list[tuple[str, Any]]) -> str:
    """citations, delta+, done — deltas joined are the answer. Returns the answer."""
    names = [name for name, _ in received]
    assert names[0] == "citations" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"} and len(names) >= 3
    head, done = received[0][1], received[-1][1]
    assert set(head) == {"citations", "no_answer", "language", "request_id"}
    text = "".join(data["text"] for name, data in received if name == "delta")
    assert text == done["answer"]
    assert done["took_ms"] > 0 and "embed_ms" in done["timings"]
    assert done["no_answer"] == head["no_answer"]
    return text


@pytest.mark.parametrize("words", [1, 3, 5])
@pytest.mark.parametrize(
    "text", ["", "Ein Satz. [1]", "  Vorn  und hinten  [2] ", "Zeile\nzwei [1]\n"]
)
def test_answer_pieces_join_back_exactly(text: str, words: int) -> None:
    pieces = answer_pieces(text, words)
    assert "".join(pieces) == text
    assert all(len(p.split()) <= words for p in pieces)


@pytest.mark.slow
def test_ask_stream_follows_the_contract_and_matches_the_json_answer(server_url: str) -> None:
    response, received = events(
        server_url,
        "/api/v1/ask",
        {"question": QUESTION, "stream": True},
        **{"X-Request-ID": "sse-1"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"] == "sse-1"
    text = check_contract(received)
    head = received[0][1]
    assert head["request_id"] == "sse-1" and head["language"] == "de"
    plain = httpx.post(server_url + "/api/v1/ask", json={"question": QUESTION}, timeout=60).json()
    assert text == plain["answer"]
    assert head["citations"] == plain["citations"]
    assert len([name for name, _ in received if name == "delta"]) > 3  # really in pieces


@pytest.mark.slow
def test_chat_stream_answers_the_follow_up(server_url: str) -> None:
    body = {
        "messages": [
            {"role": "user", "content": "Was ist die Allied Reaction Force?"},
            {"role": "assistant", "content": "…"},
            {"role": "user", "content": "Wie groß soll sie sein?"},
        ],
        "stream": True,
    }
    response, received = events(server_url, "/api/v1/chat", body)
    assert response.status_code == 200
    assert "40 000" in check_contract(received)


@pytest.mark.slow
def test_no_answer_streams_the_phrase(server_url: str) -> None:
    _, received = events(server_url, "/api/v1/ask", {"question": OFF_TOPIC_EN, "stream": True})
    assert check_contract(received) == "I found nothing on this in the sources."
    assert received[0][1]["no_answer"] is True


@pytest.mark.slow
def test_invalid_streaming_request_is_a_plain_problem(server_url: str) -> None:
    r = httpx.post(server_url + "/api/v1/ask", json={"question": "", "stream": True}, timeout=60)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.slow
@pytest.mark.anyio
async def test_error_in_the_middle_becomes_an_error_event(
    qa_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(qa_service)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(qa_service, "ask", broken)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/api/v1/ask", json={"question": QUESTION, "stream": True})
    assert r.status_code == 200  # the stream had started: the error is an event, not a cut
    blocks = [b for b in r.text.split("\n\n") if b.strip()]
    assert len(blocks) == 1 and blocks[0].startswith("event: error\ndata: ")
    problem = json.loads(blocks[0].split("data: ", 1)[1])
    assert problem["type"].endswith("/internal-error") and problem["status"] == 500
    assert "disk on fire" not in r.text  # internals stay in the log
    assert problem["request_id"] == r.headers["x-request-id"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_no_index_is_a_503_before_any_stream(embedder: Any, tmp_path: Any) -> None:
    from natoqa.index.store import IndexStore
    from natoqa.service.service import QAService

    app = make_app(QAService(embedder, IndexStore(tmp_path / "none")))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path, body in [
            ("/api/v1/ask", {"question": QUESTION, "stream": True}),
            ("/api/v1/chat", {"messages": [{"role": "user", "content": QUESTION}], "stream": True}),
        ]:
            r = await client.post(path, json=body)
            assert r.status_code == 503
            assert r.json()["type"].endswith("/index-unavailable")


@pytest.mark.slow
def test_cli_ask_stream_prints_answer_and_sources(server_url: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "natoqa", "ask", QUESTION, "--url", server_url, "--stream"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "New Force Model" in proc.stdout and "[1]" in proc.stdout
    assert "Quellen:" in proc.stdout
    assert proc.stderr == ""


@pytest.mark.slow
def test_cli_ask_stream_json_is_one_event_per_line(server_url: str) -> None:
    out = natoqa_cli("ask", QUESTION, "--url", server_url, "--stream", "--json", check=True).stdout
    received = [(e["event"], e["data"]) for e in map(json.loads, out.splitlines())]
    check_contract(received)


# --- a server that is stopping (sse-starlette's flag, which uvicorn's SIGTERM handler sets) ---


def sse_blocks(text: str) -> list[tuple[str | None, Any]]:
    out: list[tuple[str | None, Any]] = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if not lines:
            continue
        event = next((ln[7:] for ln in lines if ln.startswith("event: ")), None)
        data = "\n".join(ln[6:] for ln in lines if ln.startswith("data: "))
        out.append((event, data if data == "[DONE]" else json.loads(data)))
    return out


@pytest.fixture
def stopping(monkeypatch: pytest.MonkeyPatch) -> None:
    from sse_starlette.sse import AppStatus

    monkeypatch.setattr(AppStatus, "should_exit", True)


@pytest.mark.anyio
@pytest.mark.usefixtures("stopping")
async def test_a_stream_arriving_while_the_server_stops_is_still_answered() -> None:
    from tests.fakes import StubService

    app = make_app(StubService(0.2))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/api/v1/ask", json={"question": QUESTION, "stream": True})
    assert r.status_code == 200
    names = [name for name, _ in sse_blocks(r.text)]
    assert names[0] == "citations" and names[-1] == "done", r.text


@pytest.mark.anyio
@pytest.mark.usefixtures("stopping")
async def test_a_stream_that_cannot_finish_before_shutdown_ends_with_an_error_event() -> None:
    from tests.fakes import StubService

    service = StubService(2.0)
    app = make_app(service, shutdown_timeout=1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        natoqa = await client.post("/api/v1/ask", json={"question": QUESTION, "stream": True})
        openai = await client.post("/v1/chat/completions", json={
            "model": "natoqa", "stream": True,
            "messages": [{"role": "user", "content": QUESTION}]})
    received = sse_blocks(natoqa.text)
    assert [name for name, _ in received] == ["error"], natoqa.text
    problem = received[0][1]
    assert problem["status"] == 503 and problem["type"].endswith("/unavailable")
    chunks = [data for _, data in sse_blocks(openai.text)]
    assert chunks[-1] == "[DONE]" and chunks[-2]["error"]["code"] == "unavailable", openai.text
    while len(service.finished) < 2:  # let the stand-in's threads end before the loop does
        await anyio.sleep(0.1)


@pytest.mark.slow
def test_streams_when_the_server_is_stopped_end_with_an_event_never_cut(
    built_index: Any,
) -> None:
    import signal
    import threading

    from tests.conftest import start_server, stop_server

    # 10 s to drain: streams are answered within about 5 s of SIGTERM, or end with an error
    proc, url = start_server(built_index, env={"NATOQA_RATE_LIMIT": "off",
                                               "NATOQA_SHUTDOWN_TIMEOUT": "10"})
    outcomes: dict[int, tuple[str, Any]] = {}
    under_way = threading.Semaphore(0)

    def one(i: int) -> None:
        started = False
        try:
            with (
                httpx.Client(timeout=60) as client,
                # questions of the largest size: slow enough to be under way at SIGTERM
                client.stream("POST", url + "/api/v1/ask", json={
                    "question": (f"{QUESTION} ({i}) " * 100)[:2000], "stream": True}) as r,
            ):
                started = True
                under_way.release()
                outcomes[i] = (str(r.status_code), r.read().decode())
        except httpx.TransportError as exc:
            # refused before the response started is allowed; a cut stream is not
            outcomes[i] = ("cut" if started else "refused", repr(exc))

    try:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for _ in threads:  # every stream has started; their answers are being computed
            under_way.acquire(timeout=60)
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(timeout=90)
        # uvicorn re-raises the signal once it has shut down gracefully
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        stop_server(proc)
    assert len(outcomes) == 16
    for status, text in outcomes.values():
        assert status in ("200", "503", "refused"), (status, text)
        if status == "200":
            names = [name for name, _ in sse_blocks(text)]
            assert names and names[-1] in ("done", "error"), text
    assert any(status == "200" for status, _ in outcomes.values())
