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
