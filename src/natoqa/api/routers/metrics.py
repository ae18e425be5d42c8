"""``/metrics``: Prometheus' text format (natoqa's metrics and the process's, or all workers')."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from natoqa.api.deps import ServiceDep
from natoqa.errors import IndexError_
from natoqa.metrics import CACHE_ENTRIES, refresh_index_gauges, scrape

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
    body, content_type = scrape()
    return Response(body, media_type=content_type)
