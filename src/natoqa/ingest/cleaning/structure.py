"""Document structure: a leading date line, headings, and where body and back matter lie."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from natoqa.ingest.cleaning.blocks import Block, ends_sentence
from natoqa.ingest.cleaning.toc import Toc, heading_key

_DATE_LINE = re.compile(r"\A\s*date:?[ \t]+(?P<date>\d{4}-\d{2}(?:-\d{2})?)\b[ \t]*\n?", re.I)
_MD_HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<title>.+?)[ \t#]*$")
_LIST_ITEM = re.compile("^(?:[-*•\u2013➤➔>]|\\d+[.)])\\s")

#: Headings that open the back matter (bibliography, author notes, imprint).
BACKMATTER = frozenset(
    heading_key(t)
    for t in (
        "Literatur",
        "Literaturverzeichnis",
        "Literaturangaben",
        "Quellen",
        "Quellenverzeichnis",
        "Bibliographie",
        "Bibliografie",
        "Verwendete Literatur",
        "Über die Autoren",
        "Über die Autorin",
        "Über den Autor",
        "Über die Autor_innen",
        "Über die Autorinnen und Autoren",
        "Zu den Autoren",
        "Autorinnen und Autoren",
        "Impressum",
        "References",
        "Bibliography",
        "Works cited",
        "About the authors",
        "About the author",
    )
)


def take_date_line(blocks: list[Block]) -> tuple[list[Block], str | None]:
    """Remove a leading ``date YYYY-MM`` line (news exports carry one) and return its date."""
    if not blocks:
        return blocks, None
    match = _DATE_LINE.match(blocks[0].text)
    if match is None:
        return blocks, None
    rest = blocks[0].text[match.end() :].strip()
    head = [replace(blocks[0], text=rest)] if rest else []
    return head + blocks[1:], match.group("date")


def single_line(block: Block) -> str | None:
    text = block.text.strip()
    return None if "\n" in text else text


def looks_like_heading(text: str) -> bool:
    """A short line of its own, no final punctuation, starting with a capital or digit."""
    words = text.split()
    return (
        0 < len(words) <= 12
        and len(text) <= 120
        and not ends_sentence(text)
        and not text.endswith((",", "-"))
        and (text[0].isupper() or text[0].isdigit())
        and not _LIST_ITEM.match(text)
    )


def mark_markdown_headings(blocks: list[Block]) -> list[Block]:
    """``# Title`` blocks become headings of their level, without the hashes."""
    out: list[Block] = []
    for block in blocks:
        line = single_line(block)
        match = _MD_HEADING.match(line) if line else None
        if match:
            out.append(replace(block, text=match.group("title"), heading=len(match["hashes"])))
        else:
            out.append(block)
    return out


def mark_headings(blocks: list[Block], toc: Toc | None) -> list[Block]:
    """Mark section headings.

    With a table of contents, only its entries (and back-matter titles) count,
    which keeps title pages and imprints from becoming sections; without one,
    short lines followed by prose do.
    """
    if any(b.heading for b in blocks):
        return blocks  # Markdown/HTML said where its headings are
    out = list(blocks)
    for i, block in enumerate(blocks):
        line = single_line(block)
        if line is None or not looks_like_heading(line):
            continue
        if toc is not None:
            is_heading = i > toc.last and (
                toc.match(line) is not None or heading_key(line) in BACKMATTER
            )
        else:
            follower = blocks[i + 1].text if i + 1 < len(blocks) else ""
            is_heading = len(follower) > 2 * len(line) and not looks_like_heading(follower)
        if is_heading:
            out[i] = replace(block, heading=2)
    return out


@dataclass(frozen=True)
class Layout:
    """Block ranges: ``[body_start, back_start)`` is searched, the rest is back matter."""

    body_start: int
    back_start: int


def _is_title_part(block: Block, title: str) -> bool:
    key, whole = heading_key(block.text), heading_key(title)
    # Short fragments ("NATO") occur in any title; only substantial parts count.
    return len(block.text) <= 300 and (key == whole or (len(key) >= 12 and key in whole))


def layout(blocks: list[Block], toc: Toc | None, title: str | None) -> Layout:
    """Where the body starts (after title block and contents) and the back matter begins."""
    start = 0
    if toc is not None:
        start = toc.last + 1
        first = next((i for i in range(start, len(blocks)) if blocks[i].heading), None)
        if first is not None:
            start = first
    elif title:
        while start < len(blocks) - 1 and _is_title_part(blocks[start], title):
            start += 1
    back = next(
        (
            i
            for i in range(start + 1, len(blocks))
            if blocks[i].heading and heading_key(blocks[i].text) in BACKMATTER
        ),
        len(blocks),
    )
    return Layout(start, back)
