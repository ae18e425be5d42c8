"""Prometheus metrics: what the service counts and times, in one place.

Module-level objects in prometheus-client's default registry (which also
carries the process collector: RSS, CPU seconds, open files). They are
process-wide on purpose: one server process, one set, and tests read deltas.
The index gauges are set whenever the service loads or switches a version
(:func:`refresh_index_gauges`).

With several worker processes (``NATOQA_WORKERS``), ``natoqa serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder; prometheus-client then keeps
every value in a memory-mapped file per process, and :func:`scrape` adds them
up, so whichever worker answers ``/metrics`` reports the whole server. The
gauges say how to combine workers (``multiprocess_mode``); the process
collector (RSS, CPU) is not available in that mode.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from natoqa.models import Answer

#: latency buckets (seconds) around what a question costs here: ~10-100 ms
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_STEP = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

HTTP_REQUESTS = Counter(
    "natoqa_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "natoqa_http_request_duration_seconds",
    "Time from receiving a request to the end of its response, by route template.",
    ["route", "method"],
    buckets=_LATENCY,
)
HTTP_IN_FLIGHT = Gauge("natoqa_http_requests_in_flight", "HTTP requests being answered now.",
                       multiprocess_mode="livesum")
REJECTED = Counter(
    "natoqa_rejected_requests",
    "Requests refused by a limit, by reason "
    "(rate_limit, concurrency, body_size, timeout, unauthorized, admin).",
    ["reason"],
)

EMBED_SECONDS = Histogram(
    "natoqa_embed_seconds", "Time to embed one question with the model.", buckets=_STEP
)
SEARCH_SECONDS = Histogram(
    "natoqa_search_seconds", "Time to search the vector index for one question.", buckets=_STEP
)
ANSWER_SECONDS = Histogram(
    "natoqa_answer_seconds",
    "Time the service took for one answer (retrieval and composition; cache hits included).",
    buckets=_LATENCY,
)
ANSWERS = Counter(
    "natoqa_answers",
    "Answers given, by outcome (answered or abstained) and whether the cache served them.",
    ["outcome", "cached"],
)
ABSTENTIONS = Counter(
    "natoqa_abstentions", "Answers that said the sources hold nothing relevant."
)
CACHE_ENTRIES = Gauge("natoqa_answer_cache_entries", "Answers held in the answer cache.",
                      multiprocess_mode="livesum")

INDEX_INFO = Gauge(
    "natoqa_index_info", "The index version being served (value 1).", ["version", "model"],
    multiprocess_mode="livemax",
)
INDEX_PASSAGES = Gauge("natoqa_index_passages", "Passages in the index version being served.",
                       multiprocess_mode="livemax")
INDEX_DOCUMENTS = Gauge("natoqa_index_documents", "Documents in the index version being served.",
                        multiprocess_mode="livemax")

#: labels of the version INDEX_INFO shows now
_shown: tuple[str, str] | None = None


def multiprocess_mode() -> bool:
    """True when prometheus-client keeps values in per-process files (several workers)."""
    return values.ValueClass is not values.MutexValue


def observe_answer(answer: Answer, *, cached: bool) -> None:
    """Count one answer; time its embedding and search when they were computed now."""
    outcome = "abstained" if answer.no_answer else "answered"
    ANSWERS.labels(outcome=outcome, cached="true" if cached else "false").inc()
    if answer.no_answer:
        ABSTENTIONS.inc()
    ANSWER_SECONDS.observe(answer.took_ms / 1000)
    if cached:
        return
    if "embed_ms" in answer.timings:
        EMBED_SECONDS.observe(answer.timings["embed_ms"] / 1000)
    if "search_ms" in answer.timings:
        SEARCH_SECONDS.observe(answer.timings["search_ms"] / 1000)


def refresh_index_gauges(
    version: str | None, model: str, passages: int, documents: int
) -> None:
    """Show the index version being served (the previous version's series is dropped).

    Across worker processes a series cannot be dropped (its value lives in a
    file), so there the previous version's goes to 0.
    """
    global _shown
    labels = (version, model) if version is not None else None
    if labels != _shown:
        if multiprocess_mode():
            if _shown is not None:
                INDEX_INFO.labels(*_shown).set(0)
        else:
            INDEX_INFO.clear()
        if labels is not None:
            INDEX_INFO.labels(*labels).set(1)
        _shown = labels
    INDEX_PASSAGES.set(passages)
    INDEX_DOCUMENTS.set(documents)


def scrape() -> tuple[bytes, str]:
    """The exposition (body, content type): this process's, or all workers' added up."""
    if not multiprocess_mode():
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def worker_exit() -> None:
    """Drop this worker's live gauges from the sum (its counters stay counted)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
