"""What the ask, chat and OpenAI routes share: the server's limits and answering off the loop.

The request schemas enforce the documented hard limits; a server may lower the
configurable ones (``NATOQA_MAX_QUESTION_CHARS``, ``NATOQA_MAX_HISTORY``,
``NATOQA_MAX_K``), which is checked here with the same ``validation-error``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread

from natoqa.api.problems import ProblemError
from natoqa.config import Settings
from natoqa.models import Answer
from natoqa.service.service import QAService

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Question:
    """A question as the service takes it, after the server's limits."""

    text: str
    history: tuple[str, ...]
    k: int


def _violation(field: str, message: str) -> ProblemError:
    return ProblemError(
        "validation-error",
        f"{field}: {message}",
        errors=[{"loc": ["body", field], "msg": message, "type": "limit"}],
    )


def make_question(
    settings: Settings,
    question: str,
    history: Sequence[str],
    k: int | None,
    *,
    field: str = "question",
    truncate_history: bool = False,
) -> Question:
    """Apply the server's limits; raise a ``validation-error`` problem when one is broken.

    ``truncate_history`` keeps only the most recent turns instead of refusing
    (chat front ends send whole conversations and cannot be told to trim).
    """
    if len(question) > settings.max_question_chars:
        raise _violation(field, f"at most {settings.max_question_chars} characters")
    if k is not None and k > settings.max_k:
        raise _violation("k", f"at most {settings.max_k} on this server")
    turns = list(history)
    if len(turns) > settings.max_history:
        if not truncate_history:
            where = "messages" if field == "messages" else "history"
            raise _violation(where, f"at most {settings.max_history} earlier questions")
        turns = turns[len(turns) - settings.max_history :]
    return Question(question, tuple(turns), min(k or settings.default_k, settings.max_k))


def answer_now(service: QAService, q: Question) -> Answer:
    """Answer synchronously (in a worker thread: embedding is CPU work)."""
    answer = service.ask(q.text, q.history, q.k)
    log.info(
        "answered: %d chars, %d history, k=%d -> %d citations, no_answer=%s, %.1f ms",
        len(q.text), len(q.history), q.k, len(answer.citations), answer.no_answer,
        answer.took_ms,
    )
    return answer


def answerer(service: QAService, q: Question) -> Callable[[], Answer]:
    """A callable that answers ``q``, for the streaming generators."""
    return lambda: answer_now(service, q)


async def in_thread(fn: Callable[[], T]) -> T:
    """``fn()`` in a worker thread; a cancelled caller still waits until the thread is done.

    A thread cannot be stopped. Were the cancellation passed on at once, the
    request would give back its concurrency slot (``natoqa.api.limits``) while
    its answer is still being computed, and the cap would no longer bound the
    work running.
    """
    work = asyncio.ensure_future(anyio.to_thread.run_sync(fn))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        with anyio.CancelScope(shield=True):  # anyio would cancel this wait again at once
            await asyncio.wait((work,))
        if not work.cancelled():
            work.exception()  # retrieved: the caller that would read it is gone
        raise


async def answer(service: QAService, q: Question) -> Answer:
    """Answer without blocking the event loop."""
    return await in_thread(lambda: answer_now(service, q))
