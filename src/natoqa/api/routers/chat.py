"""A conversation: the last user message answered in the context of the earlier ones."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from natoqa.api.asking import answer, answerer, make_question, with_body
from natoqa.api.deps import JsonBody, ServiceDep, SettingsDep
from natoqa.api.routers.ask import RESPONSES
from natoqa.api.schemas import AnswerPublic, ChatRequest, RequestModels
from natoqa.api.streaming import natoqa_events, sse_response


async def chat(
    body: ChatRequest, request: Request, service: ServiceDep, settings: SettingsDep
) -> AnswerPublic | EventSourceResponse:
    """Answer the last message (a user's) of a conversation.

    The earlier user messages are what retrieval gets as context, so a follow-up
    like "Und was sagt Rutte dazu?" finds what the conversation is about.
    Assistant messages are accepted and ignored; the server keeps no state.
    The answer has the same fields as /api/v1/ask; `"stream": true` streams it.
    """
    q = make_question(settings, body.question, body.history, body.k)
    if body.stream:
        service.engine  # noqa: B018 - no index: answer 503 now, before the stream starts
        compute, path = answerer(service, q), request.url.path
        return sse_response(lambda drain: natoqa_events(compute, drain, instance=path), settings)
    return AnswerPublic.of(await answer(service, q))


def router(requests: RequestModels) -> APIRouter:
    """The route, its body bounded by this server's settings."""
    routes = APIRouter(prefix="/api/v1", tags=["chat"])
    routes.post("/chat", response_model=AnswerPublic, responses=RESPONSES,
                dependencies=[JsonBody])(
        with_body(chat, requests.chat)
    )
    return routes
