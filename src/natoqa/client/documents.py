"""What the clients' document methods send (shared by :class:`~natoqa.client.client.Client`
and its async twin): the upload request, and the admin or documents token."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from natoqa.errors import ClientError

DOCUMENTS = "/api/v1/admin/documents"
BUILDS = "/api/v1/admin/builds"

#: file suffix -> the media type an upload is sent as
SUFFIX_TYPES = {
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".htm": "text/html",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
}

#: the metadata an upload may carry (query parameters of the PUT)
META_FIELDS = ("title", "authors", "date", "publisher", "url", "language")


def document_path(doc_id: str) -> str:
    # quoted: a slash in doc_id reaches the server (which refuses it) instead of another route
    return f"{DOCUMENTS}/{quote(doc_id, safe='')}"


def media_type_for(name: str) -> str:
    """The media type for a file name; ClientError for a suffix natoqa does not read."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIX_TYPES:
        known = ", ".join(sorted(SUFFIX_TYPES))
        raise ClientError(f"{name}: cannot tell the document type from {suffix or 'no suffix'!r} "
                          f"(use one of {known}, or give media_type)")
    return SUFFIX_TYPES[suffix]


def upload_request(
    content: bytes | Path, media_type: str | None, meta: dict[str, Any],
    token: str | None,
) -> dict[str, Any]:
    """httpx keyword arguments of a document upload."""
    unknown = set(meta) - set(META_FIELDS)
    if unknown:
        raise ClientError(f"unknown metadata {sorted(unknown)}: use {', '.join(META_FIELDS)}")
    if isinstance(content, Path):
        media_type = media_type or media_type_for(content.name)
        try:
            content = content.read_bytes()
        except OSError as exc:
            raise ClientError(f"cannot read {exc.filename}: {exc.strerror}") from None
    if media_type is None:
        raise ClientError("give media_type for a document given as bytes")
    params = {k: v for k, v in meta.items() if v not in (None, "", [], ())}
    if isinstance(params.get("authors"), str):
        params["authors"] = [params["authors"]]
    return {"content": content, "params": params,
            "headers": {"Content-Type": media_type, **auth(token)}}


def auth(token: str | None) -> dict[str, str]:
    """The Authorization header for ``token``; none: the client's own (its ``api_key``)."""
    return {"Authorization": f"Bearer {token}"} if token else {}
