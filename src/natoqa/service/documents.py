"""Documents over HTTP: put and remove corpus files, and each document's status.

A document's status compares the corpus with the version the service answers
from: ``indexed`` (same content hash in that version), ``skipped`` (the last
build could not use this content; ``reason`` says why) or ``pending`` (a
build has yet to take it; also a removed document still in the index).
Uploading what is already there changes nothing and builds nothing: the
content hash (file + metadata) decides.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from natoqa.errors import CorpusError, NotFound, SourceError
from natoqa.ingest.sources._io import content_hash, read_sidecar, sidecar_path
from natoqa.ingest.sources.corpus import SUPPORTED_SUFFIXES, candidate_files, doc_id_for
from natoqa.ingest.sources.editing import (
    InvalidDocument,
    check_doc_id,
    commit,
    document_files,
    remove,
    render_sidecar,
    staged,
    stored_hash,
    suffix_for,
    sweep_staging,
)
from natoqa.ingest.sources.meta import parse_sidecar
from natoqa.service.builds import Build, BuildQueue, Change, now_iso
from natoqa.service.service import QAService

log = logging.getLogger(__name__)

Status = Literal["pending", "indexed", "skipped"]


@dataclass(frozen=True)
class DocumentStatus:
    doc_id: str
    #: the document's id in the index and in citations (the file name, e.g. ``NAME.pdf``)
    source: str
    format: str | None
    meta: dict[str, object]
    in_corpus: bool
    status: Status
    content_hash: str | None = None
    #: indexed: the version it is in
    version: str | None = None
    passages: int | None = None
    #: skipped: why
    reason: str | None = None
    #: pending: the build that will take it (none queued: the next build)
    build_id: str | None = None


@dataclass(frozen=True)
class ChangeResult:
    doc_id: str
    changed: bool
    document: DocumentStatus
    build: Build | None = None
    passages: int | None = field(default=None)


class DocumentService:
    """Changes to the corpus folder, and what became of them (see the module docstring)."""

    def __init__(self, qa: QAService, builds: BuildQueue, corpus_dir: Path) -> None:
        self.qa = qa
        self.builds = builds
        self.root = corpus_dir
        self._lock = threading.Lock()  # one writer at a time: compare and rename together
        self._hashes: dict[tuple[str, int, int, int, int], str | None] = {}
        if self.root.is_dir():
            sweep_staging(self.root)

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise CorpusError(
                f"the corpus folder {self.root} does not exist: start the server with "
                "NATOQA_CORPUS_DIR naming the folder builds read"
            )

    # --- changes ----------------------------------------------------------------

    def put(
        self, doc_id: str, data: bytes, media_type: str | None, meta: Mapping[str, object],
        actor: str,
    ) -> ChangeResult:
        """Store the document (create or replace) and queue a build, unless it is unchanged.

        InvalidDocument (nothing is written) for a bad doc_id, type or content.
        """
        check_doc_id(doc_id)
        self._check_root()
        suffix = suffix_for(media_type, data)
        target = self.root / (doc_id + suffix)
        new_hash = content_hash(data, render_sidecar(meta))
        if self._unchanged(doc_id, target, new_hash):
            return self._same(doc_id)
        with staged(self.root, doc_id, suffix, data, meta) as item, self._lock:
            if self._unchanged(doc_id, target, new_hash):  # the same upload raced us
                return self._same(doc_id)
            commit(self.root, item)
        build = self.builds.request(Change("put", doc_id, actor, now_iso(), new_hash))
        return ChangeResult(doc_id, True, self.get(doc_id), build, item.passages)

    def delete(self, doc_id: str, actor: str) -> ChangeResult:
        """Remove the document's files and queue a build; NotFound when there are none."""
        check_doc_id(doc_id)
        self._check_root()
        with self._lock:
            if not remove(self.root, doc_id):
                raise NotFound(f"no document {doc_id!r} in the corpus")
        build = self.builds.request(Change("delete", doc_id, actor, now_iso()))
        return ChangeResult(doc_id, True, self.get(doc_id), build)

    def _unchanged(self, doc_id: str, target: Path, new_hash: str) -> bool:
        return document_files(self.root, doc_id) == [target] and stored_hash(target) == new_hash

    def _same(self, doc_id: str) -> ChangeResult:
        status = self.get(doc_id)
        pending = self.builds.pending() if status.status == "pending" else None
        return ChangeResult(doc_id, False, status, pending)

    # --- status -----------------------------------------------------------------

    def list(self, query: str | None = None) -> list[DocumentStatus]:
        """Every document in the corpus or the served index, by doc_id; ``query`` filters by
        title or doc_id (case-insensitive)."""
        self._check_root()
        index = self.qa.engine.index
        skipped = self._skipped()
        pending = self.builds.pending()
        out: dict[str, DocumentStatus] = {}
        for path in candidate_files(self.root):
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            source = doc_id_for(path, self.root)
            doc_id = source[: -len(path.suffix)]
            digest = self._hash(path)
            record = index.documents.get(source)
            if record is not None and record.content_hash == digest:
                out[doc_id] = DocumentStatus(
                    doc_id, source, record.fmt, _meta(asdict(record.meta)), True, "indexed",
                    digest, index.version, record.passages,
                )
                continue
            skip: tuple[str | None, str] | None = skipped.get(source)
            try:
                meta = parse_sidecar(path, read_sidecar(path))
            except SourceError as exc:
                meta, skip = {}, (digest, exc.reason)
            fmt = "html" if path.suffix.lower() == ".htm" else path.suffix.lower()[1:]
            if skip is not None and skip[0] == digest:
                out[doc_id] = DocumentStatus(doc_id, source, fmt, _meta(meta), True, "skipped",
                                             digest, reason=skip[1])
            else:
                out[doc_id] = DocumentStatus(doc_id, source, fmt, _meta(meta), True, "pending",
                                             digest, build_id=pending.id if pending else None)
        for source, record in index.documents.items():
            doc_id = source.rsplit(".", 1)[0]
            if doc_id not in out:  # removed from the corpus, still answering
                out[doc_id] = DocumentStatus(
                    doc_id, source, record.fmt, _meta(asdict(record.meta)), False, "pending",
                    record.content_hash, index.version, record.passages,
                    build_id=pending.id if pending else None,
                )
        found = sorted(out.values(), key=lambda d: d.doc_id)
        if query:
            q = query.casefold()
            found = [d for d in found
                     if q in str(d.meta.get("title") or "").casefold() or q in d.doc_id.casefold()]
        return found

    def get(self, doc_id: str) -> DocumentStatus:
        for doc in self.list():
            if doc.doc_id == doc_id:
                return doc
        raise NotFound(f"no document {doc_id!r}")

    def _skipped(self) -> dict[str, tuple[str | None, str]]:
        """What the latest finished build skipped: source -> (content hash, reason)."""
        for build in self.builds.recent(5):
            if build.state == "succeeded" and build.report is not None:
                return {
                    str(s.get("doc_id")): (s.get("content_hash"), str(s.get("reason")))
                    for s in build.report.get("skipped", [])
                }
        return {}

    def _hash(self, path: Path) -> str | None:
        """The content hash, remembered by (size, mtime) of file and sidecar."""
        try:
            st = path.stat()
            side = sidecar_path(path)
            side_st = side.stat() if side.exists() else None
        except OSError:
            return None
        side_key = (side_st.st_size, side_st.st_mtime_ns) if side_st else (0, 0)
        key = (str(path), st.st_size, st.st_mtime_ns, *side_key)
        if key not in self._hashes:
            if len(self._hashes) > 10_000:
                self._hashes.clear()
            self._hashes[key] = stored_hash(path)
        return self._hashes[key]


def _meta(meta: Mapping[str, object]) -> dict[str, object]:
    """Metadata without empty fields; authors as a list."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in meta.items()
            if v not in (None, "", (), [])}


__all__ = ["ChangeResult", "DocumentService", "DocumentStatus", "InvalidDocument"]
