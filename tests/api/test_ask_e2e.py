"""End to end: the real server with the real model over the bundled corpus."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import natoqa_cli

pytestmark = pytest.mark.slow


def ask(url: str, **body: object) -> httpx.Response:
    return httpx.post(url + "/api/v1/ask", json=body, timeout=60)


def cited_texts(answer: dict[str, Any]) -> list[str]:
    return [c["text"] for c in answer["citations"]]


def test_german_question_cites_the_right_passage(server_url: str) -> None:
    r = ask(server_url, question="Wie viele Menschen arbeiten im Internationalen Sekretariat?")
    assert r.status_code == 200
    answer = r.json()
    assert not answer["no_answer"]
    assert "1 352 Beschäftigte" in answer["citations"][0]["text"]
    assert answer["took_ms"] > 0
    first = answer["citations"][0]
    assert first["n"] == 1 and first["doc_id"] == "000_1806e3d119a3e492.txt"
    assert first["title"].startswith("Die Zukunft der NATO")


def test_english_question_over_german_text(server_url: str) -> None:
    r = ask(server_url, question="Who succeeded Jens Stoltenberg as NATO Secretary General?", k=3)
    assert r.status_code == 200
    answer = r.json()
    assert not answer["no_answer"]
    assert len(answer["citations"]) <= 3
    assert any("Mark Rutte übernimmt am Dienstag" in t for t in cited_texts(answer)[:2])


def test_citations_are_best_first_and_markers_resolve(server_url: str) -> None:
    answer = ask(server_url, question="Was ist das New Force Model?").json()
    scores = [c["score"] for c in answer["citations"]]
    assert scores == sorted(scores, reverse=True)
    numbers = {c["n"] for c in answer["citations"]}
    import re

    for marker in re.findall(r"\[(\d+)\]", answer["answer"]):
        assert int(marker) in numbers


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"question": ""}, 422),
        ({"question": "x" * 2001}, 422),
        ({"question": "NATO?", "k": 0}, 422),
        ({"question": "NATO?", "k": 21}, 422),
        ({"question": "NATO?", "history": "not a list"}, 422),
        ({"question": 5}, 422),
    ],
)
def test_invalid_requests_get_problem_json(
    server_url: str, body: dict[str, object], status: int
) -> None:
    r = ask(server_url, **body)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == status and problem["type"].endswith("validation-error")
    assert problem["detail"]


def test_body_that_is_not_json(server_url: str) -> None:
    r = httpx.post(
        server_url + "/api/v1/ask",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["type"].endswith("invalid-json")


def test_cli_ask_prints_cited_passages(server_url: str) -> None:
    out = natoqa_cli("ask", "Was erbt Rutte von seinem Vorgänger?", "--url", server_url,
                     check=True).stdout
    assert "[1]" in out and "Quellen:" in out


def test_cli_ask_json(server_url: str) -> None:
    out = natoqa_cli("ask", "What does Rutte inherit?", "--url", server_url, "--json",
                     check=True).stdout
    data = json.loads(out)
    assert data["citations"] and data["language"] == "en"


def test_cli_ask_unreachable_server_is_one_clear_line() -> None:
    from tests.conftest import free_port

    proc = natoqa_cli("ask", "NATO?", "--url", f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 3
    assert "cannot reach natoqa" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
