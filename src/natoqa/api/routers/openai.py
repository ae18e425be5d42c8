"""OpenAI-compatible chat completions, so OpenAI SDKs and chat front ends can ask natoqa.

natoqa appears as one model, ``natoqa``. The completion's content is the answer
with its ``[n]`` markers followed by a Markdown list of the sources; the
structured citations travel in the extra top-level field ``citations`` (on the
last chunk when streaming). Sampling parameters are accepted and ignored:
answers are extractive, the same for the same question.
"""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from natoqa._version import __version__
from natoqa.answer.phrases import references_markdown
from natoqa.api.asking import answer, answerer, make_question, with_body
from natoqa.api.deps import JsonBody, ServiceDep, SettingsDep
from natoqa.api.problems import GUARD_STATUSES, ProblemError, problem_responses
from natoqa.api.schemas import (
    OPENAI_MODEL,
    ChatCompletion,
    ChatCompletionChoice,
    ChatCompletionMessage,
    ChatCompletionRequest,
    CitationPublic,
    ModelCard,
    ModelList,
    RequestModels,
    Usage,
)
from natoqa.api.streaming import openai_events, sse_response
from natoqa.models import Answer

#: when the model "natoqa" was first published (OpenAI's ``created``, seconds)
MODEL_CREATED = 1735689600

_STREAM_DOC = {
    "text/event-stream": {
        # OpenAPI 3.1: for an event stream, `schema` describes one event
        "schema": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {
                    "type": "string",
                    "description": "A ChatCompletionChunk as JSON; `{\"error\": …}` (a "
                    "problem with OpenAI's error object) on failure; last `[DONE]`.",
                }
            },
        },
        "example": (
            'data: {"id": "chatcmpl-…", "object": "chat.completion.chunk", "choices": '
            '[{"index": 0, "delta": {"role": "assistant", "content": ""}}], …}\n\n'
            'data: {"id": "chatcmpl-…", "object": "chat.completion.chunk", "choices": '
            '[{"index": 0, "delta": {"content": "Der frühere"}}], …}\n\n'
            'data: {"id": "chatcmpl-…", "choices": [{"index": 0, "delta": {}, '
            '"finish_reason": "stop"}], "citations": [...], "no_answer": false, …}\n\n'
            "data: [DONE]\n\n"
        ),
    }
}


def render(answer: Answer) -> tuple[str, list[CitationPublic]]:
    """The completion's content (answer + sources list) and its structured citations."""
    citations = [CitationPublic.of(c) for c in answer.citations]
    content = answer.text
    if not answer.no_answer:
        content += "\n\n" + references_markdown(citations, answer.language)
    return content, citations


def _check_model(model: str) -> None:
    if model != OPENAI_MODEL:
        raise ProblemError(
            "model-not-found", f"The model {model!r} does not exist; use {OPENAI_MODEL!r}."
        )


async def chat_completions(
    body: ChatCompletionRequest, request: Request, service: ServiceDep, settings: SettingsDep
) -> ChatCompletion | EventSourceResponse:
    """OpenAI's chat completions: the last user message answered from the sources.

    Earlier user messages are the conversation's context (the last
    `NATOQA_MAX_HISTORY`, 20 by default, are used); system, developer and
    assistant messages are ignored. natoqa's own
    parameter `k` (passages to cite) may be sent along, e.g. with the SDKs'
    `extra_body`.
    """
    _check_model(body.model)
    q = make_question(settings, body.question, body.history, body.k)
    engine = service.engine  # no index: 503 now, before a stream starts
    fingerprint = f"natoqa-{__version__}-{engine.index.version}"
    completion_id = "chatcmpl-" + uuid.uuid4().hex
    prompt_tokens = sum(len(m.text.split()) for m in body.messages)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        compute, path = answerer(service, q), request.url.path
        return sse_response(
            lambda drain: openai_events(
                compute,
                render,
                drain,
                completion_id=completion_id,
                fingerprint=fingerprint,
                prompt_tokens=prompt_tokens,
                include_usage=include_usage,
                instance=path,
            ),
            settings,
        )
    result = await answer(service, q)
    content, citations = render(result)
    completion_tokens = len(content.split())
    return ChatCompletion(
        id=completion_id,
        created=int(time.time()),
        choices=[ChatCompletionChoice(message=ChatCompletionMessage(content=content))],
        usage=Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        ),
        system_fingerprint=fingerprint,
        citations=citations,
        no_answer=result.no_answer,
    )


async def list_models() -> ModelList:
    """The models natoqa offers: one, `natoqa`."""
    return ModelList(data=[ModelCard(id=OPENAI_MODEL, created=MODEL_CREATED)])


async def get_model(model_id: str) -> ModelCard:
    """One model: `natoqa`, or 404 `model-not-found`."""
    _check_model(model_id)
    return ModelCard(id=OPENAI_MODEL, created=MODEL_CREATED)


def router(requests: RequestModels) -> APIRouter:
    """The routes, the completion's body bounded by this server's settings."""
    routes = APIRouter(prefix="/v1", tags=["openai"])
    routes.post(
        "/chat/completions",
        response_model=ChatCompletion,
        responses={
            200: {
                "description": "The completion (JSON), or with `\"stream\": true` its chunks "
                "(SSE).",
                "content": _STREAM_DOC,
            },
            **problem_responses(400, 404, 415, 422, 503, *GUARD_STATUSES),
        },
        dependencies=[JsonBody],
    )(with_body(chat_completions, requests.openai))
    routes.get("/models", response_model=ModelList,
               responses=problem_responses(*GUARD_STATUSES))(list_models)
    routes.get("/models/{model_id}", response_model=ModelCard,
               responses=problem_responses(404, 422, *GUARD_STATUSES))(get_model)
    return routes
