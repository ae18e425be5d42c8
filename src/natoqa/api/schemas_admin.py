"""Schemas of the document, build and version admin endpoints (docs/DOCUMENTS.md)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from natoqa.service.builds import Build
from natoqa.service.documents import DocumentStatus

_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


class DocumentMetaIn(BaseModel):
    """A document's metadata, sent as query parameters of the upload
    (``?title=…&authors=A&authors=B&date=2025-06``); stored in its ``NAME.meta.toml``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str | None = Field(None, min_length=1, max_length=500,
                              description="Without one, the file's own title is used.")
    authors: list[str] = Field(default_factory=list, max_length=50,
                               description="Repeat the parameter for several authors.")
    date: str | None = Field(None, description="YYYY, YYYY-MM or YYYY-MM-DD.",
                             examples=["2025-06"])
    publisher: str | None = Field(None, min_length=1, max_length=300)
    url: str | None = Field(None, max_length=2000, description="http(s) link to the source.")
    language: str | None = Field(None, description="ISO 639 code, e.g. 'de' or 'en'.")

    @field_validator("authors")
    @classmethod
    def _authors(cls, value: list[str]) -> list[str]:
        names = [v.strip() for v in value if v.strip()]
        if any(len(n) > 200 for n in names):
            raise ValueError("an author's name may have at most 200 characters")
        return names

    @field_validator("date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            if re.fullmatch(r"\d{4}", value):
                return value
            if re.fullmatch(r"\d{4}-\d{2}", value):
                dt.date.fromisoformat(value + "-01")
                return value
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                dt.date.fromisoformat(value)
                return value
        except ValueError:
            pass
        raise ValueError(f"{value!r} is not a date like 2025, 2025-06 or 2025-06-30")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and not _LANGUAGE.fullmatch(value):
            raise ValueError(f"{value!r} is not a language code like 'de' or 'en'")
        return value

    def sidecar(self) -> dict[str, object]:
        """The fields for the sidecar, in a stable order (the content hash depends on it)."""
        return {k: v for k, v in self.model_dump().items() if v not in (None, [])}


_VERSION = "20250611T101500123456Z-3fa2c1"
_DOCUMENT: dict[str, Any] = {
    "doc_id": "fes-zukunft-der-nato", "source": "fes-zukunft-der-nato.pdf", "format": "pdf",
    "meta": {"title": "Die Zukunft der NATO", "date": "2025-06", "language": "de"},
    "in_corpus": True, "status": "indexed", "content_hash": "9b1c…", "version": _VERSION,
    "passages": 48, "reason": None, "build_id": None}
_REPORT: dict[str, Any] = {
    "version": _VERSION, "previous_version": "20250610T090000000000Z-77b0e4",
    "switched": True, "documents": 3, "documents_added": 1, "documents_changed": 0,
    "documents_removed": 0, "documents_unchanged": 2, "passages": 144,
    "passages_embedded": 48, "passages_reused": 96, "full_rebuild": None, "seconds": 4.2,
    "added": ["fes-zukunft-der-nato.pdf"], "changed": [], "removed": [], "skipped": [],
    "pruned": [], "timings": {"scan_s": 0.2, "embed_s": 1.1, "embed_sentences_s": 2.7}}
_BUILD: dict[str, Any] = {
    "id": "20250611T101459000000Z-a1b2c3", "state": "succeeded",
    "requested_at": "2025-06-11T10:14:59.000+00:00",
    "started_at": "2025-06-11T10:14:59.600+00:00",
    "finished_at": "2025-06-11T10:15:03.900+00:00", "phase": None, "done": 40, "total": 40,
    "changes": [{"action": "put", "doc_id": "fes-zukunft-der-nato", "actor": "cms",
                 "at": "2025-06-11T10:14:59.000+00:00", "content_hash": "9b1c…"}],
    "report": _REPORT, "error": None, "version": _VERSION}


class DocumentStatusPublic(BaseModel):
    """One document: where it stands between the corpus and the index answering now."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DOCUMENT]})

    doc_id: str = Field(description="The name to PUT/DELETE (the file name without suffix).")
    source: str = Field(description="Its id in the index and in citations (the file name).")
    format: str | None
    meta: dict[str, Any]
    in_corpus: bool = Field(description="False: removed, still in the index until the build.")
    status: Literal["pending", "indexed", "skipped"]
    content_hash: str | None
    version: str | None = Field(description="indexed: the index version it is in.")
    passages: int | None
    reason: str | None = Field(description="skipped: why the build could not use it.")
    build_id: str | None = Field(description="pending: the build that will take it.")

    @classmethod
    def of(cls, doc: DocumentStatus) -> DocumentStatusPublic:
        return cls(**doc.__dict__)


class BuildPublic(BaseModel):
    """A build the server runs after document changes; follow it until ``state`` is final."""

    model_config = ConfigDict(json_schema_extra={"examples": [_BUILD]})

    id: str
    state: Literal["queued", "running", "succeeded", "failed"]
    requested_at: str
    started_at: str | None
    finished_at: str | None
    phase: str | None = Field(description="running: loading the model, reading, passages, "
                              "sentences (embedding; see done/total), switching.")
    done: int
    total: int
    changes: list[dict[str, Any]] = Field(description="What it builds: action (put, delete, "
                                          "build), doc_id, actor (token name), at, content_hash.")
    report: dict[str, Any] | None = Field(
        description="When finished: the build summary (version, switched, added, changed, "
        "removed, skipped with reasons, seconds, timings), as `natoqa build --json` prints it."
    )
    error: str | None
    version: str | None = Field(description="The version the server answers from after it.")

    @classmethod
    def of(cls, build: Build) -> BuildPublic:
        data = build.to_dict()
        return cls(**data)


class BuildListPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"builds": [_BUILD]}]})

    builds: list[BuildPublic] = Field(description="Newest first.")


class DocumentListAdminPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"version": _VERSION, "documents": [_DOCUMENT], "build": None}]})

    version: str = Field(description="The index version the service answers from.")
    documents: list[DocumentStatusPublic]
    build: BuildPublic | None = Field(description="The queued or running build, if any.")


class DocumentChangePublic(BaseModel):
    """What an upload or removal does: ``changed`` false (the same content is there
    already) builds nothing; otherwise ``build_id`` names the build to follow."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "doc_id": "fes-zukunft-der-nato", "changed": True, "build_id": _BUILD["id"],
        "build_url": f"/api/v1/admin/builds/{_BUILD['id']}", "passages": 48,
        "document": {**_DOCUMENT, "status": "pending", "version": None, "passages": None,
                     "build_id": _BUILD["id"]}}]})

    doc_id: str
    changed: bool
    build_id: str | None
    build_url: str | None
    document: DocumentStatusPublic
    passages: int | None = Field(None, description="Passages the upload splits into.")


class VersionPublic(BaseModel):
    version: str
    current: bool = Field(description="index/CURRENT names it.")
    served: bool = Field(description="This server answers from it.")
    created: str | None
    documents: int | None
    passages: int | None
    build_seconds: float | None
    report: dict[str, Any] | None = Field(
        description="The report of the server build that made it (none for CLI builds)."
    )


class VersionListPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"versions": [{
        "version": _VERSION, "current": True, "served": True,
        "created": "2025-06-11T10:15:03+00:00", "documents": 3, "passages": 144,
        "build_seconds": 4.2, "report": _REPORT}]}]})

    versions: list[VersionPublic] = Field(description="Newest first.")


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": "20250610T090000000000Z-77b0e4"}, {}]})

    version: str | None = Field(None, description="Default: the version before the current.")


class RollbackPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"version": "20250610T090000000000Z-77b0e4", "previous_version": _VERSION}]})

    version: str = Field(description="The version now current and answering.")
    previous_version: str | None
