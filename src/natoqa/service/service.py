"""The question-answering service: model + current index version + retrieval + answers.

The service holds one immutable :class:`Engine` (an index version with its
retriever). Switching versions replaces that reference in one assignment, so a
request that already took the old engine finishes on it undisturbed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from natoqa.answer.compose import compose
from natoqa.config import RetrievalSettings
from natoqa.embed.base import Embedder
from natoqa.errors import IndexStoreError, StoreUnreachable
from natoqa.index.store import utc_now
from natoqa.index.stores import OpenVersion, VersionSource
from natoqa.models import Answer
from natoqa.retrieve import abstain
from natoqa.retrieve.retriever import Retriever
from natoqa.service.cache import AnswerCache, cache_key
from natoqa.service.metrics import observe_answer, refresh_index_gauges

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Engine:
    index: OpenVersion
    retriever: Retriever


@dataclass(frozen=True)
class ReloadResult:
    """What :meth:`QAService.reload` did."""

    switched: bool
    version: str | None  # the version the service answers from afterwards
    previous_version: str | None
    target: str | None  # the version it tried (CURRENT on disk unless one was named)
    error: str | None = None  # why ``target`` was refused


class QAService:
    def __init__(
        self,
        embedder: Embedder,
        store: VersionSource,
        retrieval: RetrievalSettings | None = None,
        *,
        cache: AnswerCache | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.retrieval = retrieval or RetrievalSettings()
        # read once, so a bad calibration file stops the start, not a later reload
        self.calibration = abstain.load(self.retrieval.calibration)
        #: answers to identical repeated questions, keyed by index version (natoqa.service.cache)
        self.cache = cache if cache is not None else AnswerCache(0)  # (an empty one is falsy)
        self._engine: Engine | None = None
        self._reload_lock = threading.Lock()
        self.last_reload_error: str | None = None
        # the version refused last: the background reloader does not retry it every
        # second (and log the same error) until CURRENT names another one
        self._refused: str | None = None
        self._loaded_at: str | None = None
        self._last_reload_at: str | None = None
        self._reloads = 0
        #: why the store (a database) cannot be reached, as the last poll found it: questions
        #: are refused at once (503 with Retry-After) until a poll reaches it again
        self.unreachable: str | None = None

    @property
    def engine(self) -> Engine:
        engine = self._engine
        if self.unreachable is not None:
            raise StoreUnreachable(self.unreachable)
        if engine is None:
            raise IndexStoreError("no index loaded")
        return engine

    @property
    def loaded(self) -> bool:
        """An index version is loaded (liveness: true even while its store is unreachable)."""
        return self._engine is not None

    @property
    def ready(self) -> bool:
        """Questions can be answered now: a version is loaded and its store reachable."""
        return self._engine is not None and self.unreachable is None

    def _make_engine(self, version: str | None = None) -> Engine:
        index = self.store.load(
            version, expect_dim=self.embedder.dim, expect_model=self.embedder.model_id
        )
        retriever = Retriever(index, self.embedder, self.retrieval, calibration=self.calibration)
        return Engine(index, retriever)

    def load(self) -> None:
        """Load the current version; raises if it is missing or broken. A store that cannot
        be reached is not the index's fault: the service starts unready, and the reloader
        loads the version once the store answers (:meth:`reload`)."""
        try:
            self._engine = self._make_engine()
        except StoreUnreachable as exc:
            self._unreachable(exc)
            return
        self._loaded_at = utc_now()
        _show(self._engine)

    def _unreachable(self, exc: StoreUnreachable) -> None:
        if self.unreachable is None:
            log.error("index store unreachable, refusing questions until it is back: %s",
                      exc.message)
        self.unreachable = self.last_reload_error = exc.message

    def reload(self, version: str | None = None, *, force: bool = False) -> ReloadResult:
        """Switch to ``version`` (default: the one CURRENT names on disk) if it differs.

        A version that fails to load (corrupt, other model or dimension) is
        refused: the error is kept in ``last_reload_error`` and shown by
        :meth:`status`, and the service goes on answering from the version it
        has. A refused version is not tried again unless ``force`` (the admin
        endpoint) or CURRENT changes. Loading happens outside any request; the
        switch itself is one assignment, so requests never wait for it.
        """
        with self._reload_lock:
            loaded = self._engine.index.version if self._engine else None
            try:
                target = version or self.store.current()
            except StoreUnreachable as exc:
                self._unreachable(exc)
                return ReloadResult(False, loaded, loaded, None, exc.message)
            except IndexStoreError as exc:
                self.last_reload_error = exc.message
                return ReloadResult(False, loaded, loaded, None, exc.message)
            if self.unreachable is not None:
                log.info("index store reachable again (version %s loaded)", loaded)
                self.unreachable = self.last_reload_error = None
            if target is None or target == loaded:
                if self._refused is not None and target == loaded:
                    # CURRENT went back (rollback): the refused version is history now
                    self._refused = self.last_reload_error = None
                return ReloadResult(False, loaded, loaded, target)
            if target == self._refused and not force:
                return ReloadResult(False, loaded, loaded, target, self.last_reload_error)
            self._last_reload_at = utc_now()
            try:
                engine = self._make_engine(target)
            except StoreUnreachable as exc:  # gone while opening: not the version's fault
                self._unreachable(exc)
                return ReloadResult(False, loaded, loaded, target, exc.message)
            except IndexStoreError as exc:
                self._refused = target
                self.last_reload_error = f"{target}: {exc.message}"
                log.error("refused index version %s, still answering from %s: %s",
                          target, loaded, exc.message)
                return ReloadResult(False, loaded, loaded, target, self.last_reload_error)
            previous, self._engine = self._engine, engine
            self._loaded_at = utc_now()
            _show(engine)
            if previous is not None:  # its connections (PostgreSQL) close once idle
                previous.index.close()
            self._reloads += 1
            self._refused = None
            self.last_reload_error = None
            log.info("switched to index version %s (%d passages), was %s",
                     target, len(engine.index), loaded)
            return ReloadResult(True, target, loaded, target)

    def status(self) -> dict[str, Any]:
        """Readiness details: what is loaded, what is on disk, and the last refusal."""
        engine = self._engine
        try:
            on_disk: str | None = self.store.current()
        except IndexStoreError:
            on_disk = None
        manifest = engine.index.manifest if engine else None
        return {
            "ready": self.ready,
            "store": self.store.where,
            "store_unreachable": self.unreachable,
            "version": manifest.version if manifest else None,
            "current_on_disk": on_disk,
            "up_to_date": manifest is not None and manifest.version == on_disk,
            "loaded_at": self._loaded_at,
            "built_at": manifest.created if manifest else None,
            "documents": len(engine.index.documents) if engine else 0,
            "passages": len(engine.index) if engine else 0,
            "model_id": self.embedder.model_id,
            "reloads": self._reloads,
            "last_reload_at": self._last_reload_at,
            "last_reload_error": self.last_reload_error,
            "refused_version": self._refused,
        }

    def ask(self, question: str, history: Sequence[str] = (), k: int = 5) -> Answer:
        started = time.perf_counter()
        engine = self.engine  # one engine for the whole request
        key = cache_key(engine.index.version, question, history, k)
        cached = self.cache.get(key)
        if cached is not None:
            hit = replace(cached, took_ms=(time.perf_counter() - started) * 1000)
            observe_answer(hit, cached=True)
            return hit
        result = engine.retriever.search(question, history, k)
        answer = compose(question, result, engine.index, result.language, history)
        took = (time.perf_counter() - started) * 1000
        fresh = Answer(
            text=answer.text,
            no_answer=answer.no_answer,
            citations=answer.citations,
            language=answer.language,
            took_ms=took,
            confidence=answer.confidence,
            timings=answer.timings,
        )
        self.cache.put(key, fresh)
        observe_answer(fresh, cached=False)
        return fresh


def _show(engine: Engine) -> None:
    """The metrics' index gauges follow every load and switch (each worker its own)."""
    index = engine.index
    refresh_index_gauges(index.version, index.manifest.model_id, len(index), len(index.documents))

