"""The web widget: ``/widget.js``, its ``/widget.css``, and the demo page at ``/``.

The files ship in the package (``natoqa/static``) and are read once, on first
request. Publishers embed an unversioned URL, so the widget is cached only
briefly and revalidated by ETag (a cheap 304); each file is also kept gzipped,
since the widget loads on every page view of an embedding site.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Request, Response

from natoqa.api.routers.docs import FRAME_OPTIONS, inline_hashes

router = APIRouter(tags=["widget"], include_in_schema=False)

#: short: an embedding page picks up a new widget within minutes, then revalidates
WIDGET_CACHE = "public, max-age=300, stale-while-revalidate=86400"
DEMO_CACHE = "no-cache"


def embed_csp(origin: str) -> str:
    """What a publisher's Content-Security-Policy must allow for the widget from ``origin``:
    the script, its stylesheet (a ``<link>`` in its shadow root) and the API calls.
    The demo page shows it for publishers to copy."""
    return f"script-src {origin}; style-src {origin}; connect-src {origin}"


def demo_csp(html: str) -> str:
    """The demo page's own policy: the widget from this origin, the page's inline styles
    by their hashes, nothing from elsewhere, in no frame."""
    styles = " ".join(["'self'", *inline_hashes(html, "style")])
    return (f"default-src 'none'; script-src 'self'; style-src {styles}; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'")


@dataclass(frozen=True)
class Asset:
    """One static file, ready to send."""

    body: bytes
    gzipped: bytes
    media_type: str
    cache_control: str
    etag: str  # of the plain body; the gzipped one is ETag + "-gz" (another representation)
    headers: dict[str, str]  # a page's own: its Content-Security-Policy and frame policy

    @property
    def etag_gz(self) -> str:
        return self.etag[:-1] + '-gz"'


_FILES = {
    "widget.js": ("text/javascript; charset=utf-8", WIDGET_CACHE),
    "widget.css": ("text/css; charset=utf-8", WIDGET_CACHE),
    "demo.html": ("text/html; charset=utf-8", DEMO_CACHE),
    # the admin page (routers/admin_page.py): revalidated on every load, like the demo
    "admin.html": ("text/html; charset=utf-8", DEMO_CACHE),
    "admin.js": ("text/javascript; charset=utf-8", DEMO_CACHE),
    "admin.css": ("text/css; charset=utf-8", DEMO_CACHE),
}


@cache
def asset(name: str) -> Asset:
    """The packaged static file ``name`` (one of ``_FILES``)."""
    media_type, cache_control = _FILES[name]
    body = files("natoqa").joinpath("static", name).read_bytes()
    # mtime=0: the same bytes (and so the same ETag) on every server and restart.
    gzipped = gzip.compress(body, compresslevel=9, mtime=0)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {}
    if media_type.startswith("text/html"):
        headers = {"Content-Security-Policy": demo_csp(body.decode("utf-8")),
                   "X-Frame-Options": FRAME_OPTIONS}
    return Asset(body, gzipped, media_type, cache_control, etag, headers)


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _matches(request: Request, *etags: str) -> bool:
    """Whether If-None-Match names one of ``etags`` (weak comparison, RFC 9110 13.1.2)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    given = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return any(tag in given for tag in etags)


def serve(request: Request, name: str) -> Response:
    """Send ``name`` with caching headers: 304 when the client's copy is current."""
    a = asset(name)
    use_gzip = _accepts_gzip(request)
    headers = {
        "Cache-Control": a.cache_control,
        "ETag": a.etag_gz if use_gzip else a.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        # Pages that isolate themselves (COEP) may still load the widget from this origin.
        "Cross-Origin-Resource-Policy": "cross-origin",
        **a.headers,
    }
    if _matches(request, a.etag, a.etag_gz):
        return Response(status_code=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    return Response(a.gzipped if use_gzip else a.body, media_type=a.media_type, headers=headers)


@router.api_route("/widget.js", methods=["GET", "HEAD"])
def widget_js(request: Request) -> Response:
    """The widget: ``<script src=".../widget.js" async></script>`` on any page."""
    return serve(request, "widget.js")


@router.api_route("/widget.css", methods=["GET", "HEAD"])
def widget_css(request: Request) -> Response:
    """The widget's styles (loaded by widget.js into its shadow root)."""
    return serve(request, "widget.css")


@router.api_route("/", methods=["GET", "HEAD"])
def demo(request: Request) -> Response:
    """A demo article page with the widget embedded."""
    return serve(request, "demo.html")
