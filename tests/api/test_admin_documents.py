"""Issue 19: editors change the sources over HTTP, against a real server and the real model.

Each test uses its own doc_ids on the shared ``editable_server`` (tests/conftest.py).
"""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.builds import auth, corpus_state, wait_build, wait_idle
from tests.api.studies import ANSWER_WORD, QUESTION, blank_pdf, study_pdf
from tests.conftest import ADMIN_TOKEN, CMS_TOKEN, UPLOAD_LIMIT, EditableServer

pytestmark = pytest.mark.slow

DOCS = "/api/v1/admin/documents"
META = {"title": "Drohnen in der Ostsee", "authors": ["Alma Muster", "Bert Beispiel"],
        "date": "2026-11", "publisher": "Institut für Ostseefragen",
        "url": "https://example.org/ostsee-drohnen", "language": "de"}
TEXT = "Die Allianz prüft neue Wege der Zusammenarbeit im Norden. " * 12


def put(server: EditableServer, doc_id: str, body: bytes, media: str = "application/pdf",
        token: str = CMS_TOKEN, params: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.put(f"{server.url}{DOCS}/{doc_id}", content=body, params=params,
                     headers={**auth(token), "content-type": media}, timeout=60)


def ask(server: EditableServer, question: str) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/api/v1/ask", json={"question": question, "k": 3},
                          timeout=60)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def builds(server: EditableServer) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = httpx.get(
        f"{server.url}/api/v1/admin/builds", headers=auth(CMS_TOKEN), timeout=30
    ).json()["builds"]
    return listed


def test_uploaded_pdf_becomes_answerable_and_is_audited(editable_server: EditableServer) -> None:
    server = editable_server
    assert ANSWER_WORD not in ask(server, QUESTION)["answer"]

    response = put(server, "ostsee-drohnen", study_pdf(), params=META)
    assert response.status_code == 202, response.text
    change = response.json()
    assert change["changed"] is True
    assert change["document"]["status"] == "pending"
    assert response.headers["location"] == change["build_url"]
    assert (server.corpus / "ostsee-drohnen.pdf").read_bytes() == study_pdf()
    sidecar = (server.corpus / "ostsee-drohnen.meta.toml").read_text(encoding="utf-8")
    assert 'title = "Drohnen in der Ostsee"' in sidecar

    build = wait_build(server.url, CMS_TOKEN, change["build_id"])
    assert build["state"] == "succeeded", build
    assert build["report"]["added"] == ["ostsee-drohnen.pdf"]
    assert build["changes"][0]["actor"] == "cms"
    version = build["version"]
    assert version == build["report"]["version"]

    answer = ask(server, QUESTION)
    assert ANSWER_WORD in answer["answer"]
    used = [c for c in answer["citations"] if c["used"]]
    assert used[0]["title"] == "Drohnen in der Ostsee"
    assert used[0]["doc_id"] == "ostsee-drohnen.pdf"

    doc = httpx.get(f"{server.url}{DOCS}/ostsee-drohnen", headers=auth(CMS_TOKEN)).json()
    assert doc["status"] == "indexed" and doc["version"] == version
    assert doc["meta"]["authors"] == META["authors"]

    # who, what, when and the resulting version, in one log line
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines()
             if '"natoqa.audit"' in line]
    done = [e for e in lines if e.get("doc_id") == "ostsee-drohnen" and e.get("version")]
    assert done and done[-1]["actor"] == "cms" and done[-1]["version"] == version
    assert done[-1]["event"] == "document.put" and done[-1]["at"]

    # the same upload again: unchanged, nothing is built
    before = len(builds(server))
    again = put(server, "ostsee-drohnen", study_pdf(), params=META)
    assert again.status_code == 200, again.text
    assert again.json()["changed"] is False and again.json()["build_id"] is None
    assert len(builds(server)) == before


@pytest.mark.parametrize(
    ("doc_id", "body", "media", "params", "status", "slug"),
    [
        ("scan", blank_pdf(), "application/pdf", {}, 422, "invalid-document"),
        ("bild", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png", {}, 415,
         "unsupported-document"),
        ("roh", TEXT.encode(), "application/octet-stream", {}, 415, "unsupported-document"),
        ("kaputt", b"%PDF-1.7 nothing else", "application/pdf", {}, 422, "invalid-document"),
        ("latin1", TEXT.encode("latin-1") + "Ü".encode("latin-1"), "text/plain", {}, 422,
         "invalid-document"),
        ("leer", b"   ", "text/plain", {}, 422, "invalid-document"),
        ("gross", b"a " * (UPLOAD_LIMIT // 2 + 100), "text/plain", {}, 413,
         "request-too-large"),
        ("a..b", TEXT.encode(), "text/plain", {}, 422, "invalid-document"),
        ("a%2Fb", TEXT.encode(), "text/plain", {}, 422, "invalid-document"),
        (".versteckt", TEXT.encode(), "text/plain", {}, 422, "invalid-document"),
        ("datum", TEXT.encode(), "text/plain", {"date": "2025-13"}, 422, "validation-error"),
        ("link", TEXT.encode(), "text/plain", {"url": "javascript:alert(1)"}, 422,
         "validation-error"),
        ("sprache", TEXT.encode(), "text/plain", {"language": "Deutsch"}, 422,
         "validation-error"),
        ("feld", TEXT.encode(), "text/plain", {"titel": "Tippfehler"}, 422, "validation-error"),
    ],
)
def test_bad_uploads_get_a_clear_4xx_and_change_nothing(
    editable_server: EditableServer, doc_id: str, body: bytes, media: str,
    params: dict[str, str], status: int, slug: str,
) -> None:
    server = editable_server
    before, builds_before = corpus_state(server.corpus), len(builds(server))
    response = put(server, doc_id, body, media, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/" + slug)
    assert problem["detail"]
    assert corpus_state(server.corpus) == before
    assert len(builds(server)) == builds_before


def test_tokens_are_checked_and_scoped(editable_server: EditableServer) -> None:
    url = editable_server.url
    assert httpx.get(url + DOCS).status_code == 401
    assert httpx.get(url + DOCS, headers=auth("wrong-token-0123456789")).status_code == 403
    assert httpx.get(url + DOCS, headers=auth(ADMIN_TOKEN)).status_code == 200
    assert httpx.get(url + DOCS, headers=auth(CMS_TOKEN)).status_code == 200
    # the documents token may change documents, nothing else
    for method, path in [("GET", "/api/v1/admin/versions"), ("POST", "/api/v1/admin/rollback"),
                         ("POST", "/api/v1/admin/reload"), ("GET", "/api/v1/admin/status")]:
        response = httpx.request(method, url + path, headers=auth(CMS_TOKEN))
        assert response.status_code == 403, (method, path)


def test_interrupted_upload_leaves_no_partial_file(editable_server: EditableServer) -> None:
    server = editable_server
    before = corpus_state(server.corpus)
    parts = urlsplit(server.url)
    head = (f"PUT {DOCS}/abgebrochen HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {CMS_TOKEN}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: 200000\r\n\r\n").encode()
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head + TEXT.encode()[:5000])
        time.sleep(0.5)
    time.sleep(1.0)
    assert corpus_state(server.corpus) == before
    assert not (server.corpus / "abgebrochen.txt").exists()


def test_ten_uploads_in_one_second_are_at_most_two_builds_and_lose_nothing(
    editable_server: EditableServer,
) -> None:
    server = editable_server
    wait_idle(server.url, CMS_TOKEN)
    docs = {f"schwarm-{i}": f"Meldung {i}: Die Übung Schwarm {i} fand in Lager {i * 7} statt. "
            * 20 for i in range(10)}
    sent: list[float] = []

    def send(item: tuple[str, str]) -> httpx.Response:
        sent.append(time.monotonic())
        return put(server, item[0], item[1].encode(), "text/plain",
                   params={"title": f"Schwarm {item[0][-1]}"})

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(send, docs.items()))
    assert max(sent) - min(sent) < 1.0  # all ten sent within one second
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    build_ids = {r.json()["build_id"] for r in responses}
    assert len(build_ids) <= 2, build_ids
    finished = [wait_build(server.url, CMS_TOKEN, b) for b in build_ids]
    assert all(b["state"] == "succeeded" for b in finished), finished
    added = {doc for b in finished for doc in b["report"]["added"]}
    assert added == {f"{d}.txt" for d in docs}
    listed = httpx.get(f"{server.url}{DOCS}", params={"q": "schwarm"},
                       headers=auth(CMS_TOKEN)).json()["documents"]
    assert sorted(d["doc_id"] for d in listed) == sorted(docs)
    assert {d["status"] for d in listed} == {"indexed"}


def test_delete_then_rollback(editable_server: EditableServer) -> None:
    server = editable_server
    wait_idle(server.url, CMS_TOKEN)
    created = put(server, "kurzmeldung", TEXT.encode(), "text/markdown",
                  params={"title": "Kurzmeldung Nord"})
    assert wait_build(server.url, CMS_TOKEN, created.json()["build_id"])["state"] == "succeeded"

    removed = httpx.delete(f"{server.url}{DOCS}/kurzmeldung", headers=auth(CMS_TOKEN))
    assert removed.status_code == 202, removed.text
    assert removed.json()["document"]["in_corpus"] is False
    assert not (server.corpus / "kurzmeldung.md").exists()
    assert not (server.corpus / "kurzmeldung.meta.toml").exists()
    build = wait_build(server.url, CMS_TOKEN, removed.json()["build_id"])
    assert build["report"]["removed"] == ["kurzmeldung.md"]
    gone = httpx.get(f"{server.url}{DOCS}/kurzmeldung", headers=auth(CMS_TOKEN))
    assert gone.status_code == 404
    assert httpx.delete(f"{server.url}{DOCS}/kurzmeldung",
                        headers=auth(CMS_TOKEN)).status_code == 404

    versions = httpx.get(f"{server.url}/api/v1/admin/versions", headers=auth(ADMIN_TOKEN)).json()
    newest = versions["versions"][0]
    assert newest["current"] and newest["served"] and newest["report"]["removed"]
    back = httpx.post(f"{server.url}/api/v1/admin/rollback", headers=auth(ADMIN_TOKEN))
    assert back.status_code == 200, back.text
    assert back.json()["previous_version"] == newest["version"]
    served = httpx.get(f"{server.url}/api/v1/documents").json()
    assert served["version"] == back.json()["version"]
    assert "kurzmeldung.md" in {d["doc_id"] for d in served["documents"]}


def test_openapi_documents_the_admin_document_routes(editable_server: EditableServer) -> None:
    spec = httpx.get(editable_server.url + "/openapi.json").json()
    put_op = spec["paths"]["/api/v1/admin/documents/{doc_id}"]["put"]
    assert "application/pdf" in put_op["requestBody"]["content"]
    assert {"202", "200", "413", "415", "422"} <= set(put_op["responses"])
    for path in ("/api/v1/admin/documents", "/api/v1/admin/builds/{build_id}",
                 "/api/v1/admin/versions", "/api/v1/admin/rollback"):
        assert path in spec["paths"], path
