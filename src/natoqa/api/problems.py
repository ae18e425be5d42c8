"""Errors as RFC 9457 problem+json, with a stable ``type`` per kind of error.

Every error response of the API is ``application/problem+json``::

    {"type": "https://natoqa.dev/problems/validation-error", "title": "Invalid request",
     "status": 422, "detail": "messages: the last message must be from the user",
     "instance": "/api/v1/chat", "request_id": "3f2c…", "errors": [...]}

``type`` is one of :data:`PROBLEM_TYPES` (documented in docs/API.md); scripts
branch on it, never on ``title`` or ``detail``. ``request_id`` repeats the
response's ``X-Request-ID``. Under ``/v1/`` (the OpenAI-compatible endpoints)
the body also carries OpenAI's ``error`` object, so OpenAI SDKs show the message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from natoqa.api.middleware import REQUEST_ID_HEADER, current_request_id
from natoqa.errors import IndexStoreError, NatoqaError, NotFound, StoreUnreachable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://natoqa.dev/problems/"
#: seconds a caller is asked to wait while the index's database is unreachable: the
#: server polls it every NATOQA_RELOAD_INTERVAL (1 s) and answers again at once
STORE_RETRY_AFTER = 2
STORE_DOWN = "the index's database cannot be reached just now; retry shortly"


@dataclass(frozen=True)
class ProblemType:
    """One documented kind of error."""

    slug: str
    status: int
    title: str
    description: str
    #: OpenAI's ``error.type`` for the same situation (used under /v1/)
    openai_type: str = "invalid_request_error"

    @property
    def uri(self) -> str:
        return TYPE_BASE + self.slug


PROBLEM_TYPES: dict[str, ProblemType] = {
    p.slug: p
    for p in (
        ProblemType("invalid-json", 400, "Invalid JSON", "The request body is not valid JSON."),
        ProblemType(
            "validation-error",
            422,
            "Invalid request",
            "The body or a parameter breaks the schema or a documented limit; "
            "`errors` lists each violation with its location.",
        ),
        ProblemType("unauthorized", 401, "Unauthorized", "A token is required and missing "
                    "or wrong.", "authentication_error"),
        ProblemType("forbidden", 403, "Forbidden", "The token may not do this.",
                    "permission_error"),
        ProblemType("not-found", 404, "Not found", "No such route, document or passage.",
                    "not_found_error"),
        ProblemType("model-not-found", 404, "Model not found",
                    "OpenAI-compatible endpoints: the model is not `natoqa`.", "not_found_error"),
        ProblemType("method-not-allowed", 405, "Method not allowed",
                    "The route exists but not with this HTTP method (see `Allow`)."),
        ProblemType("request-too-large", 413, "Request too large",
                    "The body exceeds the server's size limit."),
        ProblemType("unsupported-media-type", 415, "Unsupported media type",
                    "The body is not `application/json`."),
        ProblemType("incomplete-upload", 400, "Incomplete upload",
                    "The connection ended before the whole document arrived; nothing was "
                    "stored."),
        ProblemType("conflict", 409, "Conflict",
                    "The index is busy with another build or rollback; retry when it is done."),
        ProblemType("unsupported-document", 415, "Unsupported document type",
                    "A document upload's `Content-Type` is not PDF, HTML, Markdown or plain "
                    "text; nothing was stored."),
        ProblemType("invalid-document", 422, "Invalid document",
                    "The uploaded document or its `doc_id` cannot be used (a PDF without text, "
                    "text that is not UTF-8, no text to index, a `doc_id` with a slash or "
                    "`..`); nothing was stored."),
        ProblemType("rate-limited", 429, "Too many requests",
                    "Slow down; `Retry-After` says when to try again.", "rate_limit_error"),
        ProblemType("internal-error", 500, "Internal error",
                    "A bug: the request could not be completed. Quote `request_id` when "
                    "reporting it.", "server_error"),
        ProblemType("index-unavailable", 503, "Index unavailable",
                    "No index is loaded (the server is starting or no index was built).",
                    "server_error"),
        ProblemType("store-unavailable", 503, "Index store unavailable",
                    "The database holding the index (`NATOQA_STORE`) cannot be reached; the "
                    "server reconnects by itself: retry after `Retry-After` seconds.",
                    "server_error"),
        ProblemType("corpus-unavailable", 503, "Corpus unavailable",
                    "The server's corpus folder (`NATOQA_CORPUS_DIR`) is missing.",
                    "server_error"),
        ProblemType("unavailable", 503, "Service unavailable",
                    "The server is overloaded or shutting down; retry later.", "server_error"),
    )
}

_BY_STATUS = {
    400: "invalid-json",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "request-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    503: "unavailable",
}


class ProblemError(Exception):
    """Raised by routes to answer with a documented problem."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.kind = PROBLEM_TYPES[slug]
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_body(
    slug: str, detail: str | None, *, instance: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The problem+json object for ``slug`` (also sent as an SSE ``error`` event)."""
    kind = PROBLEM_TYPES.get(slug) or PROBLEM_TYPES["internal-error"]
    body: dict[str, Any] = {
        "type": kind.uri,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        "instance": instance,
        "request_id": current_request_id(),
        **extra,
    }
    if instance is not None and instance.startswith("/v1/"):
        body["error"] = {
            "message": detail or kind.title,
            "type": kind.openai_type,
            "param": None,
            "code": kind.slug.replace("-", "_"),
        }
    return body


def problem_for_exception(exc: BaseException, instance: str | None) -> dict[str, Any]:
    """The problem body for an exception raised while answering (used mid-stream)."""
    if isinstance(exc, ProblemError):
        return problem_body(exc.kind.slug, exc.detail, instance=instance, **exc.extra)
    if isinstance(exc, StoreUnreachable):
        return problem_body("store-unavailable", STORE_DOWN, instance=instance)
    if isinstance(exc, IndexStoreError):
        return problem_body("index-unavailable", exc.message, instance=instance)
    if isinstance(exc, NotFound):
        return problem_body("not-found", exc.message, instance=instance)
    log.error("request failed on %s", instance, exc_info=exc)
    return problem_body("internal-error", "The request could not be completed.", instance=instance)


def problem(
    status: int,
    slug: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response. ``slug`` should be one of :data:`PROBLEM_TYPES`."""
    body = problem_body(slug, detail, instance=instance, **extra)
    body["status"] = status
    all_headers = dict(headers or {})
    if body["request_id"]:
        # also set by the middleware; needed here for the 500 handler, which runs outside it
        all_headers[REQUEST_ID_HEADER] = body["request_id"]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=all_headers)


#: what the limits middleware may answer on any /api/* or /v1/* route (keys, size, rate,
#: a request that took too long)
GUARD_STATUSES = (401, 413, 429, 503)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the given error statuses, as problem+json."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        kinds = [p for p in PROBLEM_TYPES.values() if p.status == status]
        description = "; ".join(f"`{p.slug}`: {p.description}" for p in kinds) or "Error."
        example = kinds[0] if kinds else PROBLEM_TYPES["internal-error"]
        out[status] = {
            "description": description,
            "content": {
                PROBLEM_JSON: {
                    "schema": PROBLEM_SCHEMA,
                    "example": {
                        "type": example.uri,
                        "title": example.title,
                        "status": status,
                        "detail": example.description,
                        "instance": "/api/v1/ask",
                        "request_id": "5b0e7a3c9d2f4e81a6c4b2d0f1e3a5c7",
                    },
                }
            },
        }
    return out


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "Stable error kind."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": ["string", "null"]},
        "instance": {"type": ["string", "null"], "description": "The request path."},
        "request_id": {"type": ["string", "null"], "description": "= X-Request-ID."},
        "errors": {
            "type": "array",
            "items": {"type": "object"},
            "description": "validation-error only: one entry per violation.",
        },
        "error": {"type": "object", "description": "/v1/ only: OpenAI's error object."},
    },
}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(exc.kind.status, exc.kind.slug, exc.detail, instance=request.url.path,
                       headers=exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": list(e.get("loc", ())),
                # pydantic prefixes a validator's own message; the reader needs only the message
                "msg": str(e.get("msg", "")).removeprefix("Value error, "),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(400, "invalid-json", "The request body is not valid JSON.",
                           instance=request.url.path)
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in errors
        )
        return problem(422, "validation-error", detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = _BY_STATUS.get(exc.status_code, "internal-error")
        headers = dict(getattr(exc, "headers", None) or {})
        allowed = [m.strip() for m in headers.get("Allow", "").split(",") if m.strip()]
        if "GET" in allowed and "HEAD" not in allowed:
            headers["Allow"] = ", ".join([*allowed, "HEAD"])  # natoqa.api.head answers it
        return problem(exc.status_code, slug, str(exc.detail), instance=request.url.path,
                       headers=headers or None)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return problem(404, "not-found", exc.message, instance=request.url.path)

    @app.exception_handler(StoreUnreachable)
    async def _store_down(request: Request, exc: StoreUnreachable) -> JSONResponse:
        # the database's address is for operators (/readyz with a key, the log), not callers
        return problem(503, "store-unavailable", STORE_DOWN, instance=request.url.path,
                       headers={"Retry-After": str(STORE_RETRY_AFTER)})

    @app.exception_handler(IndexStoreError)
    async def _no_index(request: Request, exc: IndexStoreError) -> JSONResponse:
        return problem(503, "index-unavailable", exc.message, instance=request.url.path)

    @app.exception_handler(NatoqaError)
    async def _natoqa(request: Request, exc: NatoqaError) -> JSONResponse:
        log.error("request failed (%s): %s", exc.type, exc.message)
        return problem(500, "internal-error", "The request could not be completed.",
                       instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged with its traceback for operators; the client sees no internals.
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "internal-error", "The request could not be completed.",
                       instance=request.url.path)
