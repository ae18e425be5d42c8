"""``/metrics``: Prometheus' text format (natoqa's metrics and the process's, or all workers')."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from natoqa.api.deps import ServiceDep
from natoqa.service.metrics import CACHE_ENTRIES, scrape

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, include_in_schema=False)
def metrics(service: ServiceDep) -> Response:
    """Every metric; the index gauges follow each load and switch (natoqa.service.service)."""
    CACHE_ENTRIES.set(len(service.cache))
    body, content_type = scrape()
    return Response(body, media_type=content_type)
