"""The widget embedded on another site: hostile source text, CORS, API keys, rate limits.

One real server for the module, on a small index built here with the real
model from a corpus that includes a document full of markup. A tiny "publisher"
web server on another loopback port serves the pages that embed the widget,
under the strict Content-Security-Policy the demo page recommends:
as ``http://127.0.0.1:P`` it is an allowed origin, as ``http://localhost:P``
(same server, another origin) it is not.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Page, expect

from natoqa.api.routers.widget import embed_csp
from tests.conftest import CORPUS, free_port, start_server, stop_server
from tests.widget.helpers import ask, finished_answers, open_panel, shadow_js, widget

pytestmark = [pytest.mark.slow, pytest.mark.browser]

#: one key per test (and one for the test's own API calls): separate rate-limit buckets
KEYS = {name: f"{name}-key-0123456789abcdef" for name in ("xss", "cors", "rate", "api")}
RATE_LIMIT = "2/8second"

XSS_TEXT = (
    "Raketenabwehr im Baltikum\n\n"
    "Die baltischen Staaten fordern <img src=x onerror=\"window.__xss='img'\"> eine dauerhafte "
    "Raketenabwehr der NATO im Baltikum <script>window.__xss='script'</script>. "
    "Die Raketenabwehr im Baltikum soll nach dem Willen der drei Staaten bis 2030 "
    "einsatzbereit sein. Litauen, Lettland und Estland wollen dafür gemeinsam Mittel "
    "bereitstellen.\n"
)
XSS_META = """\
title = "Bericht <img src=x onerror=\\"window.__xss='title'\\"> zur Raketenabwehr"
authors = ["<script>window.__xss='author'</script>"]
date = "2025-03"
language = "de"
url = "javascript:window.__xss='url'"
"""
XSS_QUESTION = "Was fordern die baltischen Staaten bei der Raketenabwehr?"


class Publisher:
    """Pages of another website that embed the widget from the natoqa server."""

    def __init__(self) -> None:
        self.port = free_port()
        self.service_url = ""  # set once the natoqa server runs
        publisher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                key = parse_qs(urlparse(self.path).query).get("key", [""])[0]
                body = (
                    '<!doctype html><html lang="de"><head><meta charset="utf-8">'
                    '<link rel="icon" href="data:,"><title>Verlag</title></head>'
                    "<body><h1>Ein Artikel</h1>"
                    f'<script src="{publisher.service_url}/widget.js" data-api-key="{key}">'
                    "</script></body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                # a strict publisher: nothing but what the demo page tells publishers to allow
                self.send_header("Content-Security-Policy", "default-src 'none'; img-src data:; "
                                 + embed_csp(publisher.service_url))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.allowed = f"http://127.0.0.1:{self.port}"
        self.other = f"http://localhost:{self.port}"

    def page(self, origin: str, key: str) -> str:
        return f"{origin}/article?key={key}"


@pytest.fixture(scope="module")
def publisher() -> Iterator[Publisher]:
    pub = Publisher()
    thread = threading.Thread(target=pub.httpd.serve_forever, daemon=True)
    thread.start()
    yield pub
    pub.httpd.shutdown()


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:  # type: ignore[no-untyped-def]
    from natoqa.index.builder import build_index

    corpus = tmp_path_factory.mktemp("hostile") / "corpus"
    corpus.mkdir()
    (corpus / "raketen.txt").write_text(XSS_TEXT, encoding="utf-8")
    (corpus / "raketen.meta.toml").write_text(XSS_META, encoding="utf-8")
    for name in ("002_7ab4b17f7a80dd35.txt", "002_7ab4b17f7a80dd35.meta.toml"):
        shutil.copy(CORPUS / name, corpus / name)
    index = corpus.parent / "index"
    build_index(corpus, index, embedder)
    return index


@pytest.fixture(scope="module")
def service(hostile_index: Path, publisher: Publisher) -> Iterator[str]:
    proc, url = start_server(
        hostile_index,
        env={
            "NATOQA_CORS_ORIGINS": json.dumps([publisher.allowed]),
            "NATOQA_API_KEYS": json.dumps(list(KEYS.values())),
            "NATOQA_RATE_LIMIT": RATE_LIMIT,
        },
    )
    publisher.service_url = url
    try:
        yield url
    finally:
        stop_server(proc)


def test_source_text_is_shown_as_text_and_never_runs(
    page: Page, service: str, publisher: Publisher
) -> None:
    expected = httpx.post(
        service + "/api/v1/ask", json={"question": XSS_QUESTION},
        headers={"X-API-Key": KEYS["api"]},
    ).json()
    assert not expected["no_answer"] and "<img" in expected["answer"]
    assert expected["citations"][0]["doc_id"] == "raketen.txt"

    page.goto(publisher.page(publisher.allowed, KEYS["xss"]))
    open_panel(page)
    message = ask(page, XSS_QUESTION)
    # The markup is there, as characters, in the answer and on the card.
    expect(message.locator(".text")).to_contain_text("<img src=x onerror=")
    message.locator(".ref").first.click()
    card = message.locator('.card[data-n="1"]')
    expect(card.locator(".card-title")).to_have_text(
        "Bericht <img src=x onerror=\"window.__xss='title'\"> zur Raketenabwehr"
    )
    expect(card.locator(".quote")).to_contain_text("<script>window.__xss='script'</script>")
    expect(card.locator(".byline")).to_contain_text("<script>window.__xss='author'</script>")
    card.locator(".expand").click()
    expect(card.locator(".passage .main")).to_contain_text("<img src=x onerror=")

    page.wait_for_timeout(500)  # an <img> that failed to load would have fired onerror by now
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert shadow_js(page, "return root.querySelectorAll('img, script, iframe').length") == 0
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    # The javascript: URL from the metadata is not offered as a link.
    assert shadow_js(page, "return root.querySelectorAll('a').length") == 0


def test_allowed_origin_embeds_the_widget(page: Page, service: str, publisher: Publisher) -> None:
    preflight = httpx.options(
        service + "/api/v1/chat",
        headers={
            "Origin": publisher.allowed,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == publisher.allowed

    page.goto(publisher.page(publisher.allowed, KEYS["cors"]))
    open_panel(page)
    message = ask(page, "Wer ist der neue NATO-Generalsekretär?")
    expect(message.locator(".card").first).to_be_visible()


def test_other_origins_are_refused(page: Page, service: str, publisher: Publisher) -> None:
    preflight = httpx.options(
        service + "/api/v1/chat",
        headers={"Origin": publisher.other, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers

    page.goto(publisher.page(publisher.other, KEYS["cors"]))
    open_panel(page)  # the script itself loads anywhere; the API refuses the page
    widget(page, "textarea").fill("Wer ist der neue NATO-Generalsekretär?")
    widget(page, "textarea").press("Enter")
    expect(widget(page, ".error.unreachable")).to_be_visible()
    expect(widget(page, ".bot")).to_have_count(0)


def test_rate_limited_then_retry_after_the_wait(
    page: Page, service: str, publisher: Publisher
) -> None:
    page.goto(publisher.page(publisher.allowed, KEYS["rate"]))
    open_panel(page)
    for _ in range(2):  # use up this client's requests
        r = httpx.get(service + "/api/v1/documents", headers={"X-API-Key": KEYS["rate"]})
        assert r.status_code == 200
    with page.expect_response("**/api/v1/chat") as refused:
        widget(page, "textarea").fill("Wer ist der neue NATO-Generalsekretär?")
        widget(page, "textarea").press("Enter")
    assert refused.value.status == 429
    wait = int(refused.value.headers["retry-after"])
    error = widget(page, ".error.rateLimited")
    # The widget read Retry-After (CORS exposes it to the page) and says how long.
    expect(error).to_have_text(
        re.compile(rf"Zu viele Anfragen\. Bitte in {wait} s erneut versuchen\.")
    )
    page.wait_for_timeout(wait * 1000 + 300)
    page.get_by_role("button", name="Erneut versuchen").click()
    expect(finished_answers(page)).to_have_count(1)
    expect(error).to_have_count(0)
