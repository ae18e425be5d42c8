"""In-process fixtures for the API tests: the real service, app and an httpx client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest


@pytest.fixture(scope="session")
def qa_service(embedder: Any, built_index: Path) -> Any:
    """The real QAService (real model, real FAISS index of the bundled corpus)."""
    from natoqa.index.store import IndexStore
    from natoqa.service.service import QAService

    service = QAService(embedder, IndexStore(built_index))
    service.load()
    return service


def make_app(service: Any, **settings: Any) -> Any:
    from natoqa.api.app import create_app
    from natoqa.config import load_settings

    return create_app(load_settings(**settings), service=service)


@pytest.fixture
async def app_client(qa_service: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to the app in-process (no lifespan: the service is given)."""
    transport = httpx.ASGITransport(app=make_app(qa_service))
    async with httpx.AsyncClient(transport=transport, base_url="http://natoqa.test") as client:
        yield client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class StubService:
    """Stands in for QAService where a test needs an answer to take a set time.

    Only for timing cases the real service cannot be made to hit on cue; what
    the answer says is tested with the real one.
    """

    def __init__(self, *delays: float) -> None:
        import types

        self.delays = list(delays)  # one per call; the last one repeats
        self.finished: list[float] = []  # monotonic time each answer's thread ended
        self.engine = types.SimpleNamespace(
            index=types.SimpleNamespace(version="v-stub", documents={}))
        self.ready = True
        self.cache: dict[str, Any] = {}
        self.embedder = types.SimpleNamespace(model_id="stub-model", dim=3)

    def ask(self, question: str, history: Any = (), k: int = 5) -> Any:
        import time

        from natoqa.models import Answer

        delay = self.delays.pop(0) if len(self.delays) > 1 else self.delays[0]
        time.sleep(delay)
        self.finished.append(time.monotonic())
        return Answer(text="Eine Antwort. [1]", no_answer=False, citations=(), language="de",
                      took_ms=delay * 1000)

    def status(self) -> dict[str, Any]:
        return {"ready": True, "index_dir": "/srv/secret/index", "version": "v-stub",
                "last_reload_error": "cannot read /srv/secret/index/v2/manifest.json"}
