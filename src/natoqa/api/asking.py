"""What the ask, chat and OpenAI routes share: the server's limits and answering off the loop.

The request schemas enforce the documented hard limits; a server may lower the
configurable ones (``NATOQA_MAX_QUESTION_CHARS``, ``NATOQA_MAX_HISTORY``,
``NATOQA_MAX_K``), which is checked here with the same ``validation-error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from natoqa.api.problems import ProblemError
from natoqa.config import Settings
from natoqa.models import Answer
from natoqa.service.service import QAService

log = logging.getLogger(__name__)


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


async def answer(service: QAService, q: Question) -> Answer:
    """Answer without blocking the event loop."""
    return await run_in_threadpool(answer_now, service, q)
