"""``/metrics``: Prometheus' text format (natoqa's metrics and the process's)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from natoqa.api.deps import ServiceDep
from natoqa.errors import IndexError_
from natoqa.metrics import CACHE_ENTRIES, refresh_index_gauges

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, include_in_schema=False)
def metrics(service: ServiceDep) -> Response:
    """Every metric, with the index gauges read from the version being served right now."""
    try:
        index = service.engine.index  # one read: a reload cannot split the figures
    except IndexError_:
        refresh_index_gauges(None, service.embedder.model_id, 0, 0)
    else:
        refresh_index_gauges(index.version, index.manifest.model_id, len(index),
                             len(index.documents))
    CACHE_ENTRIES.set(len(service.cache))
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
