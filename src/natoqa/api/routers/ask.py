"""Asking one question (optionally with earlier questions as context)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sse_starlette import EventSourceResponse

from natoqa.api.asking import Question, answer, answerer, make_question, with_body
from natoqa.api.deps import JsonBody, ServiceDep, SettingsDep
from natoqa.api.problems import GUARD_STATUSES, problem_responses
from natoqa.api.schemas import AnswerPublic, AskRequest, RequestModels
from natoqa.api.streaming import SSE_RESPONSE_DOC, natoqa_events, sse_response

RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The answer (JSON), or with `\"stream\": true` its events (SSE).",
        "content": SSE_RESPONSE_DOC,
    },
    **problem_responses(400, 415, 422, 503, *GUARD_STATUSES),
}


async def ask(
    body: AskRequest, request: Request, service: ServiceDep, settings: SettingsDep
) -> AnswerPublic | EventSourceResponse:
    """Answer one question from the sources, with numbered citations (best first).

    `history` holds earlier user questions (oldest first) that give a follow-up
    its meaning. With `"stream": true` the answer comes as Server-Sent Events:
    `citations`, then `delta`s, then `done` (docs/API.md).
    """
    q = make_question(settings, body.question, body.history, body.k)
    return await respond(q, body.stream, request, service, settings)


async def respond(
    q: Question, stream: bool, request: Request, service: ServiceDep, settings: SettingsDep
) -> AnswerPublic | EventSourceResponse:
    """The answer to ``q`` as JSON, or streamed as natoqa's events (ask and chat alike)."""
    if stream:
        service.engine  # noqa: B018 - no index: answer 503 now, before the stream starts
        compute, path = answerer(service, q), request.url.path
        return sse_response(lambda drain: natoqa_events(compute, drain, instance=path), settings)
    return AnswerPublic.of(await answer(service, q))


def answer_router(
    path: str, endpoint: Callable[..., Coroutine[Any, Any, Any]], body: type[BaseModel]
) -> APIRouter:
    """``POST /api/v1{path}`` answered by ``endpoint``, its body read as ``body`` (bounded by
    this server's settings)."""
    routes = APIRouter(prefix="/api/v1", tags=[path.strip("/")])
    routes.post(path, response_model=AnswerPublic, responses=RESPONSES,
                dependencies=[JsonBody])(with_body(endpoint, body))
    return routes


def router(requests: RequestModels) -> APIRouter:
    """The route, its body bounded by this server's settings."""
    return answer_router("/ask", ask, requests.ask)
