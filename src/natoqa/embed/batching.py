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

from natoqa.embed.base import Embedded, Embedder, Kind, Vectors


@dataclass
class _Job:
    text: str
    #: its caller waits on this (it shares the batcher's lock): a finished batch
    #: wakes its own callers and at most one thread to lead the next, not all
    wake: threading.Condition
    #: this question's row of its batch (latent terms too, when the model has them)
    result: Embedded | None = None
    error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None


class QueryBatcher(Embedder):
    """Wraps an embedder; single-text query calls are coalesced across threads."""

    def __init__(self, inner: Embedder, *lanes: Embedder, max_batch: int = 8) -> None:
        """``inner`` and any further ``lanes``: copies of the same model, one batch each.

        ``max_batch``: 8 questions make the model's most efficient batch on CPU; 16 pad
        more and were slower (bench/service.py's capacity by batch size).
        """
        if any(lane.model_id != inner.model_id or lane.dim != inner.dim for lane in lanes):
            raise ValueError("every lane must run the same model")
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.language_means = inner.language_means
        self.max_batch = max_batch
        self.lanes = (inner, *lanes)
        self._queue: list[_Job] = []
        self._lock = threading.Lock()
        self._idle = list(self.lanes)  # lanes not running a batch now
        #: sizes of the batches run, for the benchmark (bounded: last 10 000)
        self.batch_sizes: list[int] = []

    @property
    def has_terms(self) -> bool:
        return self.inner.has_terms

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        if kind != "query" or len(texts) != 1:
            return self.inner.embed_batch(texts, kind=kind)
        return self._queued(texts[0]).vectors

    def embed_batch_terms(self, texts: Sequence[str], *, kind: Kind) -> Embedded:
        if kind != "query" or len(texts) != 1:
            return self.inner.embed_batch_terms(texts, kind=kind)
        return self._queued(texts[0])

    def _queued(self, text: str) -> Embedded:
        """One question's row, embedded in whichever batch it joins."""
        job = _Job(text, threading.Condition(self._lock))
        with self._lock:
            self._queue.append(job)
            while not job.finished:
                if self._idle and self._queue:
                    # a lane is idle: this thread runs the next batch on it (FIFO, so
                    # its own question is in it unless max_batch older ones wait)
                    self._lead()
                else:  # all lanes busy, or our question is in a batch now
                    job.wake.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _lead(self) -> None:
        """Run the next batch on an idle lane; called, and returns, holding the lock."""
        # the queue shared fairly among the idle lanes: one long batch beside an idle
        # lane would keep its questions waiting longer than two halves at once
        size = min(self.max_batch, -(-len(self._queue) // len(self._idle)))
        lane = self._idle.pop()
        jobs = self._queue[:size]
        del self._queue[:size]
        self._call_next()  # more waiting and another lane idle: someone else leads that
        self._lock.release()
        try:
            self._run(lane, jobs)
        finally:
            self._lock.acquire()
            self._idle.append(lane)
            if len(self.batch_sizes) < 10_000:
                self.batch_sizes.append(len(jobs))
            for done in jobs:
                done.wake.notify()
            self._call_next()

    def _call_next(self) -> None:
        """Wake the oldest waiting caller to lead a batch, if a lane is free for one."""
        if self._queue and self._idle:
            self._queue[0].wake.notify()

    def _run(self, lane: Embedder, jobs: list[_Job]) -> None:
        """Embed one batch, without the lock; results (or the error) go to every job of it."""
        texts = [j.text for j in jobs]
        try:
            if lane.has_terms:  # the terms come from the same pass: always take them
                out = lane.embed_batch_terms(texts, kind="query")
            else:
                vectors = lane.embed_batch(texts, kind="query")
                empty = np.zeros((len(texts), 0), dtype=np.float32)
                out = Embedded(vectors, empty.astype(np.int32), empty)
        except BaseException as exc:  # every waiting caller gets it; the next batch runs
            for job in jobs:
                job.error = exc
            return
        for i, job in enumerate(jobs):
            job.result = Embedded(np.ascontiguousarray(out.vectors[i : i + 1]),
                                  out.term_ids[i : i + 1], out.term_weights[i : i + 1])
