"""Finding the passages that answer a question, and deciding when none does."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from natoqa.embedding import Embedder
from natoqa.store import IndexVersion
from natoqa.types import Hit


@dataclass(frozen=True)
class RetrievalConfig:
    """Tunable knobs of retrieval; defaults are the measured best (docs/RETRIEVAL.md)."""

    #: below this dense cosine the best hit is not trusted
    min_score: float = 0.80


@dataclass(frozen=True)
class RetrievalResult:
    hits: list[Hit]
    no_answer: bool
    confidence: float
    timings: dict[str, float] = field(default_factory=dict)


class Retriever:
    """Dense retrieval over one index version."""

    def __init__(
        self, index: IndexVersion, embedder: Embedder, config: RetrievalConfig | None = None
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.config = config or RetrievalConfig()

    def search(self, question: str, history: Sequence[str] = (), k: int = 5) -> RetrievalResult:
        t0 = time.perf_counter()
        text = question if not history else f"{history[-1]} {question}"
        qvec = self.embedder.embed(text, kind="query")
        t1 = time.perf_counter()
        scores, rows = self.index.search(qvec[None, :], k)
        t2 = time.perf_counter()
        hits = [
            Hit(passage=self.index.passages[int(r)], score=float(s), dense=float(s))
            for s, r in zip(scores[0], rows[0], strict=True)
            if r >= 0
        ]
        top = hits[0].score if hits else 0.0
        no_answer = top < self.config.min_score
        if no_answer:
            hits = [Hit(h.passage, h.score, h.dense, h.lexical, low_confidence=True) for h in hits]
        return RetrievalResult(
            hits=hits,
            no_answer=no_answer,
            confidence=top,
            timings={"embed_ms": (t1 - t0) * 1000, "search_ms": (t2 - t1) * 1000},
        )
