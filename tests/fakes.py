"""The test doubles of the model, shared by every test (one of each kind, configurable).

- :class:`BagOfWords` / :class:`TermedBag`: tiny deterministic models (hashed words),
  to test the layers around the model without loading it.
- :class:`Wrapping` / :class:`Gated`: the real model, recording what it is asked
  (pooled sentence units: the passages it ran),
  optionally with its latent terms, or raising, or holding the first question until
  a test lets it go.
- :class:`ByLength`: a 4-dimensional vector from each text's length, so which caller
  got which vector is plain to see (the query batcher's tests); optionally slow,
  failing, with latent terms, or recording how many calls overlap.
- :class:`StubService`: a service that finds nothing and records what it is asked
  (the API's request handling without a model).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from natoqa.embed import latent_terms
from natoqa.embed.base import Embedded, EmbeddedUnits, Embedder, Kind, Span, Vectors
from natoqa.index.store import IndexStore
from natoqa.models import Answer


def _word_hash(word: str, buckets: int) -> int:
    return int(hashlib.md5(word.encode()).hexdigest(), 16) % buckets


class BagOfWords(Embedder):
    """A tiny deterministic embedder (hashed words) to test the layers around the model."""

    model_id = "bag-of-words"
    dim = 256

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, _word_hash(word, self.dim)] += 1.0
            out[i, 0] += 0.01  # never all-zero
        normed: Vectors = out / np.linalg.norm(out, axis=1, keepdims=True)
        return normed


class TermedBag(BagOfWords):
    """BagOfWords with "latent terms": each word's hash, weight 1 (the real head: test_sparse)."""

    model_id = "termed-bag"

    @property
    def has_terms(self) -> bool:
        return True

    def embed_batch_terms(self, texts: Sequence[str], *, kind: Kind) -> Embedded:
        top = latent_terms.TOP_TERMS
        ids = np.zeros((len(texts), top), dtype=np.int32)
        weights = np.zeros((len(texts), top), dtype=np.float32)
        for i, text in enumerate(texts):
            found = sorted({_word_hash(w, 16384) for w in re.findall(r"\w+", text.lower())})[:top]
            ids[i, : len(found)] = found
            weights[i, : len(found)] = 1.0
        return Embedded(self.embed_batch(texts, kind=kind), ids, weights)


class Wrapping(Embedder):
    """The real model, recording the texts it embeds and counting its calls.

    ``terms=True`` passes its latent terms on (else it has none, as an embedder
    before them); ``model_id`` poses as another model; ``raises`` is raised by
    every call (a model that breaks, or Ctrl-C arriving).
    """

    def __init__(
        self,
        inner: Embedder,
        model_id: str | None = None,
        *,
        terms: bool = False,
        raises: BaseException | None = None,
    ) -> None:
        self.inner, self.terms, self.raises = inner, terms, raises
        self.model_id = model_id or inner.model_id
        self.dim = inner.dim
        self.embedded: list[str] = []
        self.calls = 0

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        self._called(texts, kind)
        return self.inner.embed_batch(texts, kind=kind)

    @property
    def has_terms(self) -> bool:
        return self.terms and self.inner.has_terms

    def embed_batch_terms(self, texts: Sequence[str], *, kind: Kind) -> Embedded:
        if not self.terms:
            return super().embed_batch_terms(texts, kind=kind)
        self._called(texts, kind)
        return self.inner.embed_batch_terms(texts, kind=kind)

    def embed_units(
        self, texts: Sequence[str], units: Sequence[Sequence[Span]], *, kind: Kind = "passage"
    ) -> EmbeddedUnits:
        """The real model's pooled units (``embedded`` records the texts it ran)."""
        self._called(texts, kind)
        out = self.inner.embed_units(texts, units, kind=kind)
        if self.has_terms:
            return out
        empty = np.zeros((len(out.units.vectors), 0), dtype=np.int32)
        return EmbeddedUnits(Embedded(out.units.vectors, empty, empty.astype(np.float32)),
                             out.text_vectors, out.ran)

    def _called(self, texts: Sequence[str], kind: Kind) -> None:
        if self.raises is not None:
            raise self.raises
        self.calls += 1
        self.embedded.extend(texts)


class Gated(Wrapping):
    """The real model; the first query embedding waits until the test opens the gate."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.entered, self.gate = threading.Event(), threading.Event()

    def _called(self, texts: Sequence[str], kind: Kind) -> None:
        super()._called(texts, kind)
        if kind == "query" and not self.entered.is_set():
            self.entered.set()
            assert self.gate.wait(60)


class Overlap:
    """How many calls run at once, across every embedder that shares it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    @contextmanager
    def call(self) -> Iterator[None]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            yield
        finally:
            with self.lock:
                self.running -= 1


class ByLength(Embedder):
    """Stands in for a model copy: each text's vector is ``[len(text), 1, 0, 0]``.

    ``delay`` (seconds, or a function giving them) makes each call take time,
    ``overlap`` records how many calls run at once, ``terms`` adds latent terms
    from the length, ``raises`` is raised by every call.
    """

    dim = 4

    def __init__(
        self,
        model_id: str = "by-length",
        *,
        delay: float | Callable[[], float] = 0.0,
        overlap: Overlap | None = None,
        terms: bool = False,
        raises: BaseException | None = None,
    ) -> None:
        self.model_id = model_id
        self.delay, self.overlap, self.terms, self.raises = delay, overlap, terms, raises

    @property
    def has_terms(self) -> bool:
        return self.terms

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        if self.raises is not None:
            raise self.raises
        with self.overlap.call() if self.overlap else nullcontext():
            time.sleep(self.delay() if callable(self.delay) else self.delay)
        return np.array([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)

    def embed_batch_terms(self, texts: Sequence[str], *, kind: Kind) -> Embedded:
        if not self.terms:
            return super().embed_batch_terms(texts, kind=kind)
        vectors = self.embed_batch(texts, kind=kind)
        ids = np.array([[len(t), len(t) + 1] for t in texts], dtype=np.int32).reshape(-1, 2)
        return Embedded(vectors, ids, (ids / 10).astype(np.float32))


class StubService:
    """Stands in for QAService where a test needs the app without the model: it answers
    after a set time (the timing cases the real service cannot hit on cue) and remembers
    what it was asked. What an answer says is tested with the real service."""

    def __init__(self, *delays: float) -> None:
        self.delays = list(delays) or [0.0]  # one per call; the last one repeats
        self.finished: list[float] = []  # monotonic time each answer's thread ended
        self.asked: list[tuple[str, tuple[str, ...], int]] = []
        self.engine = SimpleNamespace(index=SimpleNamespace(version="v-stub", documents={}))
        self.store = IndexStore(Path("index"))
        self.ready = self.loaded = True
        self.unreachable: str | None = None
        self.cache: dict[str, Any] = {}
        self.embedder = SimpleNamespace(model_id="stub-model", dim=3)

    def ask(self, question: str, history: Sequence[str] = (), k: int = 5) -> Answer:
        self.asked.append((question, tuple(history), k))
        delay = self.delays.pop(0) if len(self.delays) > 1 else self.delays[0]
        time.sleep(delay)
        self.finished.append(time.monotonic())
        return Answer(text="Eine Antwort. [1]", no_answer=False, citations=(), language="de",
                      took_ms=delay * 1000)

    def status(self) -> dict[str, Any]:
        return {"ready": True, "index_dir": "/srv/secret/index", "version": "v-stub",
                "last_reload_error": "cannot read /srv/secret/index/v2/manifest.json"}
