"""Building an index version from a corpus: scan → clean → split → embed → write → activate.

Incremental: vectors of passages whose text is unchanged are taken from the
current version when it was built with the same model and passage settings, so
only new or changed passages are embedded; otherwise everything is re-embedded
and the report says why (``full_rebuild``). A build runs under a file lock and
switches ``CURRENT`` only after the new version is written and verified; an
error or Ctrl-C at any point leaves the current version as it was.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from natoqa.config import UnitVectors
from natoqa.embed.base import Embedder, Vectors
from natoqa.errors import (
    CorpusError,
    IndexIncompatible,
    IndexLocked,
    IndexNotFound,
    IndexStoreError,
)
from natoqa.index import units as sentence_vectors
from natoqa.index.store import DocumentRecord, IndexStore, Manifest, new_version_name, utc_now
from natoqa.ingest import passages as passages_mod
from natoqa.ingest.cleaning import clean
from natoqa.ingest.sources import scan_corpus
from natoqa.models import Passage

log = logging.getLogger(__name__)

LOCK_FILE = ".build.lock"
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
    full_rebuild: str | None = None
    #: False when nothing changed and no new version was written
    switched: bool = True
    pruned: list[str] = field(default_factory=list)
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
            "full_rebuild": self.full_rebuild,
            "seconds": self.seconds,
            **{k: data[k] for k in ("added", "changed", "removed", "skipped", "pruned", "timings")},
        }


@dataclass(frozen=True)
class _Previous:
    """What the current version offers an incremental build."""

    version: str | None
    documents: dict[str, str]  # doc_id -> content hash
    reusable: dict[str, Vectors]  # passage text -> vector
    full_reason: str | None
    #: sentence unit text -> its stored vector (and latent terms)
    sentences: dict[str, sentence_vectors.Unit] = field(default_factory=dict)
    #: why a new version is due even if no document changed (it lacks what this natoqa stores)
    outdated: str | None = None


def passage_settings(
    min_words: int, max_words: int, overlap: int = 0, include_backmatter: bool = False
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
    include_backmatter: bool = False,
    keep_versions: int = 5,
    lock_timeout: float = 0.0,
    force: bool = False,
    progress: Progress | None = None,
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
    with build_lock(index_dir, lock_timeout):
        timings: dict[str, float] = {}
        t = time.perf_counter()
        scan = scan_corpus(corpus_dir)
        settings = passage_settings(min_words, max_words, overlap, include_backmatter)
        all_passages: list[Passage] = []
        records: list[DocumentRecord] = []
        for raw in scan.documents:
            doc = clean(raw)
            parts = passages_mod.split(
                doc,
                min_words=min_words,
                max_words=max_words,
                overlap=overlap,
                include_backmatter=include_backmatter,
            )
            all_passages.extend(parts)
            records.append(
                DocumentRecord(doc.doc_id, doc.meta, doc.content_hash, len(parts), raw.fmt)
            )
        timings["scan_s"] = _since(t)
        log.info(
            "read %d documents (%d skipped) into %d passages in %.1fs",
            len(records), len(scan.skipped), len(all_passages), timings["scan_s"],
        )

        t = time.perf_counter()
        prev = _previous(store, embedder, settings, unit_vectors)
        timings["load_previous_s"] = _since(t)
        hashes = {r.doc_id: r.content_hash for r in records}
        report = BuildReport(
            version=new_version_name(),
            documents=len(records),
            passages=len(all_passages),
            previous_version=prev.version,
            skipped=[{"path": e.path, "reason": e.reason} for e in scan.skipped],
            full_rebuild=prev.full_reason,
            timings=timings,
        )
        _diff(report, prev.documents, hashes)
        if prev.full_reason:
            log.warning("full rebuild: %s", prev.full_reason)
        elif prev.outdated:
            log.warning("new version although no document changed: %s", prev.outdated)
        elif not report.has_changes and not force and prev.version is not None:
            report.version, report.switched = prev.version, False
            report.passages_reused = len(all_passages)
            report.seconds = _since(started)
            log.info("no document changed since %s: nothing to build", prev.version)
            return report

        # Retrieval's sentence vectors (natoqa.index.units), reused by text like passages;
        # pooled, first: their passages' passes give those passages' vectors too
        pooled: dict[str, Vectors] = {}
        if unit_vectors == "pooled":
            t = time.perf_counter()
            extras = _units(all_passages, embedder, prev, progress, unit_vectors, pooled)
            timings["embed_sentences_s"] = _since(t)
        t = time.perf_counter()
        vectors = _vectors(all_passages, prev.reusable, embedder, progress, report, pooled)
        timings["embed_s"] = _since(t)
        if unit_vectors != "pooled":
            t = time.perf_counter()
            extras = _units(all_passages, embedder, prev, progress, unit_vectors, pooled)
            timings["embed_sentences_s"] = _since(t)

        t = time.perf_counter()
        manifest = Manifest(
            version=report.version,
            model_id=embedder.model_id,
            dim=embedder.dim,
            passage_count=len(all_passages),
            documents=hashes,
            passage_settings=settings,
            created=utc_now(),
            build_seconds=_since(started),
            unit_rules=sentence_vectors.RULES,
            unit_vectors=unit_vectors,
        )
        try:
            store.write(passages=all_passages, vectors=vectors, documents=records,
                        manifest=manifest, extras=extras)
        except OSError as exc:
            raise IndexStoreError(f"cannot write index version to {index_dir}: {exc}") from None
        try:
            store.load(report.version, expect_dim=embedder.dim, expect_model=embedder.model_id)
            store.activate(report.version)
        except BaseException:  # refused, or Ctrl-C before the switch: drop the new version
            if store.current() != report.version:
                store.remove(report.version)
            raise
        timings["write_s"] = _since(t)
        log.info("index %s is current (was %s)", report.version, prev.version or "none")
        report.pruned = store.prune(keep_versions)
        report.seconds = _since(started)
        return report


def _since(t: float) -> float:
    return round(time.perf_counter() - t, 3)


def _previous(
    store: IndexStore, embedder: Embedder, settings: dict[str, Any],
    unit_vectors: UnitVectors = "separate",
) -> _Previous:
    """The current version's document hashes and reusable vectors, or why there are none."""
    version = store.current()
    if version is None:
        return _Previous(None, {}, {}, "no previous index")
    try:
        current = store.load(version)
    except IndexStoreError as exc:
        log.warning("current index %s unusable, rebuilding fully: %s", version, exc.message)
        return _Previous(version, {}, {}, f"current index {version} unusable: {exc.message}")
    docs = dict(current.manifest.documents)
    m = current.manifest
    if m.model_id != embedder.model_id or m.dim != embedder.dim:
        reason = f"model changed ({m.model_id} -> {embedder.model_id}): re-embedding everything"
        return _Previous(version, docs, {}, reason)
    if m.passage_settings != settings:
        changed = sorted(
            k for k in {*m.passage_settings, *settings}
            if m.passage_settings.get(k) != settings.get(k)
        )
        reason = f"passage settings changed ({', '.join(changed)}): re-embedding everything"
        return _Previous(version, docs, {}, reason)
    outdated = None
    if m.unit_rules != sentence_vectors.RULES:
        # its units may be other texts: embed every unit again (passage vectors stay)
        sentences: dict[str, sentence_vectors.Unit] = {}
        outdated = (f"{version} was cut into sentence units by other rules (version "
                    f"{m.unit_rules or 'unrecorded'}, now {sentence_vectors.RULES}): "
                    "re-embedding every unit")
    elif m.unit_vectors != unit_vectors:
        sentences = {}
        outdated = (f"{version}'s sentence units were embedded {m.unit_vectors}, now "
                    f"{unit_vectors}: re-embedding every unit")
    else:
        sentences = sentence_vectors.reusable_from(current.passages, current.extras,
                                                   embedder.dim, unit_vectors)
    if embedder.has_terms and any(unit.term_ids is None for unit in sentences.values()):
        outdated = f"{version} has no latent terms (built by an older natoqa)"
    return _Previous(version, docs, current.vectors_by_text(), None, sentences, outdated)


def _units(
    passages: list[Passage], embedder: Embedder, prev: _Previous, progress: Progress | None,
    mode: UnitVectors, pooled: dict[str, Vectors],
) -> dict[str, Any]:
    return sentence_vectors.build(
        passages, embedder, prev.sentences,
        progress=functools.partial(progress, "sentences") if progress else None,
        mode=mode, passage_vectors=pooled,
    )


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
    report.passages_embedded = passed + sum(len(rows) for rows in fresh.values())
    report.passages_reused = len(passages) - report.passages_embedded
    log.info("embedding %d new passage texts, reusing %d vectors",
             len(fresh), report.passages_reused)
    texts = sorted(fresh, key=len, reverse=True)  # longest first: batches pad little
    if progress:
        progress("passages", 0, len(texts))
    for start in range(0, len(texts), EMBED_CHUNK):
        batch = texts[start : start + EMBED_CHUNK]
        for text, vector in zip(batch, embedder.embed_batch(batch, kind="passage"), strict=True):
            vectors[fresh[text]] = vector
        if progress:
            progress("passages", start + len(batch), len(texts))
    return vectors


def _diff(report: BuildReport, before: dict[str, str], after: dict[str, str]) -> None:
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
