"""Building an index version from a corpus: scan → clean → split → embed → write → activate.

Incremental by construction: vectors of passages whose text is unchanged are
taken from the current version (same model, same passage settings), so only new
or changed passages are embedded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from natoqa import passages as passages_mod
from natoqa.cleaning import clean
from natoqa.embedding import Embedder
from natoqa.errors import IndexError_, IndexLocked
from natoqa.sources import scan_corpus
from natoqa.store import DocumentRecord, IndexStore, Manifest, new_version_name, utc_now
from natoqa.types import Passage

log = logging.getLogger(__name__)

LOCK_FILE = ".build.lock"

#: progress callback: (passages embedded so far, passages to embed)
Progress = Callable[[int, int], None]


@dataclass
class BuildReport:
    """What a build did; printed by ``natoqa build --json``."""

    version: str
    documents: int
    passages: int
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    passages_embedded: int = 0
    passages_reused: int = 0
    full_rebuild: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def passage_settings(min_words: int, max_words: int) -> dict[str, Any]:
    """Everything that shapes passages; a change of it forces a full rebuild."""
    return {
        "min_words": min_words,
        "max_words": max_words,
        "pipeline": getattr(passages_mod, "PIPELINE_VERSION", 1),
    }


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    *,
    min_words: int = 60,
    max_words: int = 200,
    keep_versions: int = 5,
    lock_timeout: float = 0.0,
    progress: Progress | None = None,
) -> BuildReport:
    """Build a new version of the index at ``index_dir`` and make it current.

    Raises CorpusError for a missing or empty corpus and IndexLocked when another
    build holds the lock for longer than ``lock_timeout`` seconds.
    """
    started = time.perf_counter()
    store = IndexStore(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / LOCK_FILE), timeout=lock_timeout)
    try:
        lock.acquire()
    except Timeout:
        raise IndexLocked(
            f"another build is running on {index_dir} (lock {index_dir / LOCK_FILE})"
        ) from None
    try:
        scan = scan_corpus(corpus_dir)
        settings = passage_settings(min_words, max_words)
        previous, reusable, full_reason = _previous(store, embedder, settings)

        docs = [clean(raw) for raw in scan.documents]
        all_passages: list[Passage] = []
        records: list[DocumentRecord] = []
        for doc, raw in zip(docs, scan.documents, strict=True):
            parts = passages_mod.split(doc, min_words=min_words, max_words=max_words)
            all_passages.extend(parts)
            records.append(DocumentRecord(doc.doc_id, doc.meta, doc.content_hash, len(parts), raw.fmt))

        todo = [i for i, p in enumerate(all_passages) if p.text not in reusable]
        vectors = np.zeros((len(all_passages), embedder.dim), dtype=np.float32)
        for i, p in enumerate(all_passages):
            if p.text in reusable:
                vectors[i] = reusable[p.text]
        _embed_into(vectors, all_passages, todo, embedder, progress)

        report = BuildReport(
            version=new_version_name(),
            documents=len(docs),
            passages=len(all_passages),
            skipped=[{"path": e.path, "reason": e.reason} for e in scan.skipped],
            passages_embedded=len(todo),
            passages_reused=len(all_passages) - len(todo),
            full_rebuild=full_reason,
        )
        _diff(report, previous, {d.doc_id: d.content_hash for d in docs})
        manifest = Manifest(
            version=report.version,
            model_id=embedder.model_id,
            dim=embedder.dim,
            passage_count=len(all_passages),
            documents={d.doc_id: d.content_hash for d in docs},
            passage_settings=settings,
            created=utc_now(),
        )
        report.seconds = round(time.perf_counter() - started, 3)
        manifest.build_seconds = report.seconds
        store.write(passages=all_passages, vectors=vectors, documents=records, manifest=manifest)
        store.load(report.version, expect_dim=embedder.dim)  # verify before switching
        store.activate(report.version)
        store.prune(keep_versions)
        return report
    finally:
        lock.release()


def _previous(
    store: IndexStore, embedder: Embedder, settings: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any], str | None]:
    """(doc hashes of the current version, reusable vectors by text, why a full rebuild)."""
    if not store.exists():
        return {}, {}, "no previous index"
    try:
        current = store.load()
    except IndexError_ as exc:
        log.warning("current index unusable, rebuilding fully: %s", exc)
        return {}, {}, f"current index unusable: {exc.message}"
    docs = dict(current.manifest.documents)
    if current.manifest.model_id != embedder.model_id or current.manifest.dim != embedder.dim:
        return docs, {}, (
            f"model changed ({current.manifest.model_id} -> {embedder.model_id}): "
            "re-embedding everything"
        )
    if current.manifest.passage_settings != settings:
        return docs, {}, "passage settings changed: re-embedding everything"
    return docs, current.vectors_by_text(), None


def _embed_into(
    vectors: np.ndarray[Any, Any],
    passages: list[Passage],
    todo: list[int],
    embedder: Embedder,
    progress: Progress | None,
    chunk: int = 64,
) -> None:
    for start in range(0, len(todo), chunk):
        rows = todo[start : start + chunk]
        vectors[rows] = embedder.embed_batch([passages[i].text for i in rows], kind="passage")
        if progress:
            progress(min(start + chunk, len(todo)), len(todo))


def _diff(report: BuildReport, before: dict[str, str], after: dict[str, str]) -> None:
    for doc_id, digest in sorted(after.items()):
        if doc_id not in before:
            report.added.append(doc_id)
        elif before[doc_id] != digest:
            report.changed.append(doc_id)
        else:
            report.unchanged.append(doc_id)
    report.removed = sorted(set(before) - set(after))
