"""Server-Sent Events for streamed answers, with sse-starlette.

Two dialects over one answer:

* natoqa's (``"stream": true`` on /api/v1/ask and /api/v1/chat), the contract in
  docs/ARCHITECTURE.md: ``citations``, then ``delta``s, then ``done``;
* OpenAI's (/v1/chat/completions): unnamed ``data:`` chunks, then ``data: [DONE]``.

The response starts at once; the answer is computed inside the stream, in a
worker thread. Whatever fails after that point is sent as an error event
(problem+json; OpenAI's ``{"error": …}`` in its dialect) and the stream ends
normally, so a client never sees a cut connection.

That holds when the server stops, too. sse-starlette cancels every stream at
SIGTERM unless it is given a grace period; streams here are short, so they get
one (:class:`Drain`): a stream running or arriving while the server stops is
still answered, and one whose answer does not come before uvicorn's own
deadline (``NATOQA_SHUTDOWN_TIMEOUT``) ends with a 503 ``unavailable`` error
event instead of being cut.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from sse_starlette import EventSourceResponse, JSONServerSentEvent, ServerSentEvent

from natoqa.api.asking import in_thread
from natoqa.api.middleware import current_request_id
from natoqa.api.problems import problem_body, problem_for_exception
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
from natoqa.config import Settings
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


@dataclass(frozen=True)
class Drain:
    """How one stream ends when the server stops: sse-starlette sets ``stopping``, and the
    answer then has ``seconds`` to come before the stream ends with an error event."""

    seconds: float
    stopping: anyio.Event = field(default_factory=anyio.Event)

    @classmethod
    def within(cls, shutdown_timeout: float) -> Drain:
        # uvicorn cancels what still runs shutdown_timeout s after SIGTERM; sse-starlette
        # notices the signal up to 0.5 s late, and on a busy machine the event loop's
        # timers fire late too (seconds, when answer threads crowd the CPU): half of it
        return cls(shutdown_timeout / 2)

    async def expired(self) -> None:
        await self.stopping.wait()
        await anyio.sleep(self.seconds)


def sse_response(
    events: Callable[[Drain], AsyncIterator[ServerSentEvent]], settings: Settings
) -> EventSourceResponse:
    """The response streaming ``events(drain)``, drained (not cut) when the server stops."""
    drain = Drain.within(settings.shutdown_timeout)
    return EventSourceResponse(
        events(drain), ping=PING_SECONDS, sep=SEP,
        shutdown_event=drain.stopping,
        # a safety net only: the stream has ended by the drain's deadline
        shutdown_grace_period=settings.shutdown_timeout,
    )


def _stopped(instance: str) -> dict[str, Any]:
    return problem_body("unavailable", "the server is shutting down; retry in a moment",
                        instance=instance)


async def _answer_unless_stopped(compute: Callable[[], Answer], drain: Drain) -> Answer | None:
    """The answer; None when the server is stopping and it did not come within the drain."""
    work = asyncio.ensure_future(in_thread(compute))
    expired = asyncio.ensure_future(drain.expired())
    try:
        await asyncio.wait((work, expired), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the client left: the request's slot is held until
        work.cancel()  # the thread is done (in_thread waits for it)
        with anyio.CancelScope(shield=True):
            await asyncio.wait((work,))
        raise
    finally:
        expired.cancel()
    if work.done():
        return work.result()
    work.cancel()  # the process is about to end; the thread's result is not needed
    return None


async def natoqa_events(
    compute: Callable[[], Answer], drain: Drain, *, instance: str
) -> AsyncIterator[ServerSentEvent]:
    """natoqa's event stream for the answer ``compute`` produces."""
    try:
        answer = await _answer_unless_stopped(compute, drain)
        if answer is None:
            yield _json_event(_stopped(instance), event="error")
            return
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
    drain: Drain,
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
        answer = await _answer_unless_stopped(compute, drain)
        if answer is None:
            yield _json_event(_stopped(instance))
            yield ServerSentEvent("[DONE]", sep=SEP)
            return
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
