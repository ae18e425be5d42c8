"""Document uploads get their own body limit, ``NATOQA_MAX_UPLOAD_BYTES``.

The abuse limits (``api/limits.py``) hold every request to
``NATOQA_MAX_BODY_BYTES`` (256 KiB: a question), far below a PDF. Uploads go
through a second instance of the same middleware with the upload limit, so
they keep the rate limit, concurrency cap and deadline; their counters are
their own.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from natoqa.api.limits import LimitsMiddleware
from natoqa.config import Settings

UPLOAD_PREFIX = "/api/v1/admin/documents/"


class UploadAwareLimits:
    """:class:`LimitsMiddleware` with the upload limit for ``PUT`` of a document."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.default = LimitsMiddleware(app, settings)
        upload = settings.model_copy(update={"max_body_bytes": settings.max_upload_bytes})
        self.uploads = LimitsMiddleware(app, upload)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_upload = (
            scope["type"] == "http"
            and scope["method"] == "PUT"
            and scope["path"].startswith(UPLOAD_PREFIX)
        )
        await (self.uploads if is_upload else self.default)(scope, receive, send)
