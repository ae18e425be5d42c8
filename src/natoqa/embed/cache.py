"""Embeddings kept on disk while a build runs, so an interrupted build resumes.

A build of a large corpus embeds for hours; Ctrl-C, a crash or a killed container
would throw that work away, since a version is only written at the end.
:class:`CachedEmbedder` wraps the build's model: every batch it embeds is committed
to a SQLite file (keyed by a hash of model, kind and text) before the build goes on,
and a text found there is not embedded again. The builder deletes the file after a
successful build: unchanged texts are reused from the current version anyway, so
the cache only has to bridge builds that did not finish.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from natoqa.embed.base import Embedded, EmbeddedUnits, Embedder, Kind, Span, Vectors

_SCHEMA = """CREATE TABLE IF NOT EXISTS embeddings (
    key BLOB PRIMARY KEY, vector BLOB NOT NULL, term_ids BLOB, term_weights BLOB)"""


class CachedEmbedder(Embedder):
    """``inner``'s passage embeddings, each computed once across interrupted builds."""

    def __init__(self, inner: Embedder, path: Path | None) -> None:
        """``path`` None: in memory (a build that cannot resume still embeds each text once,
        in the same batches as one that can: the vectors are bit for bit the same)."""
        self.inner = inner
        self.model_id, self.dim = inner.model_id, inner.dim
        self.language_means = inner.language_means
        self.path = path
        self.hits = 0
        self._db = sqlite3.connect(path or ":memory:", isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    @property
    def has_terms(self) -> bool:
        return self.inner.has_terms

    def close(self, *, delete: bool = False) -> None:
        self._db.close()
        if delete and self.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _key(self, text: str, kind: Kind) -> bytes:
        return hashlib.sha256(f"{self.model_id}\0{kind}\0{text}".encode()).digest()

    def _lookup(self, keys: list[bytes]) -> dict[bytes, tuple[bytes, bytes | None, bytes | None]]:
        found: dict[bytes, tuple[bytes, bytes | None, bytes | None]] = {}
        for chunk in _chunks(keys):
            rows = self._db.execute(
                "SELECT key, vector, term_ids, term_weights FROM embeddings WHERE key IN "
                f"({','.join('?' * len(chunk))})", chunk)
            found.update((k, (v, i, w)) for k, v, i, w in rows)
        return found

    def _stored(self, keys: list[bytes], terms: bool) -> set[bytes]:
        """Which of ``keys`` are stored (with their latent terms, if ``terms``)."""
        found: set[bytes] = set()
        where = " AND term_ids IS NOT NULL" if terms else ""
        for chunk in _chunks(keys):
            found.update(k for (k,) in self._db.execute(
                f"SELECT key FROM embeddings WHERE key IN ({','.join('?' * len(chunk))})"
                + where, chunk))
        return found

    def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
        if kind == "query":  # questions are not a build's work
            return self.inner.embed_batch(texts, kind=kind)
        return self._embed(texts, kind, terms=False).vectors

    def embed_batch_terms(self, texts: Sequence[str], *, kind: Kind) -> Embedded:
        if kind == "query":
            return self.inner.embed_batch_terms(texts, kind=kind)
        return self._embed(texts, kind, terms=True)

    def embed_units(
        self, texts: Sequence[str], units: Sequence[Sequence[Span]], *, kind: Kind = "passage"
    ) -> EmbeddedUnits:
        """The inner model's pooled units, not cached: a pooled unit depends on its whole
        passage, and the passes are cheap next to embedding each unit (docs/BENCHMARKS.md)."""
        return self.inner.embed_units(texts, units, kind=kind)

    def embed_units_batches(
        self, batches: Iterable[tuple[Sequence[str], Sequence[Sequence[Span]]]], *,
        kind: Kind = "passage",
    ) -> Generator[EmbeddedUnits, None, None]:
        return self.inner.embed_units_batches(batches, kind=kind)

    def embed_batches(
        self, batches: Iterable[Sequence[str]], *, kind: Kind, terms: bool = False
    ) -> Generator[Embedded, None, None]:
        """Each batch's texts looked up first; the inner model gets what is missing, batch
        by batch as the uncached embedder gets it, and each batch is committed as it comes."""
        if kind == "query":
            yield from self.inner.embed_batches(batches, kind=kind, terms=terms)
            return
        plans = [self._plan(texts, kind, terms) for texts in batches]
        fresh = self.inner.embed_batches([plan.todo_texts for plan in plans if plan.todo],
                                         kind=kind, terms=terms)
        try:
            for plan in plans:
                yield self._merge(plan, next(fresh) if plan.todo else None, terms)
        finally:
            fresh.close()

    def _embed(self, texts: Sequence[str], kind: Kind, *, terms: bool) -> Embedded:
        return next(self.embed_batches([texts], kind=kind, terms=terms))

    def _plan(self, texts: Sequence[str], kind: Kind, terms: bool) -> _Plan:
        """Which of a batch's texts are stored: their keys only. A segment's batches are
        all planned before the first is embedded, and their stored rows would be a
        gigabyte when a build resumes (280,000 units); they are read as each is merged."""
        keys = [self._key(t, kind) for t in texts]
        # a row stored without terms does not do for a caller that wants them
        stored = self._stored(keys, terms)
        todo = [i for i, k in enumerate(keys) if k not in stored]
        return _Plan(keys, todo, [texts[i] for i in todo])

    def _merge(self, plan: _Plan, fresh: Embedded | None, terms: bool) -> Embedded:
        """The batch's rows: ``fresh`` (the inner model's, for ``plan.todo``; committed now)
        and the stored ones."""
        keys, todo = plan.keys, plan.todo
        position = {i: j for j, i in enumerate(todo)}
        stored = self._lookup([k for i, k in enumerate(keys) if i not in position])
        width = 0
        if fresh is not None:
            width = fresh.term_ids.shape[1]
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)",
                [(keys[i], fresh.vectors[j].astype(np.float32).tobytes(),
                  fresh.term_ids[j].astype(np.int32).tobytes() if terms else None,
                  fresh.term_weights[j].astype(np.float32).tobytes() if terms else None)
                 for j, i in enumerate(todo)])
        elif terms and stored:
            width = len(next(iter(stored.values()))[1] or b"") // 4
        self.hits += len(keys) - len(todo)
        vectors = np.zeros((len(keys), self.dim), dtype=np.float32)
        ids = np.zeros((len(keys), width), dtype=np.int32)
        weights = np.zeros((len(keys), width), dtype=np.float32)
        for i, key in enumerate(keys):
            if i in position:
                assert fresh is not None
                j = position[i]
                vectors[i], ids[i], weights[i] = (fresh.vectors[j], fresh.term_ids[j],
                                                  fresh.term_weights[j])
            else:
                vector, term_ids, term_weights = stored[key]
                vectors[i] = np.frombuffer(vector, dtype=np.float32)
                if terms:
                    ids[i] = np.frombuffer(term_ids or b"", dtype=np.int32)
                    weights[i] = np.frombuffer(term_weights or b"", dtype=np.float32)
        return Embedded(vectors, ids, weights)


@dataclass(frozen=True)
class _Plan:
    """One batch's texts as the cache has them: which rows are stored, which to embed."""

    keys: list[bytes]
    todo: list[int]
    todo_texts: list[str]


def _chunks(keys: list[bytes]) -> Iterator[list[bytes]]:
    """``keys`` in lists of 500: SQLite's bound-parameter limit."""
    for start in range(0, len(keys), 500):
        yield keys[start : start + 500]
