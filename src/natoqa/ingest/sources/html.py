"""HTML loader: the main article text via trafilatura, as Markdown so headings survive."""

from __future__ import annotations

from pathlib import Path

import trafilatura

from natoqa.errors import SourceError


def load_html(path: Path, data: bytes) -> tuple[str, dict[str, object]]:
    """``(markdown text, metadata)``; navigation, cookie banners and footers are dropped."""
    try:
        text = trafilatura.extract(
            data,
            output_format="markdown",
            include_formatting=True,
            include_comments=False,
            include_tables=True,
            include_links=False,
            include_images=False,
            with_metadata=False,
        )
        found = trafilatura.extract_metadata(data)
    except (ValueError, TypeError) as exc:
        raise SourceError(str(path), f"unreadable HTML: {exc}") from None
    if not text or not text.strip():
        raise SourceError(str(path), "HTML page has no main text")
    meta: dict[str, object] = {}
    if found is not None:
        if found.title:
            meta["title"] = found.title.strip()
        if found.author:
            meta["authors"] = tuple(a.strip() for a in found.author.split(";") if a.strip())
        if found.date:
            meta["date"] = found.date
        if found.url:
            meta["url"] = found.url
        if found.sitename:
            meta["publisher"] = found.sitename
        if found.language:
            meta["language"] = found.language
    return text, meta
