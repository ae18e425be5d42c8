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
from dataclasses import dataclass

from natoqa.answer import compose
from natoqa.embedding import Embedder
from natoqa.errors import IndexError_
from natoqa.language import detect_language
from natoqa.retrieval import RetrievalConfig, Retriever
from natoqa.store import IndexStore, IndexVersion
from natoqa.types import Answer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Engine:
    index: IndexVersion
    retriever: Retriever


class QAService:
    def __init__(
        self,
        embedder: Embedder,
        store: IndexStore,
        config: RetrievalConfig | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.config = config or RetrievalConfig()
        self._engine: Engine | None = None
        self._reload_lock = threading.Lock()
        self.last_reload_error: str | None = None

    @property
    def engine(self) -> Engine:
        engine = self._engine
        if engine is None:
            raise IndexError_("no index loaded")
        return engine

    @property
    def ready(self) -> bool:
        return self._engine is not None

    def _make_engine(self, version: str | None = None) -> Engine:
        index = self.store.load(version, expect_dim=self.embedder.dim)
        return Engine(index, Retriever(index, self.embedder, self.config))

    def load(self) -> None:
        """Load the current version; raises if it is missing or broken."""
        self._engine = self._make_engine()

    def reload(self, version: str | None = None) -> bool:
        """Switch to ``version`` (default: the current one on disk) if it differs.

        Returns True when the service switched. A version that fails to load is
        refused: the error is kept in ``last_reload_error`` and the service goes
        on answering from the version it has.
        """
        with self._reload_lock:
            target = version or self.store.current()
            if target is None or (self._engine and self._engine.index.version == target):
                return False
            try:
                engine = self._make_engine(target)
            except IndexError_ as exc:
                self.last_reload_error = f"{target}: {exc.message}"
                log.error("refused index version %s: %s", target, exc.message)
                return False
            self._engine = engine
            self.last_reload_error = None
            log.info("switched to index version %s (%d passages)", target, len(engine.index))
            return True

    def ask(self, question: str, history: Sequence[str] = (), k: int = 5) -> Answer:
        started = time.perf_counter()
        engine = self.engine  # one engine for the whole request
        result = engine.retriever.search(question, history, k)
        language = detect_language(question)
        answer = compose(question, result, engine.index, language, history)
        took = (time.perf_counter() - started) * 1000
        return Answer(
            text=answer.text,
            no_answer=answer.no_answer,
            citations=answer.citations,
            language=answer.language,
            took_ms=took,
            confidence=answer.confidence,
            timings=answer.timings,
        )
