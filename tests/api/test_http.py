"""HTTP itself: HEAD wherever GET works, 415 for a body that is not JSON.

A stand-in service (tests/api/conftest.py): these are properties of the routes,
not of the answers.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import make_app
from tests.fakes import StubService

PROBLEM = "application/problem+json"
GET_ROUTES = ["/healthz", "/readyz", "/metrics", "/api/v1/documents", "/v1/models",
              "/v1/models/natoqa", "/openapi.json", "/docs", "/", "/widget.js"]


@pytest.fixture
async def client() -> Any:
    app = make_app(StubService(0.0), cors_origins=["https://zeitung.example"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


@pytest.mark.anyio
@pytest.mark.parametrize("path", GET_ROUTES)
async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient, path: str) -> None:
    plain = {"Accept-Encoding": "identity"}
    get = await client.get(path, headers=plain)
    head = await client.head(path, headers=plain)
    assert get.status_code == 200, get.text
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    if path != "/metrics":  # a scrape's figures move between two requests
        assert int(head.headers["content-length"]) == len(get.content)


@pytest.mark.anyio
async def test_head_elsewhere_is_still_404_or_405(client: httpx.AsyncClient) -> None:
    assert (await client.head("/nowhere")).status_code == 404
    post_only = await client.head("/api/v1/ask")
    assert post_only.status_code == 405 and post_only.headers["allow"] == "POST"
    wrong = await client.post("/healthz")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD"


@pytest.mark.anyio
async def test_cors_preflight_allows_head(client: httpx.AsyncClient) -> None:
    r = await client.options("/api/v1/documents", headers={
        "Origin": "https://zeitung.example", "Access-Control-Request-Method": "HEAD"})
    assert r.status_code == 200
    assert "HEAD" in r.headers["access-control-allow-methods"]


@pytest.mark.anyio
@pytest.mark.parametrize("path,body", [
    ("/api/v1/ask", {"question": "Was ist das New Force Model?"}),
    ("/api/v1/chat", {"messages": [{"role": "user", "content": "Was ist das?"}]}),
    ("/v1/chat/completions", {"model": "natoqa",
                              "messages": [{"role": "user", "content": "Was ist das?"}]}),
])
@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", "", None,
])
async def test_a_body_that_is_not_json_is_415(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], content_type: str | None
) -> None:
    import json

    headers = {} if content_type is None else {"Content-Type": content_type}
    r = await client.post(path, content=json.dumps(body), headers=headers)
    assert r.status_code == 415, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    problem = r.json()
    assert problem["type"].endswith("/unsupported-media-type") and problem["status"] == 415
    if path.startswith("/v1/"):
        assert problem["error"]["code"] == "unsupported_media_type"
    # not even broken JSON gets further: the media type is checked first
    broken = await client.post(path, content=b"{", headers=headers)
    assert broken.status_code == 415


@pytest.mark.anyio
@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "Application/JSON",
    "application/vnd.api+json",
])
async def test_json_media_types_are_read(client: httpx.AsyncClient, content_type: str) -> None:
    r = await client.post("/api/v1/ask", content=b'{"question": "Was ist das?"}',
                          headers={"Content-Type": content_type})
    assert r.status_code == 200, r.text


KEY = "reader-key-" + "r" * 20
ADMIN = "admin-token-" + "a" * 20


@pytest.mark.anyio
async def test_readyz_shows_strangers_only_whether_the_server_is_ready() -> None:
    app = make_app(StubService(0.0), api_keys=KEY, admin_token=ADMIN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        stranger = await client.get("/readyz")
        assert stranger.status_code == 200 and stranger.json() == {"status": "ready"}
        assert "/srv/secret" not in stranger.text
        wrong = await client.get("/readyz", headers={"X-API-Key": "x" * 30})
        assert wrong.json() == {"status": "ready"}
        for headers in ({"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"},
                        {"Authorization": f"Bearer {ADMIN}"}):
            known = await client.get("/readyz", headers=headers)
            assert known.status_code == 200
            body = known.json()
            assert body["index"]["index_dir"] == "/srv/secret/index"
            assert body["model"]["id"] == "stub-model" and body["cache_entries"] == 0


@pytest.mark.anyio
async def test_readyz_of_an_open_server_shows_its_details(client: httpx.AsyncClient) -> None:
    body = (await client.get("/readyz")).json()  # no API keys: nothing to authenticate with
    assert body["status"] == "ready" and body["index"]["version"] == "v-stub"
