"""The widget's routes and CORS, through the app (no model needed: these routes use no index)."""

from __future__ import annotations

import gzip

import pytest
from fastapi.testclient import TestClient

from natoqa.api.app import create_app
from natoqa.config import load_settings
from natoqa.errors import ConfigError

ORIGIN = "https://zeitung.example"


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(load_settings(cors_origins=[ORIGIN])))


def test_widget_js_has_type_caching_headers_and_etag(client: TestClient) -> None:
    r = client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"].startswith("public, max-age=")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "content-encoding" not in r.headers
    assert "customElements.define" in r.text
    etag = r.headers["etag"]
    again = client.get("/widget.js", headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert client.get("/widget.js", headers={"If-None-Match": '"other"'}).status_code == 200


def test_widget_is_sent_gzipped_when_accepted(client: TestClient) -> None:
    plain = client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    r = client.get("/widget.js", headers={"Accept-Encoding": "gzip, br"})
    assert r.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in r.headers["vary"]
    assert r.content == plain.content  # httpx decodes it; the same file arrived
    assert int(r.headers["content-length"]) == len(gzip.compress(plain.content, 9, mtime=0))
    assert r.headers["etag"] != plain.headers["etag"]  # another representation
    # Either ETag revalidates (a cache may hold the other encoding).
    for etag in (r.headers["etag"], "W/" + plain.headers["etag"]):
        assert client.get("/widget.js", headers={"If-None-Match": etag}).status_code == 304
    refused = client.get("/widget.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_css_and_demo_page(client: TestClient) -> None:
    css = client.get("/widget.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert ":host" in css.text
    demo = client.get("/")
    assert demo.status_code == 200
    assert demo.headers["content-type"] == "text/html; charset=utf-8"
    assert demo.headers["cache-control"] == "no-cache"
    assert '<html lang="de">' in demo.text
    assert demo.text.count("<script") == 1 and 'src="widget.js"' in demo.text
    assert client.head("/widget.js").status_code == 200


def test_cors_preflight_for_an_allowed_origin(client: TestClient) -> None:
    r = client.options(
        "/api/v1/chat",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-credentials" not in r.headers
    # A simple response names the headers the widget reads.
    r = client.get("/widget.js", headers={"Origin": ORIGIN})
    assert "retry-after" in r.headers["access-control-expose-headers"].lower()


def test_cors_refuses_other_origins() -> None:
    client = TestClient(create_app(load_settings()))  # no setting: own origin only
    r = client.options(
        "/api/v1/chat",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-allow-origin" not in client.get(
        "/", headers={"Origin": "https://elsewhere.example"}
    ).headers


@pytest.mark.parametrize("bad", ["https://x.example/", "x.example", "https://x.example/path", ""])
def test_cors_origins_must_be_origins(bad: str) -> None:
    with pytest.raises(ConfigError, match="NATOQA_CORS_ORIGINS"):
        load_settings(cors_origins=[bad])


def test_cors_origins_accepts_origins_and_star() -> None:
    settings = load_settings(cors_origins=["https://a.example", "http://localhost:8080", "*"])
    assert settings.cors_origins == ["https://a.example", "http://localhost:8080", "*"]


def _policy(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


def test_demo_page_has_a_csp_and_no_frames_and_shows_the_publishers_csp(
    client: TestClient,
) -> None:
    import html as htmllib

    from natoqa.api.routers.docs import csp_hash
    from natoqa.api.routers.widget import embed_csp

    demo = client.get("/")
    assert demo.headers["x-frame-options"] == "DENY"
    policy = _policy(demo.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"] and policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # widget.js only: no inline script at all
    assert policy["connect-src"] == ["'self'"]
    # the page's inline style is allowed by its hash, not by 'unsafe-inline'
    style = demo.text.split("<style>", 1)[1].split("</style>", 1)[0]
    assert policy["style-src"] == ["'self'", csp_hash(style)]
    # publishers can copy what their own policy must allow
    assert htmllib.escape(embed_csp("https://YOUR-NATOQA")) in demo.text


def test_docs_has_a_csp_that_fits_what_swagger_ui_loads(client: TestClient) -> None:
    import re

    from natoqa.api.routers.docs import SWAGGER_CDN, csp_hash

    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["x-frame-options"] == "DENY"
    policy = _policy(docs.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"] and policy["default-src"] == ["'none'"]
    page = docs.text
    loaded = re.findall(r'(?:src|href)="(https://[^"]+)"', page)
    assert loaded and all(u.startswith(SWAGGER_CDN) or u in policy["img-src"] for u in loaded)
    inline = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert policy["script-src"] == [SWAGGER_CDN, *(csp_hash(s) for s in inline)]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["connect-src"] == ["'self'"]  # the schema and "Try it out"
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/redoc").status_code == 404  # it would load from more places
