"""Reading a source file's bytes safely: size limit, sidecar, content hash, text decoding."""

from __future__ import annotations

import hashlib
from pathlib import Path

from natoqa.errors import SourceError

#: Files above this size are refused rather than read into memory.
MAX_BYTES = 50 * 1024 * 1024

SIDECAR_SUFFIX = ".meta.toml"

# Control bytes that never occur in text; one of them in the first block means binary.
_BINARY_PROBE = 8192
_BINARY_BYTES = frozenset(b"\x00\x01\x02\x03\x04\x05\x06\x0e\x0f\x10\x11\x12\x13\x14\x15\x16")


def sidecar_path(path: Path) -> Path:
    """``NAME.ext`` → ``NAME.meta.toml`` beside it."""
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(SIDECAR_SUFFIX)


def read_bytes(path: Path, *, limit: int | None = None) -> bytes:
    """The file's bytes; SourceError when unreadable, empty or larger than ``limit``."""
    limit = MAX_BYTES if limit is None else limit
    try:
        size = path.stat().st_size
        if size > limit:
            raise SourceError(str(path), f"too large: {size} bytes (limit {limit})")
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        raise SourceError(str(path), "empty file")
    return data


def read_sidecar(path: Path) -> bytes:
    """The bytes of the document's sidecar, or ``b""`` when it has none."""
    side = sidecar_path(path)
    if not side.is_file():
        return b""
    try:
        return side.read_bytes()
    except OSError as exc:
        raise SourceError(
            str(path), f"cannot read metadata sidecar: {exc.strerror or exc}"
        ) from None


def content_hash(data: bytes, sidecar: bytes) -> str:
    """sha256 over the file bytes and its sidecar, so a metadata edit is a change too."""
    digest = hashlib.sha256(data)
    digest.update(b"\0")  # separator: moving bytes between the two parts changes the hash
    digest.update(sidecar)
    return digest.hexdigest()


def looks_binary(data: bytes) -> bool:
    return any(b in _BINARY_BYTES for b in data[:_BINARY_PROBE])


def decode_text(path: Path, data: bytes) -> str:
    """Strict UTF-8 (a BOM is allowed); SourceError for binary or mis-encoded files.

    Guessing another encoding would silently turn umlauts into garbage in the
    citations; refusing names the file so it can be converted once.
    """
    if looks_binary(data):
        raise SourceError(str(path), "binary content, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(str(path), f"not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise SourceError(str(path), "empty file")
    return text
