"""Building an index version from a corpus: scan → clean → split → embed → write → activate.

Incremental: only documents whose content hash changed are read, split and embedded
(and of those only passage texts the current version does not hold); they make one
new segment, and the current version's other segments are shared with the new one
(natoqa.index.segments), small ones merged as they accumulate. A change of model or
passage settings re-embeds everything and the report says why (``full_rebuild``).
A build runs under a file lock, keeps what it embedded in a cache until it succeeds
(natoqa.embed.cache: an interrupted build resumes), and switches ``CURRENT`` only
after the new version is written and verified; an error or Ctrl-C at any point
leaves the current version as it was.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from natoqa.config import UnitVectors
from natoqa.embed.base import Embedder, Vectors
from natoqa.embed.cache import CachedEmbedder
from natoqa.errors import (
    CorpusError,
    IndexIncompatible,
    IndexLocked,
    IndexNotFound,
    IndexStoreError,
)
from natoqa.index import artifacts
from natoqa.index import units as sentence_vectors
from natoqa.index.passage_file import PassageFile
from natoqa.index.segments import SegmentEntry
from natoqa.index.spill import SPILL_DIR
from natoqa.index.store import (
    FORMAT,
    DocumentRecord,
    IndexStore,
    IndexVersion,
    Manifest,
    NewSegment,
    new_version_name,
    utc_now,
)
from natoqa.ingest import passages as passages_mod
from natoqa.ingest.cleaning import clean
from natoqa.ingest.sources import CorpusScan, iter_corpus
from natoqa.models import Passage
from natoqa.text.analyzer import words as analyzer_words

log = logging.getLogger(__name__)

LOCK_FILE = ".build.lock"
#: passages of a new segment, at most (whole documents): what a build holds in memory
SEGMENT_PASSAGES = 20_000
#: what a build embedded so far (natoqa.embed.cache): an interrupted build resumes from it
EMBED_CACHE = ".embeddings.sqlite"
#: the passages a build split, until its segments are written (natoqa.index.spill)
PASSAGE_SPILL = ".passages.jsonl"
EMBED_CHUNK = 64  # passages per embed call: the unit of progress and of Ctrl-C latency

#: progress callback: (what is embedded: "passages" or "sentences", done so far, to do)
Progress = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    """What a build did; ``natoqa build --json`` prints :meth:`to_dict`."""

    version: str
    documents: int
    passages: int
    previous_version: str | None = None
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    passages_embedded: int = 0
    passages_reused: int = 0
    #: texts an interrupted build had embedded, taken from its cache instead of the model
    texts_resumed: int = 0
    full_rebuild: str | None = None
    #: False when nothing changed and no new version was written
    switched: bool = True
    pruned: list[str] = field(default_factory=list)
    #: segments of the new version (shared with the previous one, or new)
    segments: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def to_dict(self) -> dict[str, Any]:
        """The summary: counts first, then the ids of what changed (not the unchanged ones)."""
        data = asdict(self)
        unchanged = data.pop("unchanged")
        return {
            "version": self.version,
            "previous_version": self.previous_version,
            "switched": self.switched,
            "documents": self.documents,
            "documents_added": len(self.added),
            "documents_changed": len(self.changed),
            "documents_removed": len(self.removed),
            "documents_unchanged": len(unchanged),
            "passages": self.passages,
            "passages_embedded": self.passages_embedded,
            "passages_reused": self.passages_reused,
            "texts_resumed": self.texts_resumed,
            "segments": self.segments,
            "full_rebuild": self.full_rebuild,
            "seconds": self.seconds,
            **{k: data[k] for k in ("added", "changed", "removed", "skipped", "pruned", "timings")},
        }


@dataclass(frozen=True)
class _Previous:
    """What the current version offers a build."""

    version: str | None
    documents: dict[str, str]  # doc_id -> content hash
    current: IndexVersion | None
    #: why every passage has to be embedded again (None: vectors are reusable by text)
    full_reason: str | None
    #: why every segment has to be written again although no document changed
    rewrite: str | None = None
    #: whether the stored unit vectors can be reused (same unit rules)
    units_reusable: bool = True

    @property
    def reuse(self) -> bool:
        return self.full_reason is None


def passage_settings(
    min_words: int, max_words: int, overlap: int = 0, include_backmatter: bool = True
) -> dict[str, Any]:
    """Everything that shapes passages; a change of it forces a full rebuild."""
    return {
        "min_words": min_words,
        "max_words": max_words,
        "overlap": overlap,
        "include_backmatter": include_backmatter,
        "pipeline": getattr(passages_mod, "PIPELINE_VERSION", 1),
    }


@contextmanager
def build_lock(index_dir: Path, timeout: float = 0.0) -> Iterator[None]:
    """Hold the index's build lock; IndexLocked when another holder keeps it beyond ``timeout``.

    An OS file lock (flock): the kernel releases it when the holder dies, even
    by SIGKILL, so a crashed build never blocks the next one.
    """
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(index_dir / LOCK_FILE), timeout=timeout)
        lock.acquire()
    except Timeout:
        waited = f" after waiting {timeout:g}s" if timeout > 0 else ""
        raise IndexLocked(
            f"another build is running on {index_dir}{waited} (it holds "
            f"{index_dir / LOCK_FILE}); wait for it to finish, or use --wait SECONDS"
        ) from None
    except OSError as exc:
        raise IndexStoreError(
            f"cannot write to the index folder {index_dir}: {exc.strerror}"
        ) from None
    try:
        yield
    finally:
        lock.release()


def check_corpus(corpus_dir: Path) -> None:
    """CorpusError with a plain reason when ``corpus_dir`` cannot be read as a folder."""
    if not corpus_dir.exists():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist")
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus path {corpus_dir} is not a folder")
    if not os.access(corpus_dir, os.R_OK | os.X_OK):
        raise CorpusError(f"corpus folder {corpus_dir} is not readable (permission denied)")


def build_index(
    corpus_dir: Path,
    index_dir: Path,
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
    ann_min_passages: int = artifacts.ANN_MIN_PASSAGES,
    segment_passages: int = SEGMENT_PASSAGES,
    unit_vectors: UnitVectors = "separate",
) -> BuildReport:
    """Build a new version of the index at ``index_dir`` and make it current.

    When nothing changed since the current version (same documents, model and
    passage settings) no version is written and the report has
    ``switched=False``, unless ``force``. Raises CorpusError for a missing,
    unreadable or empty corpus, IndexLocked when another build holds the lock
    for longer than ``lock_timeout`` seconds, IndexStoreError when the index folder
    cannot be written. ``unit_vectors``: how sentence units are embedded
    (natoqa.index.units.build's ``mode``; ``NATOQA_UNIT_VECTORS``).
    """
    started = time.perf_counter()
    check_corpus(corpus_dir)  # before the index folder is created for nothing
    store = IndexStore(index_dir)
    with build_lock(index_dir, lock_timeout), ExitStack() as stack:
        timings: dict[str, float] = {}
        t = time.perf_counter()
        settings = passage_settings(min_words, max_words, overlap, include_backmatter)
        prev = _previous(store, embedder, settings, unit_vectors)
        timings["load_previous_s"] = seconds_since(t)
        t = time.perf_counter()
        incremental = prev.current is not None and not (prev.full_reason or prev.rewrite
                                                       or force)
        # an incremental build parses only the files whose content hash changed
        known = ({d: r.content_hash for d, r in prev.current.documents.items()}
                 if incremental and prev.current is not None else None)
        scan = CorpusScan()
        records: list[DocumentRecord] = []
        # passages of documents new or changed since prev, written as they are split (the
        # unchanged stay in their segments); `everything`: their words
        fresh = PassageFile(index_dir / PASSAGE_SPILL)
        stack.callback(fresh.remove)
        everything: Counter[str] = Counter()
        for raw in iter_corpus(corpus_dir, known, scan):
            doc = clean(raw)
            parts = passages_mod.split(
                doc,
                min_words=min_words,
                max_words=max_words,
                overlap=overlap,
                include_backmatter=include_backmatter,
            )
            fresh.add(parts)
            everything.update(w for p in parts for w in analyzer_words(p.text))
            records.append(
                DocumentRecord(doc.doc_id, doc.meta, doc.content_hash, len(parts), raw.fmt)
            )
        if scan.unchanged:
            assert prev.current is not None
            records += [prev.current.documents[doc_id] for doc_id in scan.unchanged]
        records.sort(key=lambda r: r.doc_id)
        hashes = {r.doc_id: r.content_hash for r in records}
        timings["scan_s"] = seconds_since(t)
        report = BuildReport(
            version=new_version_name(),
            documents=len(records),
            passages=sum(r.passages for r in records),
            previous_version=prev.version,
            skipped=[{"path": e.path, "reason": e.reason} for e in scan.skipped],
            full_rebuild=prev.full_reason,
            timings=timings,
        )
        log.info("read %d documents (%d skipped, %d new or changed: %d passages) into %d "
                 "passages in %.1fs", len(records), len(scan.skipped),
                 len(records) - len(scan.unchanged), fresh.count, report.passages,
                 timings["scan_s"])
        diff_documents(report, prev.documents, hashes)
        if prev.full_reason:
            log.warning("full rebuild: %s", prev.full_reason)
        elif prev.rewrite:
            log.warning("new version although no document changed: %s", prev.rewrite)
        elif not report.has_changes and not force and prev.version is not None:
            report.version, report.switched = prev.version, False
            report.passages_reused = report.passages
            report.seconds = seconds_since(started)
            log.info("no document changed since %s: nothing to build", prev.version)
            return report

        # which segments of the current version stay (with their deletions), which merge
        gone = set(report.changed) | set(report.removed)
        kept: list[tuple[str, SegmentEntry]] = []
        merged: list[Passage] = []
        if incremental and prev.current is not None:
            kept, merged = _plan_segments(prev.current, gone, fresh.count)
        everything.update(w for p in merged for w in analyzer_words(p.text))

        def new_passages() -> Iterator[Passage]:  # read back, once for each use
            return itertools.chain(merged, fresh.read())

        reuse_docs = None if not incremental else gone | {p.doc_id for p in merged}

        metas = {r.doc_id: r.meta for r in records}
        language = (prev.current.manifest.corpus_language
                    if incremental and prev.current is not None else None)
        manifest = Manifest(
            version=report.version,
            model_id=embedder.model_id,
            dim=embedder.dim,
            passage_count=report.passages,
            documents=hashes,
            passage_settings=settings,
            created=utc_now(),
            unit_rules=sentence_vectors.RULES,
            corpus_language=language or artifacts.corpus_language(new_passages(), metas),
            unit_vectors=unit_vectors,
        )
        reusable = (prev.current.vectors_by_text(reuse_docs)
                    if prev.current is not None and prev.reuse else {})
        units = (_reusable_units(prev.current, embedder, reuse_docs, unit_vectors)
                 if prev.current is not None and prev.reuse and prev.units_reusable else {})
        # the words of everything the new segments join, so compounds split alike in all
        words = (artifacts.word_counts(prev.current, {e.name for _, e in kept})
                 if prev.current is not None else Counter[str]())
        cache = CachedEmbedder(embedder, index_dir / EMBED_CACHE)
        chunks = 0
        try:
            with store.writer(manifest) as writer:
                for source, entry in kept:
                    writer.keep(source, entry)
                # segment by segment: a build holds one segment's passages and vectors at a time
                done = {"passages": 0, "sentences": 0}
                for chunk in chunks_of(new_passages(), segment_passages):
                    chunks += 1
                    own = Counter(w for p in chunk for w in analyzer_words(p.text))
                    vectors, extras = embed_segment(
                        chunk, cache, report, offset_progress(progress, done), units=units,
                        reusable=reusable, unit_vectors=unit_vectors,
                        spill=writer.folder / SPILL_DIR)
                    # what retrieval would otherwise derive at every load
                    t = time.perf_counter()
                    extras |= artifacts.build(chunk, extras, vectors,
                                              ann_min_passages=ann_min_passages,
                                              word_counts=words + (everything - own),
                                              spill=writer.folder / SPILL_DIR)
                    timings["artifacts_s"] = timings.get("artifacts_s", 0) + seconds_since(t)
                    t = time.perf_counter()
                    writer.add(NewSegment(chunk, vectors, extras))
                    timings["write_s"] = timings.get("write_s", 0) + seconds_since(t)
                    del vectors, extras
                t = time.perf_counter()
                manifest.build_seconds = seconds_since(started)
                writer.commit(records)
        except OSError as exc:
            raise IndexStoreError(f"cannot write index version to {index_dir}: {exc}") from None
        finally:
            cache.close()
        report.passages_reused = report.passages - report.passages_embedded
        report.texts_resumed = cache.hits
        if cache.hits:
            log.info("resumed %d embedded texts of an interrupted build", cache.hits)
        switch_to(store, report.version, dim=embedder.dim, model=embedder.model_id,
                  verified=[entry.name for _, entry in kept])
        timings["write_s"] = timings.get("write_s", 0) + seconds_since(t)
        timings.update({k: round(v, 3) for k, v in timings.items()})
        cache.close(delete=True)  # done: the next build reuses this version's vectors
        report.segments = len(kept) + chunks
        log.info("index %s is current (was %s): %d segments, %d shared", report.version,
                 prev.version or "none", report.segments, len(kept))
        report.pruned = store.prune(keep_versions)
        report.seconds = seconds_since(started)
        return report


def switch_to(store: IndexStore, version: str, *, dim: int, model: str,
              verified: list[str]) -> None:
    """Load the new ``version`` (its new segments checked; the ``verified`` ones were
    when their version was) and make it current; refused, or interrupted before the
    switch, it is removed."""
    try:
        store.load(version, expect_dim=dim, expect_model=model, verified=verified)
        store.activate(version)
    except BaseException:
        if store.current() != version:
            store.remove(version)
        raise


def embed_segment(
    chunk: list[Passage],
    embedder: Embedder,
    report: BuildReport,
    progress: Progress | None = None,
    *,
    units: dict[str, sentence_vectors.Unit] | None = None,
    reusable: dict[str, Vectors] | None = None,
    unit_vectors: UnitVectors = "separate",
    spill: Path | None = None,
) -> tuple[Vectors, dict[str, Any]]:
    """A segment's passage vectors and its sentence units' arrays (natoqa.index.units),
    reusing what ``units`` / ``reusable`` hold by text; its times go to ``report``.
    ``spill``: where the unit vectors are written as they are embedded."""
    timings = report.timings
    # units first: in the pooled mode their passes give their passages' vectors too
    pooled: dict[str, Vectors] = {}
    t = time.perf_counter()
    extras: dict[str, Any] = dict(sentence_vectors.build(
        chunk, embedder, units or {},
        progress=functools.partial(progress, "sentences") if progress else None,
        mode=unit_vectors, passage_vectors=pooled, spill=spill,
    ))
    timings["embed_sentences_s"] = timings.get("embed_sentences_s", 0) + seconds_since(t)
    t = time.perf_counter()
    vectors = _vectors(chunk, reusable or {}, embedder, progress, report, pooled)
    timings["embed_s"] = timings.get("embed_s", 0) + seconds_since(t)
    return vectors, extras


#: merge small segments once there are this many (Lucene's merge factor, in spirit)
MERGE_FACTOR = 4
#: a segment of which this share is deleted is rewritten with its live rows
MERGE_DELETED = 0.5


def _plan_segments(
    current: IndexVersion, gone: set[str], fresh: int
) -> tuple[list[tuple[str, SegmentEntry]], list[Passage]]:
    """The current version's segments to keep (with ``gone`` documents deleted) and the live
    passages of those to merge into the new segment.

    Tiered, as Lucene's merge policy: segments under a tenth of the index are grouped by
    size (tier ``log_MERGE_FACTOR`` of their passages, the new segment among them); once a
    tier holds MERGE_FACTOR segments they are merged into one of the next tier. A passage
    is so rewritten about once per tier, log(n) times in all, and the segments a question
    searches stay few. A segment of which MERGE_DELETED is deleted is rewritten with its
    live passages (the documents it serves).
    """
    total = len(current) + fresh
    plans: list[tuple[SegmentEntry, list[Passage]]] = []
    for segment in current.segments:
        deleted = set(segment.entry.deleted) | (gone & segment.documents)
        entry = SegmentEntry(segment.name, segment.entry.rows, tuple(sorted(deleted)))
        plans.append((entry, [p for p in segment.passages if p.doc_id not in deleted]))

    def tier(size: int) -> int:
        return int(math.log(max(size, 1), MERGE_FACTOR))

    tiers: dict[int, int] = {tier(fresh): 1}
    for _, live in plans:
        if live and len(live) < total / 10:
            tiers[tier(len(live))] = tiers.get(tier(len(live)), 0) + 1
    full = min((t for t, n in tiers.items() if n >= MERGE_FACTOR), default=None)
    kept: list[tuple[str, SegmentEntry]] = []
    merged: list[Passage] = []
    for entry, live in plans:
        if (not live or len(live) < (1 - MERGE_DELETED) * entry.rows
                or (len(live) < total / 10 and tier(len(live)) == full)):
            merged.extend(live)
        else:
            kept.append((current.version, entry))
    return kept, merged


def chunks_of(passages: Iterable[Passage], size: int) -> Iterator[list[Passage]]:
    """``passages`` cut into segments of about ``size`` (whole documents; none if empty), one
    at a time."""
    current: list[Passage] = []
    for passage in passages:
        if current and passage.doc_id != current[-1].doc_id and len(current) >= size:
            yield current
            current = []
        current.append(passage)
    if current:
        yield current


def offset_progress(progress: Progress | None, done: dict[str, int]) -> Progress | None:
    """Progress of one segment reported as progress of the build so far."""
    if progress is None:
        return None
    start = dict(done)

    def report(phase: str, n: int, of: int) -> None:
        done[phase] = start.get(phase, 0) + n
        progress(phase, done[phase], start.get(phase, 0) + of)

    return report


def _reusable_units(current: IndexVersion, embedder: Embedder, doc_ids: set[str] | None,
                    mode: UnitVectors) -> dict[str, sentence_vectors.Unit]:
    """Unit text → what the current version stored for it (of ``doc_ids`` only, if given)."""
    out: dict[str, sentence_vectors.Unit] = {}
    for segment in current.segments:
        if doc_ids is not None and not doc_ids & segment.documents:
            continue
        out.update(sentence_vectors.reusable_from(segment.passages, segment.extras,
                                                  embedder.dim, mode, doc_ids))
    return out


def seconds_since(t: float) -> float:
    """Seconds since ``perf_counter()`` was ``t``, to the millisecond (the reports' timings)."""
    return round(time.perf_counter() - t, 3)


def manifest_change(
    m: Manifest, embedder: Embedder, settings: dict[str, Any], unit_vectors: UnitVectors,
) -> tuple[str | None, str | None]:
    """Why a version built as ``m`` says cannot be reused as it is: (why every passage is
    embedded again, why only every sentence unit is); (None, None) when it can."""
    if m.model_id != embedder.model_id or m.dim != embedder.dim:
        return f"model changed ({m.model_id} -> {embedder.model_id}): re-embedding everything", None
    if m.passage_settings != settings:
        changed = sorted(
            k for k in {*m.passage_settings, *settings}
            if m.passage_settings.get(k) != settings.get(k)
        )
        return f"passage settings changed ({', '.join(changed)}): re-embedding everything", None
    if m.unit_rules != sentence_vectors.RULES:
        # its units may be other texts: embed every unit again (passage vectors stay)
        return None, (f"{m.version} was cut into sentence units by other rules (version "
                      f"{m.unit_rules or 'unrecorded'}, now {sentence_vectors.RULES}): "
                      "re-embedding every unit")
    if m.unit_vectors != unit_vectors:
        return None, (f"{m.version}'s sentence units were embedded {m.unit_vectors}, now "
                      f"{unit_vectors}: re-embedding every unit")
    return None, None


def _previous(
    store: IndexStore, embedder: Embedder, settings: dict[str, Any],
    unit_vectors: UnitVectors = "separate",
) -> _Previous:
    """The current version and what of it a build may reuse, or why not."""
    version = store.current()
    if version is None:
        return _Previous(None, {}, None, "no previous index")
    try:
        current = store.load(version)
    except IndexStoreError as exc:
        log.warning("current index %s unusable, rebuilding fully: %s", version, exc.message)
        return _Previous(version, {}, None, f"current index {version} unusable: {exc.message}")
    docs = dict(current.manifest.documents)
    full, units = manifest_change(current.manifest, embedder, settings, unit_vectors)
    if full or units:
        return _Previous(version, docs, current, full, units, units_reusable=False)
    if embedder.has_terms and any(
        sentence_vectors.TERM_IDS_FILE not in s.extras and len(s.passages)
        and sentence_vectors.ROWS_FILE in s.extras for s in current.segments
    ):
        return _Previous(version, docs, current, None,
                         f"{version} has no latent terms (built by an older natoqa)")
    if current.manifest.format < FORMAT:
        return _Previous(version, docs, current, None,
                         f"{version} is in index format {current.manifest.format}: rewriting "
                         f"it as {FORMAT}")
    return _Previous(version, docs, current, None)


def _vectors(
    passages: list[Passage],
    reusable: dict[str, Vectors],
    embedder: Embedder,
    progress: Progress | None,
    report: BuildReport,
    pooled: dict[str, Vectors] | None = None,
) -> Vectors:
    """One vector per passage: reused by text where possible, else taken from the pass
    that pooled its units (``pooled``), else embedded (each new text once, even when
    several passages share it)."""
    vectors = np.zeros((len(passages), embedder.dim), dtype=np.float32)
    fresh: dict[str, list[int]] = {}
    passed = 0
    for i, p in enumerate(passages):
        if p.text in reusable:
            vectors[i] = reusable[p.text]
        elif pooled and p.text in pooled:
            vectors[i] = pooled[p.text]
            passed += 1
        else:
            fresh.setdefault(p.text, []).append(i)
    report.passages_embedded += passed + sum(len(rows) for rows in fresh.values())
    log.info("embedding %d new passage texts of %d passages", len(fresh), len(passages))
    texts = sorted(fresh, key=len, reverse=True)  # longest first: batches pad little
    if progress:
        progress("passages", 0, len(texts))
    # handed over whole: an embedder on a cluster runs several batches at once
    batches = [texts[start : start + EMBED_CHUNK] for start in range(0, len(texts), EMBED_CHUNK)]
    done = 0
    for batch, out in zip(batches, embedder.embed_batches(batches, kind="passage"), strict=True):
        for text, vector in zip(batch, out.vectors, strict=True):
            vectors[fresh[text]] = vector
        done += len(batch)
        if progress:
            progress("passages", done, len(texts))
    return vectors


def diff_documents(report: BuildReport, before: dict[str, str], after: dict[str, str]) -> None:
    for doc_id, digest in sorted(after.items()):
        if doc_id not in before:
            report.added.append(doc_id)
        elif before[doc_id] != digest:
            report.changed.append(doc_id)
        else:
            report.unchanged.append(doc_id)
    report.removed = sorted(set(before) - set(after))


def rollback(index_dir: Path, version: str | None = None, *, lock_timeout: float = 0.0) -> str:
    """Make an earlier version current again: ``version``, or the one built before the
    current one. Verified (checksums, same model) before the switch; returns the version."""
    store = IndexStore(index_dir)
    current = store.current()
    if current is None:
        raise IndexNotFound(f"no index in {index_dir}: nothing to roll back")
    with build_lock(index_dir, lock_timeout):
        current = store.current() or current
        if version is None:
            older = [v for v in store.versions() if v < current]
            if not older:
                raise IndexNotFound(
                    f"no version older than {current} in {index_dir} (see 'natoqa index list')"
                )
            version = older[-1]
        target = store.load(version)  # IndexNotFound / IndexCorrupt: CURRENT stays as it is
        try:
            model = store.manifest(current).model_id
        except IndexStoreError:
            model = None  # the current version is broken: any good version is better
        if model is not None and target.manifest.model_id != model:
            raise IndexIncompatible(
                f"{version} was built with model {target.manifest.model_id}, the current "
                f"version with {model}: a server would refuse it"
            )
        store.activate(version)
        log.info("rolled back index %s from %s to %s", index_dir, current, version)
    return version
