"""POST /api/v1/chat against the real server: follow-ups, validation, limits, no-answer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.api.conftest import make_app

#: far from the corpus in every sense: retrieval must abstain
OFF_TOPIC_EN = "Which football club won the 1998 World Cup final?"

pytestmark = pytest.mark.slow

PROBLEM_JSON = "application/problem+json"


def chat(url: str, *messages: tuple[str, str], **extra: Any) -> httpx.Response:
    body = {"messages": [{"role": r, "content": c} for r, c in messages], **extra}
    return httpx.post(url + "/api/v1/chat", json=body, timeout=60)


def used(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in answer["citations"] if c["used"]]


def test_single_question_answers_like_ask(server_url: str) -> None:
    question = "Wie viele Menschen arbeiten im Internationalen Sekretariat?"
    r = chat(server_url, ("user", question))
    assert r.status_code == 200
    answer = r.json()
    asked = httpx.post(server_url + "/api/v1/ask", json={"question": question}, timeout=60).json()
    assert set(answer) == set(asked)  # the same fields scripts rely on
    assert answer["answer"] == asked["answer"]
    assert [c["passage_id"] for c in answer["citations"]] == [
        c["passage_id"] for c in asked["citations"]
    ]
    assert "1 352 Beschäftigte" in answer["answer"]


@pytest.mark.parametrize(
    ("first", "follow_up", "expected"),
    [
        # "sie" is the Allied Reaction Force of the first turn
        ("Was ist die Allied Reaction Force?", "Wie groß soll sie sein?", "40 000"),
        # "das neue Hauptquartier" is the one the Washington summit decided on
        (
            "Was beschloss der Gipfel in Washington zur Ukraine?",
            "Und wo soll das neue Hauptquartier sein?",
            "Wiesbaden",
        ),
        # the example: "dazu" is China
        ("Wie sieht die NATO China?", "Und was sagt Rutte dazu?", "China"),
    ],
)
def test_follow_up_is_answered_in_the_context_of_the_conversation(
    server_url: str, first: str, follow_up: str, expected: str
) -> None:
    opening = chat(server_url, ("user", first)).json()
    r = chat(server_url, ("user", first), ("assistant", opening["answer"]), ("user", follow_up))
    assert r.status_code == 200
    answer = r.json()
    assert not answer["no_answer"]
    assert expected in answer["answer"]
    assert any(expected in c["text"] for c in used(answer))
    for n in re.findall(r"\[(\d+)\]", answer["answer"]):
        assert int(n) in {c["n"] for c in used(answer)}


def test_assistant_messages_do_not_change_the_answer(server_url: str) -> None:
    """Only user turns are context; the server keeps no state between requests."""
    q1, q2 = "Was ist die Allied Reaction Force?", "Wie groß soll sie sein?"
    a = chat(server_url, ("user", q1), ("assistant", "Keine Ahnung."), ("user", q2)).json()
    b = chat(server_url, ("user", q1), ("assistant", "Etwas ganz anderes."), ("user", q2)).json()
    assert a["answer"] == b["answer"]


@pytest.mark.parametrize(
    ("question", "phrase", "language"),
    [
        ("Wie backe ich ein Sauerteigbrot?", "Dazu finde ich in den Quellen nichts.", "de"),
        (OFF_TOPIC_EN, "I found nothing on this in the sources.", "en"),
    ],
)
def test_no_answer_phrase_follows_the_question_language(
    server_url: str, question: str, phrase: str, language: str
) -> None:
    answer = chat(server_url, ("user", question)).json()
    assert answer["no_answer"] is True
    assert answer["answer"] == phrase and answer["language"] == language
    assert not used(answer)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "assistant", "content": "Hallo"}]}, "last message"),
        ({"messages": [{"role": "system", "content": "Sei nett."}]}, "role"),
        ({"messages": [{"role": "user", "content": ""}]}, "content"),
        ({"messages": [{"role": "user", "content": "   "}]}, "blank"),
        ({"messages": [{"role": "user", "content": "x" * 2001}]}, "2000"),
        ({"messages": [{"role": "user", "content": "NATO?"}], "k": 0}, "k"),
        ({"messages": [{"role": "user", "content": "NATO?"}], "k": 21}, "k"),
        ({"messages": [{"role": "user", "content": "NATO?"}], "session": "x"}, "session"),
        ({"messages": [{"role": "user", "content": "NATO?"}] * 42}, "messages"),
        (
            {"messages": [{"role": "user", "content": f"Frage {i}?"} for i in range(22)]},
            "earlier user messages",
        ),
    ],
)
def test_invalid_conversations_get_a_validation_problem(
    server_url: str, body: dict[str, Any], needle: str
) -> None:
    r = httpx.post(server_url + "/api/v1/chat", json=body, timeout=60)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    problem = r.json()
    assert problem["type"] == "https://natoqa.dev/problems/validation-error"
    assert problem["status"] == 422 and problem["instance"] == "/api/v1/chat"
    assert needle in problem["detail"]
    assert problem["request_id"] == r.headers["x-request-id"]
    assert "Value error" not in problem["detail"]


@pytest.mark.anyio
async def test_server_settings_can_lower_the_limits(qa_service: Any) -> None:
    app = make_app(qa_service, max_question_chars=20, max_history=1, max_k=3, default_k=2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.post(
            "/api/v1/chat", json={"messages": [{"role": "user", "content": "New Force Model?"}]}
        )
        assert ok.status_code == 200 and len(ok.json()["citations"]) == 2  # default_k
        long = await client.post(
            "/api/v1/chat", json={"messages": [{"role": "user", "content": "x" * 21}]}
        )
        assert long.status_code == 422 and "at most 20 characters" in long.json()["detail"]
        many_k = await client.post("/api/v1/ask", json={"question": "NATO?", "k": 4})
        assert many_k.status_code == 422 and many_k.json()["errors"][0]["loc"] == ["body", "k"]
        history = await client.post(
            "/api/v1/ask", json={"question": "NATO?", "history": ["a", "b"]}
        )
        assert history.status_code == 422 and "history" in history.json()["detail"]


def run_chat(url: str, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "natoqa", "chat", "--url", url, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_chat_json_keeps_the_conversation(server_url: str) -> None:
    proc = run_chat(
        server_url,
        "Was ist die Allied Reaction Force?\nWie groß soll sie sein?\n"
        "/new\nWie groß soll sie sein?\n",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == 3
    assert "40 000" in answers[1]["answer"]  # the follow-up had its context
    assert answers[2]["answer"] != answers[1]["answer"]  # after /new it had none


def test_cli_chat_streams_answers_with_sources(server_url: str) -> None:
    proc = run_chat(
        server_url,
        "Was beschloss der Gipfel in Washington zur Ukraine?\n"
        "Und wo soll das neue Hauptquartier sein?\n/quit\nnot asked\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Wiesbaden" in proc.stdout and proc.stdout.count("Quellen:") == 2
    assert "Traceback" not in proc.stderr


def test_cli_chat_reports_a_refused_question_and_goes_on(server_url: str) -> None:
    proc = run_chat(server_url, "x" * 2001 + "\nWas ist das New Force Model?\n", "--json")
    assert proc.returncode == 4
    assert "2000 characters" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stdout.splitlines()) == 1  # the second question was answered


def test_cli_chat_unreachable_server() -> None:
    from tests.conftest import free_port

    proc = run_chat(f"http://127.0.0.1:{free_port()}", "NATO?\n")
    assert proc.returncode == 3
    assert "cannot reach natoqa" in proc.stderr and "Traceback" not in proc.stderr
