"""The index on disk: versions of (FAISS vectors + passage store + manifest).

Layout of an index folder::

    index/
      CURRENT                 name of the active version (replaced atomically)
      versions/<version>/
        manifest.json         model, dimensions, counts, per-document hashes, file checksums
        vectors.faiss         inner-product flat index; row i = passages.jsonl line i
        passages.jsonl        one Passage per line
        documents.json        doc_id -> metadata, content hash, passage count
        sentence_*.npy        retrieval's sentence units: vectors, rows, spans, latent terms
      .build.lock             held by a running build (see builder.py)

A version is written into a temporary folder, fsynced, renamed into place and
only then named in CURRENT, so readers never see a half-written index. Loading
reads every file once into memory, checks it against the manifest's checksum
and parses those same bytes: a loaded :class:`IndexVersion` never touches its
folder again, so pruning the folder under a running server is harmless.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from natoqa.errors import IndexCorrupt, IndexIncompatible, IndexNotFound, IndexStoreError, NotFound
from natoqa.models import DocumentMeta, Passage

FORMAT = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
PASSAGES = "passages.jsonl"
DOCUMENTS = "documents.json"
CURRENT = "CURRENT"
VERSIONS = "versions"
_CHECKED_FILES = (VECTORS, PASSAGES, DOCUMENTS)
_TMP_PREFIX = ".tmp-"

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
    size_bytes: int = 0
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

    Instances are immutable after loading and hold no open files, so a running
    request can keep using the version it started with while the service
    switches to a newer one, even after the version's folder was pruned.
    """

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        vectors: faiss.Index,
        passages: Sequence[Passage],
        documents: dict[str, DocumentRecord],
        extras: Mapping[str, npt.NDArray[Any]] | None = None,
    ) -> None:
        self.path = path  # informational only: nothing is read from it after loading
        self.manifest = manifest
        self.vectors = vectors
        #: optional build artifacts by file name (e.g. retrieval's sentence vectors)
        self.extras: dict[str, npt.NDArray[Any]] = dict(extras or {})
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


class IndexStore:
    """An index folder holding versions, one of them current.

    Reading (``current``, ``versions``, ``load``) is safe at any time. Writing
    (``write``, ``activate``, ``prune``, ``remove``) is meant to be done while
    holding the build lock (:func:`natoqa.index.builder.build_lock`).
    """

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
            size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
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
                )
            )
        return out

    def load(
        self,
        version: str | None = None,
        *,
        expect_dim: int | None = None,
        expect_model: str | None = None,
    ) -> IndexVersion:
        """Load and verify a version (default: the current one).

        IndexNotFound, IndexIncompatible (format, dimension or model differ) or
        IndexCorrupt (a file is missing, fails its checksum or does not parse).
        """
        version = check_version_name(version or self._require_current())
        path = self.versions_dir / version
        manifest = self.manifest(version)
        if manifest.format != FORMAT:
            raise IndexIncompatible(f"index format {manifest.format}, expected {FORMAT}")
        if manifest.version != version:
            raise IndexCorrupt(f"folder {version} holds a manifest of {manifest.version}")
        if expect_dim is not None and manifest.dim != expect_dim:
            raise IndexIncompatible(
                f"index {version} has {manifest.dim}-dimensional vectors, the model {expect_dim}"
            )
        if expect_model is not None and manifest.model_id != expect_model:
            raise IndexIncompatible(
                f"index {version} was built with model {manifest.model_id}, "
                f"this process runs {expect_model}: rebuild it"
            )
        blobs = {name: self._verified_bytes(path, name, manifest) for name in _CHECKED_FILES}
        try:
            vectors = faiss.deserialize_index(np.frombuffer(blobs[VECTORS], dtype=np.uint8))
            passages = [
                _passage_from_json(line)
                for line in blobs[PASSAGES].decode("utf-8").splitlines()
                if line.strip()
            ]
            raw_docs = json.loads(blobs[DOCUMENTS].decode("utf-8"))
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
        except (RuntimeError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise IndexCorrupt(f"index {version} cannot be read: {exc}") from None
        extras = self._load_extras(path, manifest)
        if vectors.ntotal != len(passages) or vectors.d != manifest.dim:
            raise IndexCorrupt(
                f"index {version}: {vectors.ntotal} vectors of {vectors.d} dimensions "
                f"for {len(passages)} passages of {manifest.dim}"
            )
        if len(passages) != manifest.passage_count:
            raise IndexCorrupt(
                f"index {version}: {len(passages)} passages, the manifest says "
                f"{manifest.passage_count}"
            )
        return IndexVersion(path, manifest, vectors, passages, documents, extras)

    def _load_extras(self, path: Path, manifest: Manifest) -> dict[str, npt.NDArray[Any]]:
        """The optional ``.npy`` artifacts the manifest lists, verified like the main files."""
        extras: dict[str, npt.NDArray[Any]] = {}
        for name in sorted(set(manifest.checksums) - set(_CHECKED_FILES)):
            if not _is_extra_name(name):
                continue
            data = self._verified_bytes(path, name, manifest)
            try:
                extras[name] = np.load(io.BytesIO(data), allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise IndexCorrupt(
                    f"index {manifest.version}: {name} cannot be read: {exc}"
                ) from None
        return extras

    def write(
        self,
        *,
        passages: Sequence[Passage],
        vectors: Vectors,
        documents: Sequence[DocumentRecord],
        manifest: Manifest,
        extras: Mapping[str, npt.NDArray[Any]] | None = None,
    ) -> Path:
        """Write a complete version beside the others (not yet current); returns its folder.

        ``extras`` are optional arrays saved as ``<name>`` (``*.npy``) and checksummed
        with the rest; :attr:`IndexVersion.extras` holds them after loading.
        """
        if len(passages) != len(vectors):
            raise ValueError("one vector per passage")
        extras = dict(extras or {})
        if bad := [n for n in extras if not _is_extra_name(n)]:
            raise ValueError(f"extra artifact names must be plain *.npy file names: {bad}")
        check_version_name(manifest.version)
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        tmp = _new_folder(self.versions_dir, _TMP_PREFIX)
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
            manifest.passage_count = len(passages)
            for name, array in extras.items():
                np.save(tmp / name, np.ascontiguousarray(array), allow_pickle=False)
            manifest.checksums = {
                name: _sha256(tmp / name) for name in (*_CHECKED_FILES, *sorted(extras))
            }
            (tmp / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
            _fsync_files(tmp)
            final = self.versions_dir / manifest.version
            tmp.rename(final)
            _fsync_path(self.versions_dir)
        except BaseException:  # also Ctrl-C: never leave a half-written folder behind
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

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

    def _verified_bytes(self, path: Path, name: str, manifest: Manifest) -> bytes:
        try:
            data = (path / name).read_bytes()
        except OSError:
            raise IndexCorrupt(
                f"index {manifest.version}: {name} is missing or unreadable"
            ) from None
        if hashlib.sha256(data).hexdigest() != manifest.checksums.get(name):
            raise IndexCorrupt(f"index {manifest.version}: {name} fails its checksum")
        return data

    def _require_current(self) -> str:
        current = self.current()
        if current is None:
            raise IndexNotFound(
                f"no index in {self.root}: run 'natoqa build --index {self.root}' first"
            )
        return current


def _is_extra_name(name: str) -> bool:
    """A plain ``*.npy`` file name: no folders, not hidden."""
    return name.endswith(".npy") and not name.startswith(".") and not set(name) & {"/", "\\"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_files(folder: Path) -> None:
    for file in folder.iterdir():
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
