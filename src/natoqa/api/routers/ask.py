"""Asking a question."""

from __future__ import annotations

from fastapi import APIRouter

from natoqa.api.deps import ServiceDep
from natoqa.api.schemas import AnswerPublic, AskRequest, Problem

router = APIRouter(prefix="/api/v1", tags=["ask"])

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "The body is not JSON."},
    422: {"model": Problem, "description": "The request breaks a documented limit."},
    503: {"model": Problem, "description": "No index is loaded."},
}


@router.post("/ask", response_model=AnswerPublic, responses=_ERRORS)
def ask(body: AskRequest, service: ServiceDep) -> AnswerPublic:
    """Answer one question from the sources, with numbered citations (best first)."""
    answer = service.ask(body.question, body.history, body.k)
    return AnswerPublic.of(answer)
