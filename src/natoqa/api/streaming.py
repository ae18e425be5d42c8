"""Server-Sent Events for streamed answers, with sse-starlette.

Two dialects over one answer:

* natoqa's (``"stream": true`` on /api/v1/ask and /api/v1/chat), the contract in
  docs/ARCHITECTURE.md: ``citations``, then ``delta``s, then ``done``;
* OpenAI's (/v1/chat/completions): unnamed ``data:`` chunks, then ``data: [DONE]``.

The response starts at once; the answer is computed inside the stream, in a
worker thread. Whatever fails after that point is sent as an error event
(problem+json; OpenAI's ``{"error": …}`` in its dialect) and the stream ends
normally, so a client never sees a cut connection.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread
from sse_starlette import EventSourceResponse, JSONServerSentEvent, ServerSentEvent

from natoqa.api.middleware import current_request_id
from natoqa.api.problems import problem_for_exception
from natoqa.api.schemas import (
    ChatCompletionChunk,
    ChunkChoice,
    ChunkDelta,
    CitationPublic,
    CitationsEvent,
    DeltaEvent,
    DoneEvent,
    Usage,
)
from natoqa.models import Answer

#: comments sent while the answer is being computed keep proxies from timing out
PING_SECONDS = 15
#: words per delta event: small enough to show progress, few enough to stay cheap
WORDS_PER_DELTA = 3

_PIECE = re.compile(r"\s*\S+")

SSE_RESPONSE_DOC: dict[str, Any] = {
    "text/event-stream": {
        # OpenAPI 3.1: for an event stream, `schema` describes one event
        "schema": {
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": {"enum": ["citations", "delta", "done", "error"]},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "description": "JSON: CitationsEvent, DeltaEvent, DoneEvent or, for "
                    "`error`, a problem (RFC 9457).",
                },
            },
        },
        "example": (
            'event: citations\ndata: {"citations": [...], "no_answer": false, '
            '"language": "de", "request_id": "5b0e7a3c…"}\n\n'
            'event: delta\ndata: {"text": "Der frühere niederländische"}\n\n'
            'event: delta\ndata: {"text": " Regierungschef Mark Rutte …"}\n\n'
            'event: done\ndata: {"answer": "…", "no_answer": false, "took_ms": 41.2, '
            '"timings": {"embed_ms": 30.1, "search_ms": 0.4}}\n\n'
        ),
    }
}


def answer_pieces(text: str, words: int = WORDS_PER_DELTA) -> list[str]:
    """``text`` cut into pieces of a few words (leading spaces kept: they join back exactly)."""
    tokens = _PIECE.findall(text)
    pieces = ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)]
    rest = len(text) - sum(len(p) for p in pieces)
    if rest and pieces:
        pieces[-1] += text[len(text) - rest :]  # trailing whitespace
    return pieces or [text]


#: "\n" line ends: the most common in the wild, and what hand-written parsers expect
SEP = "\n"


def _json_event(data: Any, event: str | None = None) -> ServerSentEvent:
    return JSONServerSentEvent(data, event=event, sep=SEP)


def sse_response(events: AsyncIterator[ServerSentEvent]) -> EventSourceResponse:
    return EventSourceResponse(events, ping=PING_SECONDS, sep=SEP)


async def natoqa_events(
    compute: Callable[[], Answer], *, instance: str
) -> AsyncIterator[ServerSentEvent]:
    """natoqa's event stream for the answer ``compute`` produces."""
    try:
        answer = await anyio.to_thread.run_sync(compute)
        yield _json_event(
            CitationsEvent(
                citations=[CitationPublic.of(c) for c in answer.citations],
                no_answer=answer.no_answer,
                language=answer.language,
                request_id=current_request_id(),
            ).model_dump(mode="json"),
            event="citations",
        )
        for piece in answer_pieces(answer.text):
            yield _json_event(DeltaEvent(text=piece).model_dump(), event="delta")
        yield _json_event(
            DoneEvent(
                answer=answer.text,
                no_answer=answer.no_answer,
                took_ms=round(answer.took_ms, 2),
                timings={k: round(v, 2) for k, v in answer.timings.items()},
                confidence=round(answer.confidence, 4),
            ).model_dump(mode="json"),
            event="done",
        )
    except Exception as exc:
        yield _json_event(problem_for_exception(exc, instance), event="error")


async def openai_events(
    compute: Callable[[], Answer],
    render: Callable[[Answer], tuple[str, list[CitationPublic]]],
    *,
    completion_id: str,
    fingerprint: str,
    prompt_tokens: int,
    include_usage: bool,
    instance: str,
) -> AsyncIterator[ServerSentEvent]:
    """OpenAI's chunk stream; ``render`` turns the answer into (content, citations)."""
    created = int(time.time())

    def chunk(delta: ChunkDelta, **fields: Any) -> ServerSentEvent:
        finish = fields.pop("finish_reason", None)
        body = ChatCompletionChunk(
            id=completion_id,
            created=created,
            choices=[ChunkChoice(delta=delta, finish_reason=finish)],
            system_fingerprint=fingerprint,
            **fields,
        )
        exclude = {k for k in ("citations", "no_answer", "usage") if k not in fields}
        return _json_event(body.model_dump(mode="json", exclude=exclude))

    try:
        yield chunk(ChunkDelta(role="assistant", content=""))
        answer = await anyio.to_thread.run_sync(compute)
        content, citations = render(answer)
        for piece in answer_pieces(content):
            yield chunk(ChunkDelta(content=piece))
        yield chunk(
            ChunkDelta(), finish_reason="stop", citations=citations, no_answer=answer.no_answer
        )
        if include_usage:
            completion_tokens = len(content.split())
            usage = Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            )
            yield _json_event(
                ChatCompletionChunk(
                    id=completion_id, created=created, choices=[], usage=usage,
                    system_fingerprint=fingerprint,
                ).model_dump(mode="json", exclude={"citations", "no_answer"})
            )
    except Exception as exc:
        yield _json_event(problem_for_exception(exc, instance))
    yield ServerSentEvent("[DONE]", sep=SEP)
