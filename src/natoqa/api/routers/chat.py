"""A conversation: the last user message answered in the context of the earlier ones."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from natoqa.api.asking import make_question
from natoqa.api.deps import ServiceDep, SettingsDep
from natoqa.api.routers.ask import answer_router, respond
from natoqa.api.schemas import AnswerPublic, ChatRequest, RequestModels


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
    return await respond(q, body.stream, request, service, settings)


def router(requests: RequestModels) -> APIRouter:
    """The route, its body bounded by this server's settings."""
    return answer_router("/chat", chat, requests.chat)
