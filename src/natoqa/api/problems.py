"""Errors as RFC 9457 problem+json, with a stable ``type`` per kind of error."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from natoqa.errors import IndexError_, NatoqaError, NotFound

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://natoqa.dev/problems/"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def problem(
    status: int,
    slug: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
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
        slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized",
                403: "forbidden", 413: "request-too-large", 415: "unsupported-media-type",
                429: "rate-limited", 503: "unavailable"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, slug, str(exc.detail), instance=request.url.path,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return problem(404, "not-found", exc.message, instance=request.url.path)

    @app.exception_handler(IndexError_)
    async def _no_index(request: Request, exc: IndexError_) -> JSONResponse:
        return problem(503, "index-unavailable", exc.message, instance=request.url.path)

    @app.exception_handler(NatoqaError)
    async def _natoqa(request: Request, exc: NatoqaError) -> JSONResponse:
        log.error("request failed: %s", exc.message)
        return problem(500, exc.type, "The request could not be completed.",
                       instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged with its traceback for operators; the client sees no internals.
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "internal-error", "The request could not be completed.",
                       instance=request.url.path)
