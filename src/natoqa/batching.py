"""Micro-batching: questions that arrive together are embedded in one model call.

Requests are answered in worker threads; without this each thread runs the
model on its own, and on two cores concurrent runs only fight over them (every
run wants all cores). :class:`QueryBatcher` lets one model call run at a time:
a thread that finds the model idle runs it itself, on its own question and
whatever has queued up meanwhile (up to ``max_batch``); threads that arrive
while it runs queue their questions and wait, and one of them leads the next
batch. Nothing waits for a batch to fill, and a lone question runs in its own
thread with no hand-off (a dedicated model thread cost every request two
thread switches).

With several *lanes* (``NATOQA_MODEL_LANES``: copies of the model, each
with its own ONNX Runtime session) as many batches run at once, one per lane;
with one thread per lane (``NATOQA_TORCH_THREADS=1``) two lanes keep both
cores on the model while the answers' Python work fits in between
(docs/BENCHMARKS.md).

Passage batches (index builds) bypass the queue.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from natoqa.embedding import Embedder, Kind, Vectors


@dataclass
class _Job:
    text: str
    vector: Vectors | None = None
    error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.vector is not None or self.error is not None


class QueryBatcher(Embedder):
    """Wraps an embedder; single-text query calls are coalesced across threads."""

    def __init__(self, inner: Embedder, *lanes: Embedder, max_batch: int = 16) -> None:
        """``inner`` and any further ``lanes``: copies of the same model, one batch each."""
        if any(lane.model_id != inner.model_id or lane.dim != inner.dim for lane in lanes):
            raise ValueError("every lane must run the same model")
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.max_batch = max_batch
        self.lanes = (inner, *lanes)
        self._queue: list[_Job] = []
        self._cond = threading.Condition()
        self._idle = list(self.lanes)  # lanes not running a batch now
        #: sizes of the batches run, for the benchmark (bounded: last 10 000)
        self.batch_sizes: list[int] = []

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        if kind != "query" or len(texts) != 1:
            return self.inner.embed_batch(texts, kind=kind)
        job = _Job(texts[0])
        with self._cond:
            self._queue.append(job)
            while not job.finished:
                if not self._idle or not self._queue:  # all lanes busy, or ours is in flight
                    self._cond.wait()
                    continue
                # a lane is idle: this thread runs the next batch on it (FIFO, so its
                # own question is in it unless max_batch older ones wait)
                lane = self._idle.pop()
                jobs = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                self._cond.release()
                try:
                    self._run(lane, jobs)
                finally:
                    self._cond.acquire()
                    self._idle.append(lane)
                    self._cond.notify_all()
        if job.error is not None:
            raise job.error
        assert job.vector is not None
        return job.vector[None, :]

    def _run(self, lane: Embedder, jobs: list[_Job]) -> None:
        """Embed one batch; results (or the error) go to every job of it."""
        try:
            vectors = lane.embed_batch([j.text for j in jobs], kind="query")
        except BaseException as exc:  # every waiting caller gets it; the next batch runs
            for job in jobs:
                job.error = exc
            return
        with self._cond:
            if len(self.batch_sizes) < 10_000:
                self.batch_sizes.append(len(jobs))
        for job, vector in zip(jobs, vectors, strict=True):
            job.vector = np.ascontiguousarray(vector)
