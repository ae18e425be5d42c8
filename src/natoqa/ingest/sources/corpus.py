"""Loading one file into a RawDocument, and scanning a corpus folder."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from natoqa.errors import CorpusError, SourceError
from natoqa.ingest.sources._io import (
    content_hash,
    is_sidecar,
    looks_binary,
    read_bytes,
    read_sidecar,
    sidecar_path,
)
from natoqa.ingest.sources.html import load_html
from natoqa.ingest.sources.meta import parse_sidecar
from natoqa.ingest.sources.pdf import load_pdf
from natoqa.ingest.sources.plaintext import load_text
from natoqa.models import RawDocument

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".txt", ".md", ".pdf", ".html", ".htm"})

_FORMATS = {".txt": "txt", ".md": "md", ".pdf": "pdf", ".html": "html", ".htm": "html"}


@dataclass(frozen=True)
class CorpusScan:
    """The documents a scan loaded, and the files it skipped with the reason."""

    documents: list[RawDocument] = field(default_factory=list)
    skipped: list[SourceError] = field(default_factory=list)
    #: documents not parsed because their content hash is the one the caller knows
    unchanged: list[str] = field(default_factory=list)


def doc_id_for(path: Path, root: Path) -> str:
    """The path relative to the corpus root, POSIX style."""
    for child, parent in ((path, root), (path.resolve(), root.resolve())):
        try:
            return child.relative_to(parent).as_posix()
        except ValueError:
            continue
    return path.as_posix()


def _parse(path: Path, fmt: str, data: bytes) -> RawDocument:
    """Format-specific part of load_file; doc_id and hash are filled in by the caller."""
    if fmt == "pdf":
        pdf = load_pdf(path, data)
        return RawDocument(
            doc_id="",
            pages=pdf.pages,
            meta=pdf.meta,
            content_hash="",
            fmt=fmt,
            paged=True,
            page_numbers=pdf.page_numbers,
        )
    if looks_binary(data):
        raise SourceError(str(path), "binary content, not text")
    if fmt == "html":
        text, meta = load_html(path, data)
    else:
        text, meta = load_text(path, data)
    return RawDocument(doc_id="", pages=(text,), meta=meta, content_hash="", fmt=fmt)


def load_file(path: Path, root: Path) -> RawDocument:
    """Read one source file with its metadata; SourceError names the file and the reason."""
    return _parse_file(path, root, *_read_file(path, root))


def _read_file(path: Path, root: Path) -> tuple[str, bytes, bytes, str]:
    """A source's format, bytes, sidecar bytes and content hash (SourceError: unusable)."""
    check_source(path, root)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SourceError(str(path), f"unsupported file type {path.suffix or '(none)'!r}")
    data = read_bytes(path)
    sidecar_file = sidecar_path(path)
    if sidecar_file.is_symlink():  # a link out of the corpus must not feed metadata either
        try:
            check_source(sidecar_file, root)
        except SourceError as err:
            raise SourceError(str(path), f"metadata sidecar: {err.reason}") from None
    sidecar = read_sidecar(path)
    return fmt, data, sidecar, content_hash(data, sidecar)


def _parse_file(path: Path, root: Path, fmt: str, data: bytes, sidecar: bytes,
                digest: str) -> RawDocument:
    side_meta = parse_sidecar(path, sidecar)
    try:
        parsed = _parse(path, fmt, data)
    except SourceError:
        raise
    except Exception as exc:  # a parser bug on odd input must not stop the whole scan
        raise SourceError(str(path), f"cannot parse: {type(exc).__name__}: {exc}") from None
    return RawDocument(
        doc_id=doc_id_for(path, root),
        pages=parsed.pages,
        meta={**parsed.meta, **side_meta},  # the sidecar is the corpus keeper's word: it wins
        content_hash=digest,
        fmt=fmt,
        paged=parsed.paged,
        page_numbers=parsed.page_numbers,
    )


def check_source(path: Path, root: Path) -> None:
    """SourceError unless ``path`` is a regular file that resolves inside ``root``.

    A symbolic link is followed only when its target is in the corpus: a link
    to ``/etc/passwd`` must not put that file into a public index.
    """
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        raise SourceError(str(path), "dangling symbolic link") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise SourceError(str(path), f"cannot resolve: {exc}") from None
    if not target.is_relative_to(root.resolve()):
        raise SourceError(str(path), "symbolic link to outside the corpus folder")
    if target.is_dir():
        if path.is_symlink():
            raise SourceError(str(path), "symbolic link to a folder (not followed)")
        raise SourceError(str(path), "a folder, not a file")
    if not target.is_file():
        raise SourceError(str(path), "not a regular file (FIFO, socket or device)")


def candidate_files(root: Path) -> list[Path]:
    """Every non-hidden entry under ``root`` a scan must load or report, sorted.

    That is every file that is not a metadata sidecar, and also what only looks
    like one: symbolic links (checked by :func:`check_source`), FIFOs, and
    folders named like a document (``x.txt/``). Other folders are walked, but
    never through a symbolic link, and hidden ones not at all: an upload's
    temporary folder (``.upload-*``) may vanish while the corpus is listed.
    """
    found: list[Path] = []

    def walk(folder: Path) -> None:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return  # removed while it was listed
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") or is_sidecar(path):
                continue
            try:
                folder_itself = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if folder_itself and path.suffix.lower() not in SUPPORTED_SUFFIXES:
                walk(path)  # an ordinary folder
            else:
                found.append(path)

    walk(root)
    return sorted(found)


def scan_corpus(root: Path, known: Mapping[str, str] | None = None) -> CorpusScan:
    """Load every document under ``root``; unusable files are skipped and listed.

    ``known``: doc id → content hash of documents the caller has already; those whose
    files still have that hash are listed in ``unchanged``, not parsed again.
    Raises CorpusError when ``root`` is not a folder or holds no usable document.
    """
    scan = CorpusScan()
    scan.documents.extend(iter_corpus(root, known, scan))
    return scan


def iter_corpus(root: Path, known: Mapping[str, str] | None,
                scan: CorpusScan) -> Iterator[RawDocument]:
    """:func:`scan_corpus` one document at a time: each parsed document is yielded, not
    kept (a build of an archive holds none but the one it splits); ``scan`` gets the
    unchanged and the skipped. Raises CorpusError, once every file was looked at, when
    none was usable."""
    if not root.exists():
        raise CorpusError(f"corpus folder {root} does not exist")
    if not root.is_dir():
        raise CorpusError(f"corpus path {root} is not a folder")
    parsed = 0
    for path in candidate_files(root):
        try:
            fmt, data, sidecar, digest = _read_file(path, root)
            doc_id = doc_id_for(path, root)
            if known is not None and known.get(doc_id) == digest:
                scan.unchanged.append(doc_id)  # hashed, not parsed: thousands of files are
                continue
            document = _parse_file(path, root, fmt, data, sidecar, digest)
        except SourceError as err:
            log.warning("skipping %s: %s", err.path, err.reason)
            scan.skipped.append(err)
            continue
        parsed += 1
        yield document
    if not parsed and not scan.unchanged:
        reasons = "; ".join(e.message for e in scan.skipped[:5])
        detail = f" (skipped: {reasons})" if reasons else ""
        raise CorpusError(f"no usable document in {root}{detail}")
