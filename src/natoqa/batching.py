"""Micro-batching: questions that arrive together are embedded in one model call.

Requests are answered in worker threads; without this each thread runs the
model on its own, and on two cores concurrent runs only fight over them (every
run wants all cores). :class:`QueryBatcher` hands single queries to one model
thread, which takes whatever has queued up meanwhile (up to ``max_batch``) and
embeds it as one batch. Nothing waits for a batch to fill: a lone question
goes straight through, and batches form only when requests overlap.

Passage batches (index builds) bypass the queue.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from natoqa.embedding import Embedder, Kind, Vectors


@dataclass
class _Job:
    text: str
    done: threading.Event = field(default_factory=threading.Event)
    vector: Vectors | None = None
    error: BaseException | None = None


class QueryBatcher(Embedder):
    """Wraps an embedder; single-text query calls are coalesced across threads."""

    def __init__(self, inner: Embedder, *, max_batch: int = 16) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.max_batch = max_batch
        self._queue: list[_Job] = []
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        #: sizes of the batches run, for the benchmark (bounded: last 10 000)
        self.batch_sizes: list[int] = []

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        if kind != "query" or len(texts) != 1:
            return self.inner.embed_batch(texts, kind=kind)
        job = _Job(texts[0])
        with self._cond:
            if self._worker is None:
                self._worker = threading.Thread(target=self._serve, name="natoqa-query-batcher",
                                                daemon=True)
                self._worker.start()
            self._queue.append(job)
            self._cond.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.vector is not None
        return job.vector[None, :]

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                jobs = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
            try:
                vectors = self.inner.embed_batch([j.text for j in jobs], kind="query")
            except BaseException as exc:  # handed to every waiting caller, then go on
                for job in jobs:
                    job.error = exc
                    job.done.set()
                continue
            if len(self.batch_sizes) < 10_000:
                self.batch_sizes.append(len(jobs))
            for job, vector in zip(jobs, vectors, strict=True):
                job.vector = np.ascontiguousarray(vector)
                job.done.set()
