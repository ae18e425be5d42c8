"""Building a version of the PostgreSQL store from a corpus (issue 20, docs/SCALE-OUT.md).

The same pipeline as the files build (:mod:`natoqa.index.builder`): scan → clean → split →
embed → artifacts, segment by segment in bounded memory; only the writing differs. A
document new or changed since the current version becomes a :class:`NewDocument` (its
passages, their vectors, its sentence units with theirs and their latent terms, BM25's
postings); unchanged documents are kept (their rows are shared, nothing is read back);
and everything is committed with the switch of the current version in **one
transaction** under the store's advisory build lock, so a build that dies leaves nothing
visible (:class:`natoqa.index.postgres.LockedStore`).

As the files build, a changed document's passages and units whose text did not change
keep their stored vectors (read back for that document only); the embedding cache
(natoqa.embed.cache, a local file) lets an interrupted build resume.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from natoqa.config import UnitVectors
from natoqa.embed.base import Embedder, Vectors
from natoqa.embed.cache import CachedEmbedder
from natoqa.index import artifacts
from natoqa.index import units as sentence_units
from natoqa.index.builder import (
    BuildReport,
    Progress,
    check_corpus,
    chunks_of,
    diff_documents,
    embed_segment,
    manifest_change,
    offset_progress,
    passage_settings,
    seconds_since,
)
from natoqa.index.lexicon import Lexicon
from natoqa.index.postgres import NewDocument, PostgresStore
from natoqa.index.store import DocumentRecord, Manifest, new_version_name, utc_now
from natoqa.index.units import UnitSpan
from natoqa.ingest import passages as passages_mod
from natoqa.ingest.cleaning import clean
from natoqa.ingest.sources import scan_corpus
from natoqa.models import Passage

log = logging.getLogger(__name__)

#: passages embedded and written at a time (whole documents): what a build holds in memory
SEGMENT_PASSAGES = 2_000


def build_postgres(
    corpus_dir: Path,
    store: PostgresStore,
    embedder: Embedder,
    *,
    min_words: int = 60,
    max_words: int = 200,
    overlap: int = 0,
    include_backmatter: bool = True,
    keep_versions: int = 5,
    lock_timeout: float = 0.0,
    force: bool = False,
    progress: Progress | None = None,
    unit_vectors: UnitVectors = "separate",
    cache_file: Path | None = None,
    segment_passages: int = SEGMENT_PASSAGES,
) -> BuildReport:
    """Build a new version in ``store`` and make it current (as
    :func:`natoqa.index.builder.build_index` does for files; the same report). When
    nothing changed no version is written (``switched=False``) unless ``force``.
    ``cache_file``: where embedded texts are kept until the build commits (resume)."""
    started = time.perf_counter()
    check_corpus(corpus_dir)
    store.ensure_schema(embedder.dim)
    settings = passage_settings(min_words, max_words, overlap, include_backmatter)
    with store.build_lock(lock_timeout) as locked:
        timings: dict[str, float] = {}
        t = time.perf_counter()
        previous = store.current()
        last = store.manifest(previous) if previous is not None else None
        before = store.documents(previous) if previous is not None else {}
        full = None if last is None else "; ".join(
            r for r in manifest_change(last, embedder, settings, unit_vectors) if r)
        incremental = previous is not None and not full and not force
        timings["load_previous_s"] = seconds_since(t)
        t = time.perf_counter()
        scan = scan_corpus(corpus_dir, {d: r.content_hash for d, r in before.items()}
                           if incremental else None)
        records = {d: before[d] for d in scan.unchanged}
        fresh: list[Passage] = []
        for raw in scan.documents:
            doc = clean(raw)
            parts = passages_mod.split(doc, min_words=min_words, max_words=max_words,
                                       overlap=overlap, include_backmatter=include_backmatter)
            fresh.extend(parts)
            records[doc.doc_id] = DocumentRecord(doc.doc_id, doc.meta, doc.content_hash,
                                                 len(parts), raw.fmt)
        hashes = {d: records[d].content_hash for d in sorted(records)}
        timings["scan_s"] = seconds_since(t)
        report = BuildReport(
            version=new_version_name(), documents=len(records),
            passages=sum(r.passages for r in records.values()), previous_version=previous,
            skipped=[{"path": e.path, "reason": e.reason} for e in scan.skipped],
            full_rebuild=full or ("no previous index" if previous is None else None),
            timings=timings)
        diff_documents(report, {d: r.content_hash for d, r in before.items()}, hashes)
        if full:
            log.warning("full rebuild: %s", full)
        elif not report.has_changes and not force and previous is not None:
            report.version, report.switched = previous, False
            report.passages_reused = report.passages
            report.seconds = seconds_since(started)
            log.info("no document changed since %s: nothing to build", previous)
            return report
        kept = sorted(scan.unchanged) if incremental else []
        language = last.corpus_language if last is not None and incremental else None
        manifest = Manifest(
            version=report.version, model_id=embedder.model_id, dim=embedder.dim,
            passage_count=report.passages, documents=hashes, passage_settings=settings,
            created=utc_now(), unit_rules=sentence_units.RULES,
            corpus_language=language or artifacts.corpus_language(
                fresh, {d: r.meta for d, r in records.items()}),
            unit_vectors=unit_vectors)
        # the words of the documents kept, so the new ones' compounds split alike
        words = store.word_counts(exclude=set(before) - set(kept)) if kept else None
        # a changed document's unchanged passages and units keep their vectors
        reusable, units = (store.reusable(set(before) & {d.doc_id for d in scan.documents},
                                          unit_vectors) if incremental else ({}, {}))
        cache = CachedEmbedder(embedder, cache_file)
        try:
            with locked.writer(manifest) as writer:
                writer.keep(kept)
                done = {"passages": 0, "sentences": 0}
                for chunk in chunks_of(fresh, segment_passages):
                    vectors, extras = embed_segment(
                        chunk, cache, report, offset_progress(progress, done), units=units,
                        reusable=reusable, unit_vectors=unit_vectors)
                    t = time.perf_counter()
                    extras |= artifacts.build(chunk, extras, vectors,
                                              ann_min_passages=len(chunk) + 1,
                                              word_counts=words)
                    timings["artifacts_s"] = timings.get("artifacts_s", 0) + seconds_since(t)
                    t = time.perf_counter()
                    writer.add(new_documents(chunk, vectors, extras, records))
                    timings["write_s"] = timings.get("write_s", 0) + seconds_since(t)
                    del vectors, extras
                t = time.perf_counter()
                writer.commit(build_seconds=seconds_since(started))
                timings["commit_s"] = seconds_since(t)
        finally:
            cache.close()
        report.texts_resumed = cache.hits
        cache.close(delete=True)  # committed: nothing left to resume
        report.passages_reused = report.passages - report.passages_embedded
        report.segments = 1
        log.info("index %s is current in %s (was %s): %d documents written, %d kept",
                 report.version, store.where, previous or "none", len(scan.documents),
                 len(kept))
        report.pruned = locked.prune(keep_versions)
        report.seconds = seconds_since(started)
        timings.update({k: round(v, 3) for k, v in timings.items()})
        return report


def new_documents(
    passages: Sequence[Passage], vectors: Vectors, extras: dict[str, Any],
    records: dict[str, DocumentRecord],
) -> list[NewDocument]:
    """A segment's passages, vectors and artifacts (as the files store would write them)
    cut into the documents the PostgreSQL writer takes; ``passages`` hold whole documents."""
    unit_rows = np.asarray(extras[sentence_units.ROWS_FILE], dtype=np.int64)
    spans = np.asarray(extras[sentence_units.SPANS_FILE])
    unit_vectors = np.asarray(extras[sentence_units.VECTORS_FILE], dtype=np.float32)
    term_ids = extras.get(sentence_units.TERM_IDS_FILE)
    term_weights = extras.get(sentence_units.TERM_WEIGHTS_FILE)
    postings = Lexicon.from_files(extras, len(passages)).per_row()
    # units are stored passage by passage: the first unit of each passage, and its end
    starts = np.searchsorted(unit_rows, np.arange(len(passages) + 1))
    out: list[NewDocument] = []
    first = 0
    while first < len(passages):
        doc_id = passages[first].doc_id
        last = first
        while last < len(passages) and passages[last].doc_id == doc_id:
            last += 1
        a, b = int(starts[first]), int(starts[last])
        out.append(NewDocument(
            records[doc_id], passages[first:last], vectors[first:last],
            [[UnitSpan(*map(int, spans[j])) for j in range(starts[i], starts[i + 1])]
             for i in range(first, last)],
            unit_vectors[a:b],
            postings=postings[first:last],
            unit_term_ids=None if term_ids is None else np.asarray(term_ids[a:b]),
            unit_term_weights=None if term_weights is None else np.asarray(term_weights[a:b])))
        first = last
    return out
