"""The running server follows ``index/CURRENT``: a background task that reloads on change.

Polling a one-line file once a second is cheap, works on every filesystem
(including network and container mounts where inotify events do not arrive)
and survives ``CURRENT`` being replaced by rename, which would orphan a watch.
The load runs in a worker thread, so the event loop keeps serving requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from natoqa.service.service import QAService

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def reload_in_background(service: QAService, interval: float) -> AsyncIterator[None]:
    """While inside, check every ``interval`` seconds whether CURRENT moved (0 = never)."""
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(_follow(service, interval), name="natoqa-reloader")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _follow(service: QAService, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(service.reload)
        except Exception:  # a bug here must not end reloading for the life of the server
            log.exception("background reload failed")
