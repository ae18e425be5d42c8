"""Fast checks of the widget's files: size budget, no HTML parsing, no third-party requests."""

from __future__ import annotations

import gzip
import re
from importlib.resources import files

import pytest

STATIC = files("natoqa").joinpath("static")
#: the issue's budget for everything the widget loads (widget.js + its CSS), gzipped
BUDGET = 30 * 1024


def read(name: str) -> str:
    return STATIC.joinpath(name).read_text(encoding="utf-8")


def test_widget_fits_the_size_budget() -> None:
    size = sum(
        len(gzip.compress(STATIC.joinpath(n).read_bytes(), 9)) for n in ("widget.js", "widget.css")
    )
    assert size <= BUDGET, f"widget.js + widget.css are {size} bytes gzipped (budget {BUDGET})"


@pytest.mark.parametrize(
    "sink",
    ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
     "new Function", "DOMParser", "createContextualFragment", "srcdoc"],
)
def test_widget_never_parses_html(sink: str) -> None:
    """Everything is built with createElement and text nodes; none of these may appear."""
    assert sink not in read("widget.js")


def test_no_third_party_requests() -> None:
    """No fonts, CDNs or trackers: every URL in the widget is relative to the service."""
    for name in ("widget.js", "widget.css", "demo.html"):
        text = read(name)
        urls = re.findall(r"https?://[^\s\"'()<>]+", text)
        # Only the placeholder origin (documentation comment, the demo's CSP for
        # publishers) and the SSE spec link (a comment).
        urls = [u for u in urls if u.rstrip(";") != "https://YOUR-NATOQA"]
        allowed = ("https://YOUR-NATOQA/", "https://html.spec.whatwg.org/")
        assert all(u.startswith(allowed) for u in urls), (name, urls)
        assert "@import" not in text and "url(" not in text.replace("new URL(", ""), name


def test_links_from_sources_are_http_only() -> None:
    """A source's url becomes a link only through safeUrl (no javascript: or data:)."""
    js = read("widget.js")
    assert re.findall(r'"a",\s*\{\s*href:\s*(\w+)', js) == ["url"]
    assert "const url = safeUrl(c.url);" in js
