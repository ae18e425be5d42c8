"""The FastAPI application factory.

The model and the index are loaded once, in the lifespan, and live on
``app.state``; nothing is loaded at import time and there is no global state.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from natoqa._version import __version__
from natoqa.api.cors import install_cors
from natoqa.api.head import HeadMiddleware
from natoqa.api.limits import LimitsMiddleware
from natoqa.api.middleware import RequestIdMiddleware, install_log_record_factory
from natoqa.api.observability import ObservabilityMiddleware
from natoqa.api.problems import install_problem_handlers
from natoqa.api.routers import (
    admin,
    admin_documents,
    admin_page,
    admin_versions,
    ask,
    chat,
    docs,
    documents,
    health,
    metrics,
    openai,
    widget,
)
from natoqa.api.schemas import request_models
from natoqa.config import Settings, get_settings, worker_settings
from natoqa.embed.base import build_settings, load_embedder
from natoqa.embed.batching import QueryBatcher
from natoqa.index.stores import version_source
from natoqa.ingest.cleaning.meta import prepare_detection
from natoqa.service.builds import BuildQueue
from natoqa.service.cache import AnswerCache
from natoqa.service.documents import DocumentService
from natoqa.service.metrics import worker_exit
from natoqa.service.reloader import reload_in_background
from natoqa.service.service import QAService
from natoqa.text.language import prepare as prepare_language_detection

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, service: QAService | None = None) -> FastAPI:
    """Build the app. ``service`` may be given ready-made (tests); else the lifespan loads it."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service is None:
            embedder = load_embedder(settings)
            if settings.batch_queries:
                lanes = [load_embedder(settings) for _ in range(settings.model_lanes - 1)]
                embedder = QueryBatcher(embedder, *lanes)
            svc = QAService(embedder, version_source(settings), settings.retrieval,
                            cache=AnswerCache(settings.cache_size))
            svc.load()
            # one throw-away query per model copy: the first real one would pay the lazy set-up
            for copy in embedder.lanes if isinstance(embedder, QueryBatcher) else (embedder,):
                copy.embed("warm-up", kind="query")
            app.state.service = svc
            app.state.documents = _documents(svc, settings)
        prepare_language_detection()
        if settings.admin_token or settings.documents_tokens:
            prepare_detection()  # documents may be uploaded: their reading must not stall
        status = app.state.service.status()
        log.info("natoqa started: index %s%s", status["version"],
                 "" if status["ready"] else f" (not ready: {status['last_reload_error']})")
        try:
            async with reload_in_background(app.state.service, settings.reload_interval):
                yield
        finally:
            app.state.documents.builds.stop()
            worker_exit()

    app = FastAPI(
        title="natoqa",
        version=__version__,
        summary="Answers questions about the future of NATO from cited sources.",
        lifespan=lifespan,
        docs_url=None,  # served by routers/docs.py, with a Content-Security-Policy
        redoc_url=None,
    )
    app.state.settings = settings
    if service is not None:
        app.state.service = service
        app.state.documents = _documents(service, settings)
    install_problem_handlers(app)
    install_log_record_factory()
    # add_middleware wraps what is there: the last added runs first. Order, outside in:
    # request id -> metrics/access log -> limits -> HEAD as GET -> app, so refusals carry an id
    # and count.
    app.add_middleware(HeadMiddleware, router=app.router)  # innermost: the log shows HEAD
    app.add_middleware(LimitsMiddleware, settings=settings)
    app.add_middleware(ObservabilityMiddleware, router=app.router)
    app.add_middleware(RequestIdMiddleware)
    install_cors(app, settings)  # outermost: see its docstring
    app.include_router(health.router)
    app.include_router(metrics.router)
    requests = request_models(settings)  # the request bodies, bounded by the settings
    app.include_router(ask.router(requests))
    app.include_router(chat.router(requests))
    app.include_router(openai.router(requests))
    app.include_router(documents.router)
    app.include_router(admin.router)
    app.include_router(admin_documents.router)
    app.include_router(admin_versions.router)
    app.include_router(widget.router)
    app.include_router(docs.router)
    app.include_router(admin_page.router)
    return app


def _documents(service: QAService, settings: Settings) -> DocumentService:
    """Document changes over HTTP and the builds they queue, with the model's own copy for
    building (loaded at start when documents tokens are set, else at the first build),
    switching this service when a build is done."""

    def switch() -> str | None:
        return service.reload(force=True).version

    builds = BuildQueue(
        settings.corpus_dir, settings.index_dir, lambda: load_embedder(build_settings(settings)),
        switch,
        delay=settings.build_delay, keep_versions=settings.keep_versions,
        ann_min_passages=settings.ann_min_passages,
        segment_passages=settings.segment_passages,
        unit_vectors=settings.unit_vectors,
    )
    if settings.documents_tokens:  # a content system will send changes: be ready for them
        builds.start()
    return DocumentService(service, builds, settings.corpus_dir)


def worker_app() -> FastAPI:
    """The app of one worker process, when ``natoqa serve`` runs several (``--workers``).

    Workers are fresh interpreters started by uvicorn: they take the settings
    ``natoqa serve`` hands them (:func:`natoqa.config.worker_settings`) and set
    up logging themselves.
    """
    from natoqa.logs import configure_logging

    settings = worker_settings()
    configure_logging(settings.log_level, as_json=settings.log_json)
    # uvicorn silences its own access log (natoqa.access has one line per request with
    # more in it) in the parent process only
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    return create_app(settings)
