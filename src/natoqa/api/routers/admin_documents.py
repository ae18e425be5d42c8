"""Editors change the sources over HTTP and follow the builds (docs/DOCUMENTS.md).

``PUT`` stores a document in the corpus folder (the body is the file, its
``Content-Type`` says the format, the metadata come as query parameters) and
queues a build; ``DELETE`` removes one. Both answer ``202`` with the build to
follow, or ``200`` when nothing changed (the same upload again builds nothing).
Allowed with ``NATOQA_ADMIN_TOKEN`` or one of ``NATOQA_DOCUMENTS_TOKENS``
(named, scoped to documents and builds); the name is the audit log's actor.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from natoqa.api.deps import SettingsDep, get_files_store
from natoqa.api.problems import ProblemError, problem_responses
from natoqa.api.schemas_admin import (
    BuildListPublic,
    BuildPublic,
    DocumentChangePublic,
    DocumentListAdminPublic,
    DocumentMetaIn,
    DocumentStatusPublic,
)
from natoqa.errors import CorpusError
from natoqa.ingest.sources.editing import MEDIA_TYPES, InvalidDocument, UnsupportedType
from natoqa.service.builds import Change, now_iso
from natoqa.service.documents import ChangeResult, DocumentService

PREFIX = "/api/v1/admin"

_bearer = HTTPBearer(
    auto_error=False,
    description="NATOQA_ADMIN_TOKEN, or one of the named NATOQA_DOCUMENTS_TOKENS.",
)


async def require_editor(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The name of the token the request carries ('admin' for the admin token); 401/403
    as for the other admin routes."""
    tokens = {name: t.get_secret_value() for name, t in settings.documents_tokens.items()}
    if settings.admin_token and settings.admin_token.get_secret_value():
        tokens["admin"] = settings.admin_token.get_secret_value()
    if not tokens:
        raise ProblemError(
            "forbidden",
            "document endpoints are disabled: start the server with NATOQA_ADMIN_TOKEN or "
            "NATOQA_DOCUMENTS_TOKENS set",
        )
    if credentials is None:
        raise ProblemError(
            "unauthorized",
            "token missing: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="natoqa-admin"'},
        )
    given = credentials.credentials.encode()
    # every token compared, in constant time: timing reveals neither which nor how much matched
    matches = [name for name, token in tokens.items()
               if secrets.compare_digest(given, token.encode())]
    if not matches:
        raise ProblemError("forbidden", "the token is wrong")
    return matches[0]


async def get_documents(request: Request) -> DocumentService:
    documents: DocumentService = request.app.state.documents
    return documents


EditorDep = Annotated[str, Depends(require_editor)]
DocumentsDep = Annotated[DocumentService, Depends(get_documents)]
DocId = Annotated[str, Path(description="The document's name: the file name without suffix "
                            "(letters, digits, '_', '-', single dots).",
                            examples=["fes-zukunft-der-nato"])]

router = APIRouter(prefix=PREFIX, tags=["documents (admin)"],
                   # the editor's token first: who may not edit learns nothing of the store
                   dependencies=[Depends(require_editor), Depends(get_files_store)],
                   responses=problem_responses(401, 403, 409, 422, 429, 503))

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The document itself; `Content-Type` says its format.",
        "content": {media: {"schema": {"type": "string", "format": "binary"}}
                    for media in MEDIA_TYPES},
    }
}


def _public(result: ChangeResult, response: Response) -> DocumentChangePublic:
    build_id = result.build.id if result.build else None
    url = f"{PREFIX}/builds/{build_id}" if build_id else None
    response.status_code = 202 if result.changed or build_id else 200
    if url:
        response.headers["Location"] = url
    return DocumentChangePublic(
        doc_id=result.doc_id, changed=result.changed, build_id=build_id, build_url=url,
        document=DocumentStatusPublic.of(result.document), passages=result.passages,
    )


def _problem(exc: InvalidDocument | CorpusError) -> ProblemError:
    if isinstance(exc, CorpusError):
        return ProblemError("corpus-unavailable", exc.message)
    slug = "unsupported-document" if isinstance(exc, UnsupportedType) else "invalid-document"
    return ProblemError(slug, f"{exc.reason}; nothing was stored")


@router.get("/documents", response_model=DocumentListAdminPublic)
async def list_documents(
    _: EditorDep, documents: DocumentsDep,
    q: Annotated[str | None, Query(max_length=200, description="Part of a title or doc_id.")]
    = None,
) -> DocumentListAdminPublic:
    """Every document of the corpus and of the index answering now, with its status:
    `indexed` (in version V), `pending` (a build has yet to take it) or `skipped` (why)."""
    try:
        docs = await asyncio.to_thread(documents.list, q)
    except CorpusError as exc:
        raise _problem(exc) from None
    pending = documents.builds.pending()
    return DocumentListAdminPublic(
        version=documents.qa.engine.index.version,
        documents=[DocumentStatusPublic.of(d) for d in docs],
        build=BuildPublic.of(pending) if pending else None,
    )


@router.get("/documents/{doc_id:path}", response_model=DocumentStatusPublic,
            responses=problem_responses(404, 422))
async def get_document(doc_id: DocId, _: EditorDep, documents: DocumentsDep
                       ) -> DocumentStatusPublic:
    """One document and its status."""
    try:
        return DocumentStatusPublic.of(await asyncio.to_thread(documents.get, doc_id))
    except CorpusError as exc:
        raise _problem(exc) from None


@router.put(
    "/documents/{doc_id:path}",
    response_model=DocumentChangePublic,
    status_code=202,
    openapi_extra=_UPLOAD_BODY,
    responses={200: {"description": "Unchanged: the same file and metadata are there "
                     "already; nothing is built.", "model": DocumentChangePublic},
               **problem_responses(400, 404, 413, 415, 422)},
)
async def put_document(
    doc_id: DocId,
    meta: Annotated[DocumentMetaIn, Query()],
    request: Request,
    response: Response,
    actor: EditorDep,
    documents: DocumentsDep,
    settings: SettingsDep,
) -> DocumentChangePublic:
    """Create or replace a document: PDF, HTML, Markdown or plain text, at most
    `NATOQA_MAX_UPLOAD_BYTES`. It is checked as a build will read it (a PDF without text is
    refused), stored atomically with its metadata, and a build is queued; `202` names it.
    The same file and metadata again answer `200` and build nothing."""
    data = await request.body()
    declared = request.headers.get("content-length", "")
    if (declared.isdigit() and int(declared) != len(data)) or await request.is_disconnected():
        raise ProblemError("incomplete-upload",
                           f"the upload ended after {len(data)} bytes; nothing was stored")
    if len(data) > settings.max_upload_bytes:
        raise ProblemError("request-too-large",
                           f"the document exceeds {settings.max_upload_bytes} bytes "
                           "(NATOQA_MAX_UPLOAD_BYTES)")
    if not data.strip():
        raise ProblemError("invalid-document", "the body is empty: send the document itself")
    try:
        result = await asyncio.to_thread(
            documents.put, doc_id, data, request.headers.get("content-type"), meta.sidecar(),
            actor,
        )
    except (InvalidDocument, CorpusError) as exc:
        raise _problem(exc) from None
    return _public(result, response)


@router.delete("/documents/{doc_id:path}", response_model=DocumentChangePublic,
               status_code=202, responses=problem_responses(404, 422))
async def delete_document(
    doc_id: DocId, response: Response, actor: EditorDep, documents: DocumentsDep
) -> DocumentChangePublic:
    """Remove a document (its file and metadata) from the corpus and queue a build."""
    try:
        result = await asyncio.to_thread(documents.delete, doc_id, actor)
    except (InvalidDocument, CorpusError) as exc:
        raise _problem(exc) from None
    return _public(result, response)


@router.post("/builds", response_model=BuildPublic, status_code=202)
async def request_build(response: Response, actor: EditorDep, documents: DocumentsDep
                        ) -> BuildPublic:
    """Build the corpus as it is now (e.g. after files were copied into the folder);
    joins a build that has not started yet."""
    build = documents.builds.request(Change("build", None, actor, now_iso()))
    response.headers["Location"] = f"{PREFIX}/builds/{build.id}"
    return BuildPublic.of(build)


@router.get("/builds", response_model=BuildListPublic)
async def list_builds(
    _: EditorDep, documents: DocumentsDep,
    limit: Annotated[int, Query(ge=1, le=50, description="How many, newest first.")] = 20,
) -> BuildListPublic:
    """The recent builds with their reports (the last 50 are kept)."""
    builds = await asyncio.to_thread(documents.builds.recent, limit)
    return BuildListPublic(builds=[BuildPublic.of(b) for b in builds])


@router.get("/builds/{build_id}", response_model=BuildPublic,
            responses=problem_responses(404))
async def get_build(build_id: str, _: EditorDep, documents: DocumentsDep) -> BuildPublic:
    """One build: queued, running (phase and progress) or finished (report or error)."""
    build = await asyncio.to_thread(documents.builds.get, build_id)
    if build is None:
        raise ProblemError("not-found", f"no build {build_id!r} (the last 50 are kept)")
    return BuildPublic.of(build)
