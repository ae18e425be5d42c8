"""Fast checks of the admin page's files: no HTML parsing of data, nothing from elsewhere,
every string in both languages, and the headers that keep it out of other sites' frames."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

STATIC = files("natoqa").joinpath("static")


def read(name: str) -> str:
    return STATIC.joinpath(name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "sink",
    ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
     "new Function", "DOMParser", "createContextualFragment", "srcdoc"],
)
def test_admin_page_never_parses_html(sink: str) -> None:
    """Titles and reasons come from uploads: they are only ever text nodes."""
    assert sink not in read("admin.js")


def test_admin_page_loads_nothing_from_elsewhere() -> None:
    for name in ("admin.html", "admin.js", "admin.css"):
        text = read(name)
        assert not re.findall(r"https?://", text), name
        assert "@import" not in text and "url(" not in text, name


def test_every_string_in_german_and_english() -> None:
    js = read("admin.js")
    german = js.split("\n    de: {", 1)[1].split("\n    en: {", 1)[0]
    english = js.split("\n    en: {", 1)[1].split("};", 1)[0]

    def keys(block: str) -> set[str]:
        return {a or b for a, b in re.findall(r'(?:"([\w ]+)"|(\w+)): "', block)}

    assert keys(german) == keys(english)
    assert set(re.findall(r'data-t="(\w+)"', read("admin.html"))) <= keys(german)


def test_admin_page_may_not_be_framed() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from natoqa.api.routers.admin_page import router

    app = FastAPI()
    app.include_router(router)
    response = TestClient(app).get("/admin")
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "<title>" in response.text
