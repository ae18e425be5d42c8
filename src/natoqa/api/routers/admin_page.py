"""The admin page at ``/admin``: documents, builds and index versions in the browser.

Plain HTML, JS and CSS from the package (no build step), served like the
widget (ETag, gzip). The page holds no secret: it asks for the admin token and
sends it as a bearer token to the same origin's admin API. It may not be
framed by other sites (clickjacking).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from natoqa.api.routers.widget import serve

router = APIRouter(tags=["admin page"], include_in_schema=False)

_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def _page(request: Request, name: str) -> Response:
    response = serve(request, name)
    response.headers.update(_HEADERS)
    return response


@router.api_route("/admin", methods=["GET", "HEAD"])
def admin_html(request: Request) -> Response:
    """The admin page."""
    return _page(request, "admin.html")


@router.api_route("/admin.js", methods=["GET", "HEAD"])
def admin_js(request: Request) -> Response:
    return _page(request, "admin.js")


@router.api_route("/admin.css", methods=["GET", "HEAD"])
def admin_css(request: Request) -> Response:
    return _page(request, "admin.css")
