"""The table of contents: finding it, and matching headings against its entries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from natoqa.ingest.cleaning.blocks import Block

_ENTRY = re.compile(r"^(?P<title>\S.*?)[\s.…·_]*?[\t ]+\.*\s*(?P<page>\d{1,4})\s*$")
_TOC_TITLES = frozenset({"inhalt", "inhaltsverzeichnis", "contents", "tableofcontents"})
_TRUNCATED = re.compile(r"(?:\s*(?:\.{2,}|…))+$")


@dataclass(frozen=True)
class TocEntry:
    title: str
    page: int
    truncated: bool = False  # the entry ends in "..." and names the heading's start


@dataclass(frozen=True)
class Toc:
    entries: tuple[TocEntry, ...]
    first: int  # index of the first block holding entries
    last: int  # index of the last one

    def match(self, line: str) -> TocEntry | None:
        """The entry that ``line`` is the heading for, if any."""
        key = heading_key(line)
        if not key:
            return None
        for entry in self.entries:
            target = heading_key(entry.title)
            if key == target or (entry.truncated and key.startswith(target)):
                return entry
        return None


def heading_key(text: str) -> str:
    """Case- and punctuation-insensitive form for comparing headings."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _entry(line: str) -> TocEntry | None:
    match = _ENTRY.match(line.strip())
    if match is None:
        return None
    title = match.group("title").strip()
    cut = _TRUNCATED.search(title)
    if cut:
        title = title[: cut.start()].rstrip()
    if not any(ch.isalpha() for ch in title):
        return None
    return TocEntry(title, int(match.group("page")), truncated=cut is not None)


def _entries(block: Block) -> list[TocEntry] | None:
    """The block's entries when (nearly) all of its lines are entries."""
    lines = [ln for ln in block.text.split("\n") if ln.strip()]
    found = [e for e in (_entry(ln) for ln in lines) if e is not None]
    if not found or len(found) < 0.8 * len(lines):
        return None
    return found


def find_toc(blocks: list[Block]) -> Toc | None:
    """The first run of blocks that reads as a table of contents.

    Three or more ``title … page`` lines with non-decreasing pages, or two
    after a heading such as "Inhalt"; one block or consecutive one-line blocks.
    """
    i = 0
    while i < len(blocks):
        entries = _entries(blocks[i])
        if entries is None:
            i += 1
            continue
        start = i
        while i + 1 < len(blocks) and (more := _entries(blocks[i + 1])) is not None:
            entries.extend(more)
            i += 1
        pages = [e.page for e in entries]
        after_title = start > 0 and heading_key(blocks[start - 1].text) in _TOC_TITLES
        if pages == sorted(pages) and (len(entries) >= 3 or (after_title and len(entries) >= 2)):
            return Toc(tuple(entries), start, i)
        i += 1
    return None
