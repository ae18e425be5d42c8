"""Page numbers of body blocks in text that lost its page breaks.

Each run of footnotes ends a page, and a heading listed in the table of
contents starts on the page the contents give. The ToC is the anchor: the
count of footnote runs only carries the page forward between headings, so a
page without footnotes cannot shift the rest of the document.
"""

from __future__ import annotations

from natoqa.ingest.cleaning.blocks import Block
from natoqa.ingest.cleaning.toc import Toc


def infer_pages(body: list[Block], toc: Toc | None) -> list[int | None]:
    """A page per block: kept for paged sources, inferred from the ToC otherwise."""
    if any(b.page is not None for b in body):
        return [b.page for b in body]
    if toc is None:
        return [None] * len(body)
    pages: list[int | None] = []
    page: int | None = None
    for block in body:
        if block.new_page and page is not None:
            page += 1
        entry = toc.match(block.text) if block.heading else None
        if entry is not None:
            page = entry.page
        pages.append(page)
    return pages
