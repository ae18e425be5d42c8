"""FastAPI dependencies: how routers reach the service and the settings.

They are ``async`` although they never await: FastAPI runs a plain ``def``
dependency in the thread pool, which cost every request two thread hand-offs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from natoqa.api.limits import presented_key
from natoqa.api.problems import ProblemError
from natoqa.config import Settings
from natoqa.index.store import IndexStore
from natoqa.service.service import QAService


async def get_service(request: Request) -> QAService:
    service: QAService = request.app.state.service
    return service


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[QAService, Depends(get_service)]


async def get_files_store(request: Request) -> IndexStore:
    """The server's index folder; 409 when its index is in PostgreSQL, where documents and
    versions change by ``natoqa build`` / ``natoqa index`` against the primary (replicas
    read a standby)."""
    store = request.app.state.service.store
    if not isinstance(store, IndexStore):
        raise ProblemError(
            "conflict", "this server reads its index from PostgreSQL: change documents and "
            "versions with 'natoqa build' and 'natoqa index' against the primary "
            "(docs/SCALE-OUT.md)")
    return store


FilesStoreDep = Annotated[IndexStore, Depends(get_files_store)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def require_json(request: Request) -> None:
    """415 for a body declared as anything but JSON (``application/json`` or ``*/*+json``).

    Without it FastAPI reads such a body (or one without a Content-Type) as
    a plain string and answers a misleading 422.
    """
    declared = request.headers.get("content-type", "")
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise ProblemError(
            "unsupported-media-type",
            "the body must be JSON, sent with 'Content-Type: application/json' (got "
            + (repr(media_type) if media_type else "no Content-Type") + ")",
        )


JsonBody = Depends(require_json)


async def is_authenticated(request: Request) -> bool:
    """Whether the caller may see internals: on a server with API keys, only with a key
    (or the admin token); on one without, everyone may (the operator chose an open server)."""
    settings: Settings = request.app.state.settings
    keys = [k.get_secret_value().encode() for k in (*settings.api_keys,
                                                    *settings.trusted_api_keys)]
    if not keys:
        return True
    if settings.admin_token is not None:
        keys.append(settings.admin_token.get_secret_value().encode())
    return presented_key(request.headers.raw, keys) is not None


AuthenticatedDep = Annotated[bool, Depends(is_authenticated)]
