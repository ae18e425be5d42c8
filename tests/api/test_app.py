"""The app factory's lifespan: what is ready before the first request."""

from __future__ import annotations

from typing import Any

import pytest

from natoqa.text import language
from tests.api.conftest import make_app


@pytest.mark.anyio
async def test_language_detection_is_loaded_before_the_first_request(qa_service: Any) -> None:
    # py3langid's tables take ~1 s to load while holding the GIL: the lifespan pays,
    # not the first question the function words leave open
    language._identifier.cache_clear()
    app = make_app(qa_service)
    async with app.router.lifespan_context(app):
        assert language._identifier.cache_info().currsize == 1
