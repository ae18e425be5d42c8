"""Micro-batching of concurrent questions: same vectors, fewer model calls."""

from __future__ import annotations

import random
import threading
import time
from functools import partial
from typing import Any

import numpy as np
import pytest

from natoqa.embed.base import Vectors
from natoqa.embed.batching import QueryBatcher
from tests.fakes import ByLength, Overlap

#: a model that breaks (only to see the error reach every caller)
FAILING = ByLength("failing", raises=RuntimeError("model exploded"))


def test_lanes_run_batches_at_once_and_every_caller_gets_its_own_vector() -> None:
    overlap = Overlap()
    batcher = QueryBatcher(*(ByLength(delay=0.05, overlap=overlap) for _ in range(2)),
                           max_batch=4)
    results: dict[int, Vectors] = {}
    start = threading.Barrier(16)

    def ask(i: int) -> None:
        start.wait()
        results[i] = batcher.embed("x" * (i + 1), kind="query")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [results[i][0] for i in range(16)] == [i + 1 for i in range(16)]
    assert overlap.most == 2  # two batches at once, never more
    assert sum(batcher.batch_sizes) == 16 and max(batcher.batch_sizes) <= 4
    with pytest.raises(ValueError, match="same model"):
        QueryBatcher(ByLength(), FAILING)


@pytest.mark.parametrize("lanes", [1, 3])
def test_no_caller_is_left_waiting_under_churn(lanes: int) -> None:
    # Callers arrive while batches finish; each must get its own vector, and none
    # may sleep forever while a lane is idle (join would time out).
    batcher = QueryBatcher(
        *(ByLength(delay=partial(random.Random(seed).uniform, 0, 0.004))
          for seed in range(lanes)),
        max_batch=3,
    )
    results: dict[int, float] = {}
    pause = random.Random(0)
    delays = [pause.uniform(0, 0.002) for _ in range(400)]

    def ask(i: int) -> None:
        for n in range(i, 400, 40):
            time.sleep(delays[n])
            results[n] = float(batcher.embed("x" * (n + 1), kind="query")[0])

    threads = [threading.Thread(target=ask, args=(i,), daemon=True) for i in range(40)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a caller was never woken"
    assert results == {n: float(n + 1) for n in range(400)}
    assert sum(batcher.batch_sizes) == 400 and max(batcher.batch_sizes) <= 3


def test_errors_reach_the_caller_and_the_batcher_survives() -> None:
    batcher = QueryBatcher(FAILING)
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


def test_latent_terms_travel_with_each_callers_vector() -> None:
    batcher = QueryBatcher(*(ByLength(delay=0.01, terms=True) for _ in range(2)), max_batch=4)
    assert batcher.has_terms
    texts = ["x" * n for n in range(1, 25)]
    got: dict[str, Any] = {}

    def ask(text: str) -> None:
        got[text] = batcher.embed_batch_terms([text], kind="query")

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert max(batcher.batch_sizes) > 1  # they were batched, and still each got its own
    for text, out in got.items():
        assert out.vectors.shape == (1, 4) and out.vectors[0, 0] == len(text)
        assert out.term_ids.tolist() == [[len(text), len(text) + 1]]
    # a model without terms behind the batcher: vectors as before, no terms
    plain = QueryBatcher(FAILING)
    assert not plain.has_terms
