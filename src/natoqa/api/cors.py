"""CORS: which other sites' pages may call the API from the browser (the embedded widget).

The widget on the service's own origin (the demo at ``/``) needs nothing; pages
elsewhere need their origin in ``NATOQA_CORS_ORIGINS``. No cookies are used, so
credentials are never allowed, and ``"*"`` is safe to offer for an open service.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from natoqa.config import Settings

#: what the widget sends (X-API-Key only when a page configures one)
ALLOWED_HEADERS = ["Content-Type", "Accept", "X-API-Key", "X-Request-ID"]
#: what the widget reads: the wait after a 429, the id to quote in a bug report
EXPOSED_HEADERS = ["Retry-After", "X-Request-ID"]


def install_cors(app: FastAPI, settings: Settings) -> None:
    """Add the CORS middleware; call it after every other ``add_middleware``.

    Last added runs first: preflights (which carry no API key) are answered
    before the limits see them, and refusals such as 429 still carry the CORS
    headers, so the widget can read ``Retry-After`` instead of seeing a network error.
    """
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "HEAD"],
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=600,
    )
