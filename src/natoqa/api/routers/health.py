"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from natoqa.api.deps import ServiceDep
from natoqa.api.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=HealthPublic,
    responses={503: {"description": "Not yet able to answer questions."}},
)
def healthz(service: ServiceDep) -> HealthPublic | JSONResponse:
    """200 once the service can answer questions."""
    if not service.ready:
        return JSONResponse({"status": "starting"}, status_code=503)
    return HealthPublic(status="ok")
