"""Assembling the clean text from paragraphs, with section and page spans over it."""

from __future__ import annotations

from dataclasses import dataclass

from natoqa.models import PageSpan, SectionSpan

PARAGRAPH_BREAK = "\n\n"


@dataclass(frozen=True)
class Piece:
    """A stretch of a paragraph that lies on one page."""

    text: str
    page: int | None


@dataclass(frozen=True)
class Paragraph:
    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class Heading:
    title: str


Unit = Paragraph | Heading


@dataclass(frozen=True)
class Assembled:
    text: str
    sections: tuple[SectionSpan, ...]
    pages: tuple[PageSpan, ...]


def _spans(starts: list[tuple[int, str]], end: int) -> list[SectionSpan]:
    """Contiguous spans over ``[0, end)``; headings with nothing under them are dropped."""
    starts = [(min(start, end), title) for start, title in starts]
    spans: list[SectionSpan] = []
    for i, (start, title) in enumerate(starts):
        stop = starts[i + 1][0] if i + 1 < len(starts) else end
        if stop > start or (not spans and i == len(starts) - 1):
            spans.append(SectionSpan(title, start, stop))
    return spans


def assemble(units: list[Unit], first_section: str) -> Assembled:
    """Join paragraphs with blank lines; sections run from heading to heading.

    A heading's text is not part of the clean text (it is the section's title),
    so that no passage starts with a line that is not a sentence.
    """
    parts: list[str] = []
    length = 0
    section_starts: list[tuple[int, str]] = [(0, first_section)]
    page_starts: list[tuple[int, int | None]] = []
    for unit in units:
        if isinstance(unit, Heading):
            start = length + (len(PARAGRAPH_BREAK) if parts else 0)
            if section_starts[-1][0] == start:
                section_starts[-1] = (start, unit.title)  # nothing under the previous one
            else:
                section_starts.append((start, unit.title))
            continue
        if parts:
            parts.append(PARAGRAPH_BREAK)
            length += len(PARAGRAPH_BREAK)
        for piece in unit.pieces:
            if not page_starts or page_starts[-1][1] != piece.page:
                page_starts.append((length, piece.page))
            parts.append(piece.text)
            length += len(piece.text)
    text = "".join(parts)
    pages = [
        PageSpan(page, start, page_starts[i + 1][0] if i + 1 < len(page_starts) else len(text))
        for i, (start, page) in enumerate(page_starts)
        if page is not None
    ]
    if pages:  # the first page also holds the text before it (nothing, when it is known)
        pages[0] = PageSpan(pages[0].page, 0, pages[0].end)
    sections = _spans(section_starts, len(text))
    return Assembled(text, tuple(sections), tuple(pages))
