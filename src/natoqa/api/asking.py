"""What the ask, chat and OpenAI routes share: their request bodies, and answering off the loop.

The server's limits on questions, history and ``k`` are enforced by the
request bodies themselves (:func:`natoqa.api.schemas.request_models`), which
:func:`with_body` gives each app's routes.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread
from pydantic import BaseModel

from natoqa.config import Settings
from natoqa.models import Answer
from natoqa.service.service import QAService

log = logging.getLogger(__name__)

Endpoint = TypeVar("Endpoint", bound=Callable[..., Coroutine[Any, Any, Any]])


def with_body(endpoint: Endpoint, model: type[BaseModel]) -> Endpoint:
    """``endpoint`` with its ``body`` parameter read as ``model``, a subclass of its
    annotation bounded by this server's settings: FastAPI validates and documents
    the body by the signature, which is per app here, not per module."""
    signature = inspect.signature(endpoint, eval_str=True)
    parameters = [p.replace(annotation=model) if p.name == "body" else p
                  for p in signature.parameters.values()]

    @functools.wraps(endpoint)
    async def bound(*args: Any, **kwargs: Any) -> Any:
        return await endpoint(*args, **kwargs)

    bound.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return cast(Endpoint, bound)


T = TypeVar("T")


@dataclass(frozen=True)
class Question:
    """A question as the service takes it."""

    text: str
    history: tuple[str, ...]
    k: int


def make_question(
    settings: Settings, question: str, history: Sequence[str], k: int | None
) -> Question:
    """The question with the server's default ``k`` (the body's bounds held already)."""
    return Question(question, tuple(history), min(k or settings.default_k, settings.max_k))


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
