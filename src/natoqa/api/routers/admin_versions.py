"""The kept index versions with their build reports, and rollback (admin token only)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Body, Depends

from natoqa.api.deps import FilesStoreDep, ServiceDep, get_files_store
from natoqa.api.problems import ProblemError, problem_responses
from natoqa.api.routers.admin import require_admin
from natoqa.api.routers.admin_documents import DocumentsDep
from natoqa.api.schemas_admin import (
    RollbackPublic,
    RollbackRequest,
    VersionListPublic,
    VersionPublic,
)
from natoqa.errors import IndexIncompatible, IndexLocked, IndexNotFound, IndexStoreError
from natoqa.index.builder import rollback as rollback_index
from natoqa.service.builds import now_iso

audit = logging.getLogger("natoqa.audit")

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin), Depends(get_files_store)],
    responses=problem_responses(401, 403, 429),
)


@router.get("/versions", response_model=VersionListPublic)
async def list_versions(service: ServiceDep, documents: DocumentsDep,
                        store: FilesStoreDep) -> VersionListPublic:
    """The kept index versions, newest first, with the report of the server build that
    made each (CLI builds have none)."""

    def collect() -> VersionListPublic:
        current = store.current()
        served = service.engine.index.version
        reports = {b.report["version"]: b.report for b in documents.builds.recent()
                   if b.report and b.report.get("switched")}
        out = []
        for version in reversed(store.versions()):
            facts: tuple[str | None, int | None, int | None, float | None]
            try:
                m = store.manifest(version)
                facts = (m.created, len(m.documents), m.passage_count, m.build_seconds)
            except IndexStoreError:
                facts = (None, None, None, None)
            out.append(VersionPublic(
                version=version, current=version == current, served=version == served,
                created=facts[0], documents=facts[1], passages=facts[2],
                build_seconds=facts[3], report=reports.get(version),
            ))
        return VersionListPublic(versions=out)

    return await asyncio.to_thread(collect)


@router.post("/rollback", response_model=RollbackPublic,
             responses=problem_responses(400, 404, 409, 422))
async def rollback(
    service: ServiceDep,
    store: FilesStoreDep,
    body: Annotated[RollbackRequest | None, Body(examples=[{"version": None}])] = None,
) -> RollbackPublic:
    """Make an earlier version current again (default: the one before the current) and answer
    from it now. The next document build starts from it and adds the corpus's changes again."""
    previous = service.engine.index.version
    try:
        version = await asyncio.to_thread(
            rollback_index, store.root, body.version if body else None, lock_timeout=5
        )
    except IndexLocked:
        raise ProblemError("conflict", "a build is running; roll back when it is done") from None
    except IndexIncompatible as exc:
        raise ProblemError("conflict", exc.message) from None
    except IndexNotFound as exc:
        raise ProblemError("not-found", exc.message) from None
    except IndexStoreError as exc:  # the target is corrupt or unreadable: CURRENT stays
        raise ProblemError("conflict", exc.message) from None
    await asyncio.to_thread(service.reload, force=True)
    audit.info("rollback by admin to %s (was %s)", version, previous, extra={
        "event": "index.rollback", "actor": "admin", "at": now_iso(), "version": version,
        "previous_version": previous, "outcome": "succeeded"})
    return RollbackPublic(version=version, previous_version=previous)
