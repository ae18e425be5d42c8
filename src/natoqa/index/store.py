"""The index on disk: versions of (FAISS vectors + passage store + manifest).

Layout of an index folder::

    index/
      CURRENT                 name of the active version (replaced atomically)
      versions/<version>/
        manifest.json         model, dimensions, counts, segments, per-document hashes,
                              file checksums
        documents.json        doc_id -> metadata, content hash, passage count
        segments/<segment>/   passages, vectors, units, lexicon, names, graphs
                              (natoqa.index.segments; shared between versions as hard links)
      .build.lock             held by a running build (see builder.py)
      .embeddings.sqlite      what an unfinished build embedded (natoqa.embed.cache)

A version is written into a temporary folder, fsynced, renamed into place and
only then named in CURRENT, so readers never see a half-written index.

Loading checks every file against the manifest, then opens the arrays and graphs
memory-mapped: start-up and a live switch cost the same at 1,000 and at 100,000
passages, and the kernel shares the pages between versions and worker processes.
A file up to :data:`FULL_CHECK_BYTES` is hashed whole; a larger one is checked by
its size and the hashes of its first and last MiB (a truncated, torn or
half-copied file fails them; ``load(full_check=True)``, which the builder runs on
the version it wrote, hashes everything). Deleting the folder under a running
server is harmless: an open mapping keeps its file's pages until it is closed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from natoqa.errors import IndexCorrupt, IndexIncompatible, IndexNotFound, IndexStoreError
from natoqa.index.reading_order import ReadingOrder
from natoqa.index.segments import (
    PASSAGE_VECTORS,
    SEGMENTS_DIR,
    PassageRows,
    PassageTable,
    Segment,
    SegmentEntry,
    is_artifact_name,
    new_segment_name,
    open_artifact,
    passage_from_json,
)
from natoqa.index.segments import PASSAGES as SEGMENT_PASSAGES
from natoqa.index.segments import link as link_segment
from natoqa.index.segments import read as read_segment
from natoqa.index.segments import write as write_segment
from natoqa.index.spill import SPILL_DIR
from natoqa.models import DocumentMeta, Passage

FORMAT = 2
#: formats this natoqa reads: 1 was one unsegmented folder with its passage vectors in a
#: flat FAISS file and no lexicon; retrieval derives what it lacks (slowly) and a build
#: reuses its vectors
READABLE_FORMATS = (1, 2)
MANIFEST = "manifest.json"
VECTORS_V1 = "vectors.faiss"
DOCUMENTS = "documents.json"
CURRENT = "CURRENT"
VERSIONS = "versions"
_TMP_PREFIX = ".tmp-"
#: files larger than this are checked at load by size and their first and last MiB
FULL_CHECK_BYTES = 64 << 20
_EDGE = 1 << 20

#: what a version name may look like: no separators, no leading dot (temp folders)
_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

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
    #: file -> sha256 of its first and last MiB and its size, for files above FULL_CHECK_BYTES
    edges: dict[str, str] = field(default_factory=dict)
    #: the language most passages are in (natoqa.text.language), decided at build time
    corpus_language: str | None = None
    #: the segments, in row order (natoqa.index.segments.SegmentEntry as dicts); empty in
    #: format 1
    segments: list[dict[str, Any]] = field(default_factory=list)
    #: version of the rules that cut passages into sentence units (natoqa.index.units.RULES);
    #: 0 for a version built before they were recorded (and its units' spans stored)
    unit_rules: int = 0
    #: how its sentence units were embedded (natoqa.index.units.build's mode)
    unit_vectors: str = "separate"

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest; ValueError when it is not one."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        known = set(cls.__dataclass_fields__)
        try:
            manifest = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:  # a required field is missing
            raise ValueError(str(exc)) from None
        if not isinstance(manifest.documents, dict) or not isinstance(manifest.checksums, dict):
            raise ValueError("documents and checksums must be objects")
        return manifest


@dataclass(frozen=True)
class VersionInfo:
    """One version as ``natoqa index list`` shows it (from its manifest; not verified)."""

    version: str
    current: bool
    created: str | None = None
    model_id: str | None = None
    documents: int | None = None
    passages: int | None = None
    build_seconds: float | None = None
    #: bytes of its files (a segment shared with other versions counts in each)
    size_bytes: int = 0
    segments: int | None = None
    error: str | None = None


def new_version_name(now: datetime | None = None) -> str:
    """Sortable, unique version names: UTC time plus a short random suffix."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + os.urandom(3).hex()


def check_version_name(name: str) -> str:
    """``name`` if it can be a version (no path tricks); IndexNotFound otherwise."""
    if not _VERSION_NAME.fullmatch(name) or ".." in name:
        raise IndexNotFound(f"{name!r} is not an index version name")
    return name


def _meta_from_json(data: dict[str, Any]) -> DocumentMeta:
    data = dict(data)
    data["authors"] = tuple(data.get("authors", ()))
    return DocumentMeta(**data)


class IndexVersion(ReadingOrder):
    """One loaded, read-only version: passages and documents in memory, vectors mapped.

    Its passages are the live rows of its segments, in order: row ``i`` of the
    version is ``passages[i]``. Instances are immutable after loading and never
    reopen their folder, so a running request can keep using the version it
    started with while the service switches to a newer one, even after the
    version's folder was pruned.
    """

    passages: VersionPassages

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        segments: Sequence[Segment],
        documents: dict[str, DocumentRecord],
    ) -> None:
        self.path = path  # informational only: nothing is read from it after loading
        self.manifest = manifest
        self.segments: tuple[Segment, ...] = tuple(segments)
        #: the version's first row of each segment, and its row count at the end
        self.offsets = np.cumsum([0, *(len(s.live) for s in self.segments)]).astype(np.int64)
        self.passages = VersionPassages(self.segments, self.offsets)
        self.documents = documents
        self._order([s.passages.ids[i] for s in self.segments for i in s.live.tolist()],
                    [s.passages.doc_ids[i] for s in self.segments for i in s.live.tolist()],
                    np.concatenate([s.passages.ordinals[s.live] for s in self.segments]
                                   or [np.zeros(0, np.int64)]), self.passages.kinds)

    @cached_property
    def vectors(self) -> Vectors:
        """One vector per row: the segment's memory map for a version of one segment without
        deletions, else a copy of the live rows."""
        if len(self.segments) == 1 and len(self.segments[0].live) == len(self.segments[0].passages):
            return self.segments[0].vectors
        if not self.segments:
            return np.zeros((0, self.manifest.dim), dtype=np.float32)
        return np.concatenate([np.asarray(s.vectors[s.live]) for s in self.segments])

    @property
    def extras(self) -> dict[str, Any]:
        """The artifacts of a version of one segment (what a full build writes) by file name;
        empty for a version of several: see :attr:`segments`."""
        return self.segments[0].extras if len(self.segments) == 1 else {}

    @property
    def version(self) -> str:
        return self.manifest.version

    def close(self) -> None:
        """Nothing to release: the maps go when the last request drops the version."""

    def __len__(self) -> int:
        return len(self.passages)

    def vectors_by_text(self, doc_ids: set[str] | None = None) -> dict[str, Vectors]:
        """Stored vector per passage text (of ``doc_ids`` only, when given, live or deleted),
        for reuse by an incremental build."""
        out: dict[str, Vectors] = {}
        for segment in self.segments:
            for i, doc_id in enumerate(segment.passages.doc_ids):
                if doc_ids is None or doc_id in doc_ids:
                    out[segment.passages[i].text] = np.asarray(segment.vectors[i])
        return out


class VersionPassages(PassageRows):
    """A version's passages by row: its segments' live rows one after the other."""

    def __init__(self, segments: Sequence[Segment], offsets: npt.NDArray[np.int64]) -> None:
        self._segments, self._offsets = tuple(segments), offsets

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def locate(self, row: int) -> tuple[Segment, int]:
        """The segment of a version row (``0 <= row < len(self)``), and the row's number in it."""
        at = int(np.searchsorted(self._offsets, row, side="right")) - 1
        segment = self._segments[at]
        return segment, int(segment.live[row - int(self._offsets[at])])

    def kind(self, row: int) -> str:
        segment, local = self.locate(row)
        return str(segment.passages.kinds[local])

    @cached_property
    def kinds(self) -> npt.NDArray[np.str_]:
        """Every row's kind ("body", "footnote", "backmatter"), without reading passages."""
        return np.concatenate([s.passages.kinds[s.live] for s in self._segments]
                              or [np.zeros(0, dtype=str)])

    def _row(self, i: int) -> Passage:
        segment, local = self.locate(i)
        return segment.passages[local]

    def __iter__(self) -> Iterator[Passage]:
        for segment in self._segments:
            for i in segment.live.tolist():
                yield segment.passages[i]


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new empty folder in ``parent`` with the process umask's mode.

    Not ``tempfile.mkdtemp``, which makes it 0700: a server running as another
    user than the build could not read the version (the umask decides, as for
    the files inside).
    """
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            path.mkdir(mode=0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary name in {parent}")


def check_compatible(manifest: Manifest, expect_dim: int | None = None,
                     expect_model: str | None = None) -> None:
    """IndexIncompatible when a version's vectors are not the running model's."""
    if expect_dim is not None and manifest.dim != expect_dim:
        raise IndexIncompatible(
            f"index {manifest.version} has {manifest.dim}-dimensional vectors, the model "
            f"{expect_dim}"
        )
    if expect_model is not None and manifest.model_id != expect_model:
        raise IndexIncompatible(
            f"index {manifest.version} was built with model {manifest.model_id}, "
            f"this process runs {expect_model}: rebuild it"
        )


class IndexStore:
    """An index folder holding versions, one of them current.

    Reading (``current``, ``versions``, ``load``) is safe at any time. Writing
    (``write``, ``activate``, ``prune``, ``remove``) is meant to be done while
    holding the build lock (:func:`natoqa.index.builder.build_lock`).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def where(self) -> str:
        """The store as logs and ``/readyz`` name it."""
        return str(self.root)

    @property
    def versions_dir(self) -> Path:
        return self.root / VERSIONS

    def current(self) -> str | None:
        try:
            name = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IndexStoreError(f"cannot read {self.root / CURRENT}: {exc.strerror}") from None
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
        version = check_version_name(version or self._require_current())
        path = self.versions_dir / version / MANIFEST
        try:
            return Manifest.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexNotFound(f"index version {version!r} not found in {self.root}") from None
        except OSError as exc:
            raise IndexCorrupt(f"manifest of {version!r} cannot be read: {exc}") from None
        except ValueError as exc:  # includes JSON and UTF-8 errors
            raise IndexCorrupt(f"manifest of {version!r} is unreadable: {exc}") from None

    def info(self) -> list[VersionInfo]:
        """Every complete version, oldest first, as its manifest describes it."""
        current = self.current()
        out: list[VersionInfo] = []
        for name in self.versions():
            folder = self.versions_dir / name
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            try:
                m = self.manifest(name)
            except IndexStoreError as exc:
                out.append(VersionInfo(name, name == current, size_bytes=size, error=exc.message))
                continue
            out.append(
                VersionInfo(
                    version=name,
                    current=name == current,
                    created=m.created,
                    model_id=m.model_id,
                    documents=len(m.documents),
                    passages=m.passage_count,
                    build_seconds=m.build_seconds,
                    size_bytes=size,
                    segments=len(m.segments) or 1,
                )
            )
        return out

    def check(self, *, expect_model: str | None = None) -> None:
        """The current version opens and is of the model (memory-mapped: cheap)."""
        self.load(expect_model=expect_model).close()

    def load(
        self,
        version: str | None = None,
        *,
        expect_dim: int | None = None,
        expect_model: str | None = None,
        full_check: bool = False,
        verified: Collection[str] = (),
        graphs: bool = True,
    ) -> IndexVersion:
        """Load and verify a version (default: the current one).

        IndexNotFound, IndexIncompatible (format, dimension or model differ) or
        IndexCorrupt (a file is missing, fails its check or does not parse).
        ``full_check`` hashes every file whole, however large. ``verified``: segments
        whose files are not checked again (a build's, shared from the version it verified
        before; their files are hard links of the same bytes). ``graphs`` False leaves the
        nearest-neighbour graphs unopened (a merge builds its own; a segment's unit graph
        holds 77 MB of memory at 20,000 passages).
        """
        version = check_version_name(version or self._require_current())
        path = self.versions_dir / version
        manifest = self.manifest(version)
        if manifest.format not in READABLE_FORMATS:
            raise IndexIncompatible(f"index format {manifest.format}, expected {FORMAT}")
        if manifest.version != version:
            raise IndexCorrupt(f"folder {version} holds a manifest of {manifest.version}")
        check_compatible(manifest, expect_dim, expect_model)
        skip = tuple(f"{SEGMENTS_DIR}/{name}/" for name in verified)
        for name in sorted(manifest.checksums):
            if not name.startswith(skip):
                self._verify(path, name, manifest, full=full_check)
        try:
            if manifest.format == 1:
                segments = [_legacy_segment(path, manifest)]
            else:
                entries = [SegmentEntry.from_dict(e) for e in manifest.segments]
                segments = [
                    read_segment(path / SEGMENTS_DIR / e.name, e,
                                 [k.rsplit("/", 1)[1] for k in manifest.checksums
                                  if k.startswith(e.path("")) and (graphs or not
                                                                   k.endswith(".faiss"))])
                    for e in entries
                ]
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
        except (OSError, RuntimeError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise IndexCorrupt(f"index {version} cannot be read: {exc}") from None
        for segment in segments:
            if segment.vectors.shape != (len(segment.passages), manifest.dim):
                raise IndexCorrupt(
                    f"index {version}: vectors of shape {segment.vectors.shape} "
                    f"for {len(segment.passages)} passages of {manifest.dim} dimensions"
                )
        loaded = IndexVersion(path, manifest, segments, documents)
        if len(loaded) != manifest.passage_count:
            raise IndexCorrupt(
                f"index {version}: {len(loaded)} passages, the manifest says "
                f"{manifest.passage_count}"
            )
        return loaded

    def write(
        self,
        *,
        passages: Sequence[Passage],
        vectors: Vectors,
        documents: Sequence[DocumentRecord],
        manifest: Manifest,
        extras: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write a complete version of one new segment (not yet current); returns its folder.

        ``extras`` are the segment's artifacts by file name: arrays saved as ``*.npy``,
        bytes as ``*.json``, FAISS indexes as ``*.faiss``; all are checksummed with the
        rest and :attr:`IndexVersion.extras` holds them after loading.
        """
        manifest.passage_count = len(passages)
        return self.write_segments(documents=documents, manifest=manifest,
                                   new=[NewSegment(passages, vectors, dict(extras or {}))])

    def write_segments(
        self,
        *,
        documents: Sequence[DocumentRecord],
        manifest: Manifest,
        kept: Sequence[tuple[str, SegmentEntry]] = (),
        new: Sequence[NewSegment] = (),
    ) -> Path:
        """Write a version (not yet current) of segments ``kept`` from other versions (by
        version name; shared as hard links, with the entry's deletions) followed by ``new``
        ones; ``manifest.passage_count`` must be the live passages. Returns its folder."""
        with self.writer(manifest) as writer:
            for source, entry in kept:
                writer.keep(source, entry)
            for segment in new:
                writer.add(segment)
            return writer.commit(documents)

    @contextlib.contextmanager
    def writer(self, manifest: Manifest) -> Iterator[VersionWriter]:
        """A version written segment by segment (a build need not hold them all at once);
        left unfinished (an error, Ctrl-C, no ``commit``), nothing of it remains."""
        check_version_name(manifest.version)
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        writer = VersionWriter(self, manifest, _new_folder(self.versions_dir, _TMP_PREFIX))
        try:
            yield writer
        finally:
            if not writer.committed:  # never leave a half-written folder behind
                shutil.rmtree(writer.folder, ignore_errors=True)

    def activate(self, version: str) -> None:
        """Make ``version`` current, atomically and durably."""
        check_version_name(version)
        if version not in self.versions():
            raise IndexNotFound(f"index version {version!r} not found in {self.root}")
        tmp = self.root / f".{CURRENT}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                fh.write(version + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.root / CURRENT)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_path(self.root)

    def remove(self, version: str) -> None:
        """Delete one version; never the current one."""
        check_version_name(version)
        if version == self.current():
            raise IndexStoreError(f"{version} is the current version; it cannot be removed")
        shutil.rmtree(self.versions_dir / version, ignore_errors=True)

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions (never the current one), and leftovers
        of interrupted builds. Returns the versions deleted."""
        if keep < 1:
            raise ValueError("keep at least one version")
        current = self.current()
        doomed = [v for v in self.versions()[:-keep] if v != current]
        for v in doomed:
            shutil.rmtree(self.versions_dir / v, ignore_errors=True)
        leftovers = [
            *self.versions_dir.glob(_TMP_PREFIX + "*"),
            *self.root.glob(f".{CURRENT}.*.tmp"),
        ]
        for leftover in leftovers:
            with contextlib.suppress(OSError):
                if leftover.is_dir():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
        return doomed

    def _verify(self, path: Path, name: str, manifest: Manifest, *, full: bool) -> None:
        file = path / name
        try:
            size = file.stat().st_size
            if full or name not in manifest.edges:
                ok = _sha256(file) == manifest.checksums.get(name)
            else:
                ok = _edges(file) == manifest.edges[name]
        except OSError:
            raise IndexCorrupt(
                f"index {manifest.version}: {name} is missing or unreadable"
            ) from None
        if not ok:
            raise IndexCorrupt(f"index {manifest.version}: {name} fails its checksum "
                               f"({size:,} bytes)")

    def _require_current(self) -> str:
        current = self.current()
        if current is None:
            raise IndexNotFound(
                f"no index in {self.root}: run 'natoqa build --index {self.root}' first"
            )
        return current


class VersionWriter:
    """Writes one version's folder: segments kept (hard links) or added, then the commit."""

    def __init__(self, store: IndexStore, manifest: Manifest, folder: Path) -> None:
        self.store, self.manifest, self.folder = store, manifest, folder
        self.entries: list[SegmentEntry] = []
        self.checksums: dict[str, str] = {}
        self.edges: dict[str, str] = {}
        self.committed = False

    def keep(self, source: str, entry: SegmentEntry) -> None:
        """Share a segment of version ``source`` (its checksums are taken, not recomputed)."""
        source_manifest = self.store.manifest(source)
        origin = self.store.versions_dir / source / SEGMENTS_DIR / entry.name
        for name in link_segment(origin, self.folder / SEGMENTS_DIR / entry.name):
            key = entry.path(name)
            self.checksums[key] = (source_manifest.checksums.get(key)
                                   or _sha256(self.folder / key))
            if key in source_manifest.edges:
                self.edges[key] = source_manifest.edges[key]
        self.entries.append(entry)

    def add(self, segment: NewSegment) -> SegmentEntry:
        """Write a new segment now."""
        if len(segment.passages) != len(segment.vectors):
            raise ValueError("one vector per passage")
        if bad := [n for n in segment.extras if not is_artifact_name(n)
                   or n in (PASSAGE_VECTORS, SEGMENT_PASSAGES)]:
            raise ValueError(f"extra artifact names must be plain *.npy/.json/.faiss "
                             f"names: {bad}")
        entry = SegmentEntry(new_segment_name(), len(segment.passages))
        for name in write_segment(self.folder / SEGMENTS_DIR / entry.name, segment.passages,
                                  segment.vectors, segment.extras, self.manifest.dim):
            self.checksums[entry.path(name)] = _sha256(self.folder / entry.path(name))
        self.entries.append(entry)
        return entry

    def commit(self, documents: Sequence[DocumentRecord]) -> Path:
        """Documents, manifest, fsync, and the rename that makes the version complete."""
        shutil.rmtree(self.folder / SPILL_DIR, ignore_errors=True)  # moved into segments
        docs_json = {
            d.doc_id: {
                "meta": asdict(d.meta),
                "content_hash": d.content_hash,
                "passages": d.passages,
                "fmt": d.fmt,
            }
            for d in documents
        }
        (self.folder / DOCUMENTS).write_text(
            json.dumps(docs_json, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        self.checksums[DOCUMENTS] = _sha256(self.folder / DOCUMENTS)
        manifest = self.manifest
        manifest.format = FORMAT
        manifest.segments = [e.to_dict() for e in self.entries]
        manifest.checksums = self.checksums
        manifest.edges = self.edges | {
            name: _edges(self.folder / name) for name in self.checksums
            if name not in self.edges and (self.folder / name).stat().st_size > FULL_CHECK_BYTES}
        (self.folder / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        _fsync_files(self.folder)
        final = self.store.versions_dir / manifest.version
        self.folder.rename(final)
        _fsync_path(self.store.versions_dir)
        self.committed = True
        return final


@dataclass(frozen=True)
class NewSegment:
    """A segment to write: passages, their vectors and artifacts (file name -> artifact)."""

    passages: Sequence[Passage]
    vectors: Vectors
    extras: dict[str, Any] = field(default_factory=dict)


def _legacy_segment(path: Path, manifest: Manifest) -> Segment:
    """A format-1 version's files as one segment: its vectors out of the flat FAISS file."""
    index = faiss.read_index(str(path / VECTORS_V1))
    vectors = (index.reconstruct_n(0, index.ntotal) if index.ntotal
               else np.zeros((0, index.d), dtype=np.float32))
    passages = tuple(passage_from_json(line) for line in
                     (path / SEGMENT_PASSAGES).read_text(encoding="utf-8").splitlines()
                     if line.strip())
    extras = {name: open_artifact(path / name) for name in manifest.checksums
              if name.endswith(".npy")}
    return Segment(SegmentEntry("v1", len(passages)), PassageTable.of(passages), vectors, extras)


def _edges(path: Path) -> str:
    """sha256 of a file's size and its first and last MiB: a quick check for large files."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        digest.update(str(size).encode())
        digest.update(fh.read(_EDGE))
        fh.seek(max(0, size - _EDGE))
        digest.update(fh.read(_EDGE))
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_files(folder: Path) -> None:
    for file in folder.iterdir():
        if file.is_dir():
            _fsync_files(file)
            continue
        with file.open("rb") as fh:
            os.fsync(fh.fileno())
    _fsync_path(folder)


def _fsync_path(folder: Path) -> None:
    """fsync a directory, so a rename or replace inside it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def utc_now() -> str:
    """Now, as the manifests and the service's status write it (UTC, to the second)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
