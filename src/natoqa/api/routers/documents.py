"""The indexed documents and their passages."""

from __future__ import annotations

from fastapi import APIRouter, Query

from natoqa.api.deps import ServiceDep
from natoqa.api.problems import GUARD_STATUSES, problem_responses
from natoqa.api.schemas import (
    DocumentListPublic,
    DocumentMetaPublic,
    DocumentPublic,
    PassageContextPublic,
    PassagePublic,
)
from natoqa.models import Passage

router = APIRouter(prefix="/api/v1", tags=["documents"])


@router.get(
    "/documents",
    response_model=DocumentListPublic,
    responses=problem_responses(503, *GUARD_STATUSES),
)
def list_documents(service: ServiceDep) -> DocumentListPublic:
    """All documents of the current index version, with metadata and passage counts."""
    index = service.engine.index
    return DocumentListPublic(
        version=index.version,
        documents=[
            DocumentPublic(
                doc_id=d.doc_id,
                meta=DocumentMetaPublic.of(d.meta),
                passages=d.passages,
                content_hash=d.content_hash,
            )
            for d in sorted(index.documents.values(), key=lambda d: d.doc_id)
        ],
    )


@router.get(
    "/passages/{passage_id}",
    response_model=PassageContextPublic,
    responses=problem_responses(404, 422, 503, *GUARD_STATUSES),
)
def get_passage(
    passage_id: str,
    service: ServiceDep,
    window: int = Query(1, ge=0, le=5, description="Neighbours on each side."),
) -> PassageContextPublic:
    """One passage with its neighbours in reading order ("show more context")."""
    index = service.engine.index
    passage = index.passage(passage_id)
    before, after = index.neighbours(passage_id, window)

    def public(p: Passage) -> PassagePublic:
        record = index.documents.get(p.doc_id)
        return PassagePublic.of(p, record.meta.title if record else p.doc_id)

    refs = set(passage.footnote_refs)
    footnotes = [
        index.passages[r]
        for r in index.document_rows(passage.doc_id)
        if index.passages[r].kind == "footnote" and index.passages[r].footnote in refs
    ]
    return PassageContextPublic(
        passage=public(passage),
        before=[public(p) for p in before],
        after=[public(p) for p in after],
        footnotes=[public(p) for p in footnotes],
    )
