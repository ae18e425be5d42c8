"""The index on disk: versions of (FAISS vectors + passage store + manifest).

Layout of an index folder::

    index/
      CURRENT                 name of the active version (replaced atomically)
      versions/<version>/
        manifest.json         model, dimensions, counts, per-document hashes, file checksums
        vectors.faiss         inner-product flat index; row i = passages.jsonl line i
        passages.jsonl        one Passage per line
        documents.json        doc_id -> metadata, content hash, passage count

A version is written into a temporary folder, verified, renamed into place and
only then named in CURRENT, so readers never see a half-written index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from natoqa.errors import IndexCorrupt, IndexIncompatible, IndexNotFound, NotFound
from natoqa.types import DocumentMeta, Passage

FORMAT = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
PASSAGES = "passages.jsonl"
DOCUMENTS = "documents.json"
CURRENT = "CURRENT"
VERSIONS = "versions"
_CHECKED_FILES = (VECTORS, PASSAGES, DOCUMENTS)

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True)
class DocumentRecord:
    """What the index keeps about one source document."""

    doc_id: str
    meta: DocumentMeta
    content_hash: str
    passages: int
    fmt: str = "txt"


@dataclass
class Manifest:
    """Build metadata saved beside the index."""

    version: str
    model_id: str
    dim: int
    passage_count: int
    documents: dict[str, str]  # doc_id -> content hash
    passage_settings: dict[str, Any]
    created: str
    build_seconds: float = 0.0
    checksums: dict[str, str] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def new_version_name(now: datetime | None = None) -> str:
    """Sortable, unique version names: UTC time plus a short random suffix."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + os.urandom(3).hex()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _passage_to_json(p: Passage) -> str:
    return json.dumps(asdict(p), ensure_ascii=False)


def _passage_from_json(line: str) -> Passage:
    data = json.loads(line)
    data["footnote_refs"] = tuple(data.get("footnote_refs", ()))
    return Passage(**data)


def _meta_from_json(data: dict[str, Any]) -> DocumentMeta:
    data = dict(data)
    data["authors"] = tuple(data.get("authors", ()))
    return DocumentMeta(**data)


class IndexVersion:
    """One loaded, read-only version: vectors, passages and documents in memory.

    Instances are immutable after loading, so a running request can keep using
    the version it started with while the service switches to a newer one.
    """

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        vectors: faiss.Index,
        passages: Sequence[Passage],
        documents: dict[str, DocumentRecord],
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.vectors = vectors
        self.passages: tuple[Passage, ...] = tuple(passages)
        self.documents = documents
        self._row_by_id = {p.passage_id: i for i, p in enumerate(self.passages)}
        self._rows_by_doc: dict[str, list[int]] = {}
        for i, p in enumerate(self.passages):
            self._rows_by_doc.setdefault(p.doc_id, []).append(i)
        for rows in self._rows_by_doc.values():
            rows.sort(key=lambda r: self.passages[r].ordinal)

    @property
    def version(self) -> str:
        return self.manifest.version

    def __len__(self) -> int:
        return len(self.passages)

    def search(self, queries: Vectors, k: int) -> tuple[Vectors, npt.NDArray[np.int64]]:
        """Inner-product search; returns (scores, rows), rows are -1 where fewer than k exist."""
        k = max(1, min(k, len(self.passages)))
        scores, rows = self.vectors.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, rows

    def row(self, passage_id: str) -> int:
        try:
            return self._row_by_id[passage_id]
        except KeyError:
            raise NotFound(f"no passage with id {passage_id!r}") from None

    def passage(self, passage_id: str) -> Passage:
        return self.passages[self.row(passage_id)]

    def document_rows(self, doc_id: str) -> list[int]:
        """Rows of a document's passages in reading order (body, then footnotes)."""
        return self._rows_by_doc.get(doc_id, [])

    def neighbours(self, passage_id: str, window: int = 1) -> tuple[list[Passage], list[Passage]]:
        """The passages just before and after one, of the same kind, in reading order."""
        target = self.passage(passage_id)
        rows = [
            r for r in self.document_rows(target.doc_id) if self.passages[r].kind == target.kind
        ]
        pos = rows.index(self.row(passage_id))
        before = [self.passages[r] for r in rows[max(0, pos - window) : pos]]
        after = [self.passages[r] for r in rows[pos + 1 : pos + 1 + window]]
        return before, after

    def vectors_by_text(self) -> dict[str, Vectors]:
        """Stored vector per passage text, for reuse by an incremental build."""
        if len(self.passages) == 0:
            return {}
        matrix = self.vectors.reconstruct_n(0, len(self.passages))
        return {p.text: matrix[i] for i, p in enumerate(self.passages)}


class IndexStore:
    """An index folder holding versions, one of them current."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def versions_dir(self) -> Path:
        return self.root / VERSIONS

    def current(self) -> str | None:
        try:
            name = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def versions(self) -> list[str]:
        """Complete versions, oldest first."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(
            d.name
            for d in self.versions_dir.iterdir()
            if d.is_dir() and not d.name.startswith(".") and (d / MANIFEST).is_file()
        )

    def exists(self) -> bool:
        return self.current() is not None

    def manifest(self, version: str | None = None) -> Manifest:
        version = version or self._require_current()
        path = self.versions_dir / version / MANIFEST
        try:
            return Manifest.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexNotFound(f"index version {version!r} not found in {self.root}") from None
        except (ValueError, TypeError) as exc:
            raise IndexCorrupt(f"manifest of {version!r} is unreadable: {exc}") from None

    def load(self, version: str | None = None, *, expect_dim: int | None = None) -> IndexVersion:
        """Load and verify a version (default: the current one)."""
        version = version or self._require_current()
        path = self.versions_dir / version
        manifest = self.manifest(version)
        if manifest.format != FORMAT:
            raise IndexIncompatible(f"index format {manifest.format}, expected {FORMAT}")
        if expect_dim is not None and manifest.dim != expect_dim:
            raise IndexIncompatible(
                f"index {version} has {manifest.dim}-dimensional vectors, the model {expect_dim}"
            )
        for name in _CHECKED_FILES:
            file = path / name
            if not file.is_file() or _sha256(file) != manifest.checksums.get(name):
                raise IndexCorrupt(f"index {version}: {name} is missing or fails its checksum")
        try:
            vectors = faiss.read_index(str(path / VECTORS))
            with (path / PASSAGES).open(encoding="utf-8") as fh:
                passages = [_passage_from_json(line) for line in fh if line.strip()]
            raw_docs = json.loads((path / DOCUMENTS).read_text(encoding="utf-8"))
            documents = {
                doc_id: DocumentRecord(
                    doc_id=doc_id,
                    meta=_meta_from_json(rec["meta"]),
                    content_hash=rec["content_hash"],
                    passages=rec["passages"],
                    fmt=rec.get("fmt", "txt"),
                )
                for doc_id, rec in raw_docs.items()
            }
        except (OSError, RuntimeError, ValueError, TypeError, KeyError) as exc:
            raise IndexCorrupt(f"index {version} cannot be read: {exc}") from None
        if vectors.ntotal != len(passages) or vectors.d != manifest.dim:
            raise IndexCorrupt(
                f"index {version}: {vectors.ntotal} vectors for {len(passages)} passages"
            )
        return IndexVersion(path, manifest, vectors, passages, documents)

    def write(
        self,
        *,
        passages: Sequence[Passage],
        vectors: Vectors,
        documents: Sequence[DocumentRecord],
        manifest: Manifest,
    ) -> Path:
        """Write a complete version beside the others (not yet current); returns its folder."""
        if len(passages) != len(vectors):
            raise ValueError("one vector per passage")
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.versions_dir))
        try:
            index = faiss.IndexFlatIP(manifest.dim)
            if len(vectors):
                index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            faiss.write_index(index, str(tmp / VECTORS))
            with (tmp / PASSAGES).open("w", encoding="utf-8") as fh:
                for p in passages:
                    fh.write(_passage_to_json(p) + "\n")
            docs_json = {
                d.doc_id: {
                    "meta": asdict(d.meta),
                    "content_hash": d.content_hash,
                    "passages": d.passages,
                    "fmt": d.fmt,
                }
                for d in documents
            }
            (tmp / DOCUMENTS).write_text(
                json.dumps(docs_json, ensure_ascii=False, indent=1), encoding="utf-8"
            )
            manifest.checksums = {name: _sha256(tmp / name) for name in _CHECKED_FILES}
            (tmp / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
            _fsync_dir(tmp)
            final = self.versions_dir / manifest.version
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def activate(self, version: str) -> None:
        """Make ``version`` current, atomically."""
        if version not in self.versions():
            raise IndexNotFound(f"index version {version!r} not found in {self.root}")
        tmp = self.root / f".{CURRENT}.{os.getpid()}.tmp"
        tmp.write_text(version + "\n", encoding="utf-8")
        os.replace(tmp, self.root / CURRENT)

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions (never the current one)."""
        current = self.current()
        doomed = [v for v in self.versions()[:-keep] if v != current] if keep > 0 else []
        for v in doomed:
            shutil.rmtree(self.versions_dir / v, ignore_errors=True)
        for leftover in self.versions_dir.glob(".tmp-*") if self.versions_dir.exists() else []:
            with contextlib.suppress(OSError):
                shutil.rmtree(leftover)
        return doomed

    def _require_current(self) -> str:
        current = self.current()
        if current is None:
            raise IndexNotFound(
                f"no index in {self.root}: run 'natoqa build --index {self.root}' first"
            )
        return current


def _fsync_dir(path: Path) -> None:
    for file in path.iterdir():
        with file.open("rb") as fh:
            os.fsync(fh.fileno())


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
