"""Changing the corpus folder safely: check an upload, then put or remove a document.

A document is addressed by its ``doc_id``, the file name without its suffix:
``NAME`` is stored as ``NAME.pdf`` (or ``.html``, ``.md``, ``.txt``) with its
metadata in the sidecar ``NAME.meta.toml``, as the builds read them. An upload
is written into a hidden staging folder inside the corpus (builds and
``--watch`` ignore hidden paths), parsed there exactly as a build will parse
it, and only then renamed into place, sidecar first: a reader sees the old
document or the new one, never part of a file, and a refused or interrupted
upload leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from natoqa.errors import SourceError
from natoqa.ingest.cleaning import clean
from natoqa.ingest.passages import split
from natoqa.ingest.sources._io import SIDECAR_SUFFIX, content_hash, read_bytes, read_sidecar
from natoqa.ingest.sources.corpus import SUPPORTED_SUFFIXES, load_file

STAGING_PREFIX = ".upload-"

#: a doc_id: one file name without suffix; no path separators, no "..", not hidden
DOC_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*"
DOC_ID_MAX = 100

#: media types an upload may have, and the suffix its file gets
MEDIA_TYPES: dict[str, str] = {
    "application/pdf": ".pdf",
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "text/plain": ".txt",
}


class InvalidDocument(SourceError):
    """An upload that cannot become a document; ``reason`` says why in plain words."""

    type = "invalid-document"

    def __init__(self, reason: str) -> None:
        super().__init__("upload", reason)


class UnsupportedType(InvalidDocument):
    """An upload whose media type natoqa does not read."""

    type = "unsupported-document"


def check_doc_id(doc_id: str) -> str:
    """``doc_id`` when it is a plain name; InvalidDocument saying what is wrong otherwise."""
    if "/" in doc_id or "\\" in doc_id:
        raise InvalidDocument(f"doc_id {doc_id!r} must not contain a slash")
    if ".." in doc_id:
        raise InvalidDocument(f"doc_id {doc_id!r} must not contain '..'")
    if len(doc_id) > DOC_ID_MAX or not re.fullmatch(DOC_ID_PATTERN, doc_id):
        raise InvalidDocument(
            f"doc_id {doc_id!r}: use up to {DOC_ID_MAX} letters, digits, '_', '-' and single "
            "dots, starting with a letter or digit"
        )
    if doc_id.endswith(".meta"):
        raise InvalidDocument(f"doc_id {doc_id!r} must not end in '.meta' (sidecar names)")
    return doc_id


def suffix_for(media_type: str | None, data: bytes) -> str:
    """The file suffix for an upload of ``media_type`` (parameters ignored).

    Without a usable type (none, or ``application/octet-stream``) a PDF is
    recognised by its header; anything else must say what it is.
    """
    base = (media_type or "").split(";", 1)[0].strip().lower()
    if base in MEDIA_TYPES:
        return MEDIA_TYPES[base]
    if base in ("", "application/octet-stream") and data.startswith(b"%PDF-"):
        return ".pdf"
    known = ", ".join(sorted(MEDIA_TYPES))
    raise UnsupportedType(
        f"unsupported document type {base or '(none)'!r}: send one of {known} as Content-Type"
    )


def render_sidecar(meta: Mapping[str, object]) -> bytes:
    """The ``NAME.meta.toml`` for ``meta`` (title, authors, …; empty values left out).

    JSON string literals are valid TOML basic strings, so ``json.dumps`` quotes safely.
    """
    lines = ["# Written by natoqa (PUT /api/v1/admin/documents); the next upload replaces it."]
    for key, value in meta.items():
        if value is None or value == "" or value == [] or value == ():
            continue
        if isinstance(value, list | tuple):
            items = ", ".join(json.dumps(str(v), ensure_ascii=False) for v in value)
            lines.append(f"{key} = [{items}]")
        else:
            lines.append(f"{key} = {json.dumps(str(value), ensure_ascii=False)}")
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Staged:
    """An upload checked and written beside the corpus, ready to be put in place."""

    doc_id: str
    suffix: str
    folder: Path  # the hidden staging folder holding the two files
    content_hash: str
    passages: int

    @property
    def file(self) -> Path:
        return self.folder / (self.doc_id + self.suffix)

    @property
    def sidecar(self) -> Path:
        return self.folder / (self.doc_id + SIDECAR_SUFFIX)


def document_files(root: Path, doc_id: str) -> list[Path]:
    """The corpus files of ``doc_id`` (normally one; two if e.g. NAME.md and NAME.txt)."""
    return sorted(p for s in SUPPORTED_SUFFIXES if (p := root / (doc_id + s)).is_file())


def stored_hash(path: Path) -> str | None:
    """The content hash a build would give ``path`` (file + sidecar); None if unreadable."""
    try:
        return content_hash(read_bytes(path), read_sidecar(path))
    except SourceError:
        return None


@contextmanager
def staged(
    root: Path, doc_id: str, suffix: str, data: bytes, meta: Mapping[str, object]
) -> Iterator[Staged]:
    """Write the upload into a hidden folder in ``root`` and parse it as a build will.

    InvalidDocument when it cannot be read (a PDF without text, not UTF-8, …)
    or yields no passage. The folder is deleted on leaving, whatever happened;
    :func:`commit` moves its files into place before that.
    """
    check_doc_id(doc_id)
    folder = root / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
    folder.mkdir()
    try:
        sidecar_bytes = render_sidecar(meta)
        item = Staged(doc_id, suffix, folder, content_hash(data, sidecar_bytes), 0)
        _write_synced(item.file, data)
        _write_synced(item.sidecar, sidecar_bytes)
        try:
            raw = load_file(item.file, folder)
            parts = split(clean(raw))
        except SourceError as exc:
            raise InvalidDocument(exc.reason) from None
        except Exception as exc:  # a parser bug on odd input: refuse the upload, keep the corpus
            raise InvalidDocument(f"cannot read it: {type(exc).__name__}") from None
        if not parts:
            raise InvalidDocument("no text to index in it")
        yield Staged(doc_id, suffix, folder, item.content_hash, len(parts))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def commit(root: Path, item: Staged) -> None:
    """Move a staged upload into ``root``: sidecar, then file (each an atomic rename);
    files of the same doc_id in another format are removed after."""
    target = root / item.file.name
    os.replace(item.sidecar, root / item.sidecar.name)
    os.replace(item.file, target)
    for other in document_files(root, item.doc_id):
        if other != target:
            other.unlink(missing_ok=True)
    _sync_dir(root)


def remove(root: Path, doc_id: str) -> bool:
    """Delete ``doc_id``'s files and sidecar; False when there was none."""
    files = document_files(root, check_doc_id(doc_id))
    for path in files:  # the document first: a sidecar alone is ignored by builds
        path.unlink(missing_ok=True)
    (root / (doc_id + SIDECAR_SUFFIX)).unlink(missing_ok=True)
    _sync_dir(root)
    return bool(files)


def sweep_staging(root: Path) -> None:
    """Delete staging folders a killed server left behind."""
    for leftover in root.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
