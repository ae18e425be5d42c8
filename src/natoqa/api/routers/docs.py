"""``/docs``: the Swagger UI, with a Content-Security-Policy that fits what it loads.

FastAPI's own page loads Swagger UI from the jsDelivr CDN and starts it with an
inline script; it is served here instead so that the policy can name exactly
that: the CDN folder, the inline script by its hash, the API's own origin for
the schema and "Try it out". No frame may embed it (clickjacking). ReDoc, which
would need fonts and workers from more places, is not offered.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

SWAGGER_CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"
FAVICON = "https://fastapi.tiangolo.com/img/favicon.png"
#: no frame may show these pages (RFC 7034; CSP's frame-ancestors for current browsers)
FRAME_OPTIONS = "DENY"


def csp_hash(source: str) -> str:
    """A CSP source expression allowing exactly this inline script or style."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def inline_hashes(html: str, tag: str) -> list[str]:
    """Hashes of the attribute-less inline ``<script>`` or ``<style>`` blocks of ``html``."""
    return [csp_hash(body) for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL)]


@cache
def swagger_page(openapi_url: str, title: str) -> tuple[bytes, str]:
    """The Swagger UI page and its Content-Security-Policy."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} - Swagger UI",
        swagger_js_url=SWAGGER_CDN + "swagger-ui-bundle.js",
        swagger_css_url=SWAGGER_CDN + "swagger-ui.css",
        swagger_favicon_url=FAVICON,
        oauth2_redirect_url=None,
        # no badge fetched from validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None},
    )
    html = bytes(page.body).decode("utf-8")
    policy = "; ".join([
        "default-src 'none'",
        f"script-src {SWAGGER_CDN} {' '.join(inline_hashes(html, 'script'))}",
        # Swagger UI sets style attributes from its markup, not only through the CSSOM
        f"style-src {SWAGGER_CDN} 'unsafe-inline'",
        f"img-src 'self' data: {FAVICON}",
        "connect-src 'self'",  # the schema, and "Try it out"
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])
    return bytes(page.body), policy


@router.api_route("/docs", methods=["GET", "HEAD"])
def docs(request: Request) -> HTMLResponse:
    """The interactive API documentation."""
    body, policy = swagger_page(request.app.openapi_url, request.app.title)
    return HTMLResponse(body, headers={
        "Content-Security-Policy": policy,
        "X-Frame-Options": FRAME_OPTIONS,
        "X-Content-Type-Options": "nosniff",
    })
