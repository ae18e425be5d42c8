"""Micro-batching of concurrent questions: same vectors, fewer model calls."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from natoqa.batching import QueryBatcher
from natoqa.embedding import Embedder, Kind, Vectors


class Failing(Embedder):
    """Stands in for a model that breaks (only to see the error reach every caller)."""

    model_id, dim = "failing", 4

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        raise RuntimeError("model exploded")


def test_errors_reach_the_caller_and_the_batcher_survives() -> None:
    batcher = QueryBatcher(Failing())
    for _ in range(2):
        with pytest.raises(RuntimeError, match="exploded"):
            batcher.embed("q", kind="query")


@pytest.mark.slow
def test_concurrent_questions_are_batched_with_identical_vectors(embedder: Any) -> None:
    questions = [f"Frage Nummer {i}: Was plant die NATO an der Ostflanke?" for i in range(12)]
    expected = embedder.embed_batch(questions, kind="query")
    batcher = QueryBatcher(embedder, max_batch=8)
    results: dict[int, Vectors] = {}
    start = threading.Barrier(len(questions))

    def ask(i: int) -> None:
        start.wait()
        results[i] = batcher.embed(questions[i], kind="query")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    got = np.stack([results[i] for i in range(len(questions))])
    assert np.allclose(got, expected, atol=1e-4)  # each caller got its own question's vector
    assert sum(batcher.batch_sizes) == len(questions)
    assert len(batcher.batch_sizes) < len(questions)  # fewer model calls than questions
    assert max(batcher.batch_sizes) <= 8
    # passages (builds) go straight through, untouched
    passages = batcher.embed_batch(questions[:3], kind="passage")
    assert np.allclose(passages, embedder.embed_batch(questions[:3], kind="passage"), atol=1e-5)
